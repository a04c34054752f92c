/* tt-genflows N: a pcap on stdout with N distinct TCP flows of one SYN each, spread over
 * 60 s of capture time (none is idle long enough to expire): the flow table's worst case.
 * From ../shared/reproducers/gen_many_flows.c (foundations issue, item 8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 3000000;
	uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
	uint8_t f[54];

	fwrite(gh, 4, 6, stdout);
	for (unsigned long i = 0; i < n; i++) {
		uint32_t rh[4] = {
		    1715965200 + (uint32_t)(i * 60 / n), (uint32_t)(i % 1000000), 54, 54};
		uint32_t src = 0x0a000000 | (uint32_t)(i / 50000), dst = 0xc0000201;
		uint16_t sport = (uint16_t)(10000 + i % 50000);

		memset(f, 0, sizeof(f));
		memcpy(f, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00", 14);
		f[14] = 0x45;
		f[17] = 40;
		f[20] = 0x40;
		f[22] = 64;
		f[23] = 6;
		f[26] = (uint8_t)(src >> 24);
		f[27] = (uint8_t)(src >> 16);
		f[28] = (uint8_t)(src >> 8);
		f[29] = (uint8_t)src;
		f[30] = (uint8_t)(dst >> 24);
		f[31] = (uint8_t)(dst >> 16);
		f[32] = (uint8_t)(dst >> 8);
		f[33] = (uint8_t)dst;
		f[34] = (uint8_t)(sport >> 8);
		f[35] = (uint8_t)sport;
		f[36] = 443 >> 8;
		f[37] = 443 & 255;
		f[38] = (uint8_t)(i >> 24);
		f[39] = (uint8_t)(i >> 16);
		f[40] = (uint8_t)(i >> 8);
		f[41] = (uint8_t)i;
		f[46] = 0x50;
		f[47] = 0x02;
		f[48] = 0xff;
		f[49] = 0xff;
		fwrite(rh, 4, 4, stdout);
		fwrite(f, 1, sizeof(f), stdout);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
