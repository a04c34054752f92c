/* bench_record: the worker's per-flow cost of encoding a record (tt_record_encode), on a
 * mix of plain, TLS and relay-matched records, against a same-run baseline that only
 * copies as many bytes (CONVENTIONS.md §9). usage: bench_record [N] (default 1000000). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tortrace/record.h"
#include "core.h" /* the record codec */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
	static uint8_t buf[4][TT_RECORD_MAX_BYTES];
	struct tt_flow_record r[4];
	struct tt_flow_tls tls = {.version = 0x0303,
	    .cipher = 0xc02f,
	    .ch_traits = 63,
	    .n_records = 12,
	    .cell_app = {3, 4},
	    .has_ch = true,
	    .has_sh = true,
	    .has_cert = true};
	struct tt_flow_relay relay = {.from_ns = 1795702800000000000ull,
	    .to_ns = 1795706400000000000ull,
	    .flags = 0x1ff,
	    .port = 9001,
	    .kind = 1};
	uint64_t sum = 0;
	size_t lens[4];
	double t0, t1, t2;

	strcpy(tls.sni, "www.example.com");
	strcpy(tls.ja3, "5e6627dc19afa982e6b46b97808cb718");
	strcpy(tls.ja4, "t13d181100_796efca44d18_d41ae481755e");
	strcpy(relay.fingerprint, "0123456789ABCDEF0123456789ABCDEF01234567");
	strcpy(relay.nickname, "relay1");
	for (int i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].ip_version = i == 3 ? 6 : 4;
		r[i].proto = i == 2 ? 17 : 6;
		memset(r[i].src_ip, 10 + i, 16);
		memset(r[i].dst_ip, 20 + i, 16);
		r[i].src_port = (uint16_t)(40000 + i);
		r[i].dst_port = 443;
		r[i].first_ts_ns = 1795702867196030000ull + (uint64_t)i;
		r[i].last_ts_ns = r[i].first_ts_ns + 56280835000ull;
		r[i].pkts[0] = 1120;
		r[i].pkts[1] = 4774;
		r[i].bytes[0] = 339428;
		r[i].bytes[1] = 6652327;
		r[i].payload_bytes[0] = 265500;
		r[i].payload_bytes[1] = 6337235;
		r[i].tcp_flags[0] = 0x1b;
		r[i].tcp_flags[1] = 0x1b;
		r[i].app[0] = r[i].app[1] = TT_APP_TLS;
		r[i].flags = TT_FLOW_SYN_SEEN;
		r[i].score = 0.25f * (float)i;
		r[i].verdict = (uint8_t)(i & 1);
		r[i].evidence = 5u * (unsigned)i;
	}
	r[1].tls = &tls;
	r[3].tls = &tls;
	r[3].relay = &relay;
	for (int i = 0; i < 4; i++)
		lens[i] = tt_record_encode(&r[i], buf[i]);

	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		r[i & 3].n_frags = i; /* the compiler cannot hoist the encoding */
		sum += tt_record_encode(&r[i & 3], buf[i & 3]);
		sum += buf[i & 3][7];
	}
	t1 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		buf[i & 3][9] = (uint8_t)i;
		memcpy(buf[(i + 1) & 3], buf[i & 3], lens[i & 3]);
		sum += buf[(i + 1) & 3][7];
	}
	t2 = now_s();
	printf("record_encode: %lu items in %.3f s = %.2f M/s (%.1f ns/record)\n", n, t1 - t0,
	    (double)n / (t1 - t0) / 1e6, (t1 - t0) * 1e9 / (double)n);
	printf(
	    "baseline memcpy of the same bytes: %lu items in %.3f s = %.2f M/s (%.1f ns/record)\n",
	    n, t2 - t1, (double)n / (t2 - t1) / 1e6, (t2 - t1) * 1e9 / (double)n);
	printf("(checksum %" PRIu64 ", sizes %zu %zu %zu %zu)\n", sum, lens[0], lens[1], lens[2],
	    lens[3]);
	return 0;
}
