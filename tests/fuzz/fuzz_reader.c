/* libFuzzer harness for the capture reader and the packet decoder: any bytes are read as
 * a capture (pcap or pcapng), and every frame is decoded and keyed as the reader does.
 * Built with -Dfuzz=true and clang; .ci/run runs it for a bounded time, seeded from the
 * corpus. */
#include <stddef.h>
#include <stdint.h>

#include "../../src/reader/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void release(void *ctx, struct tt_chunk *c)
{
	(void)ctx;
	tt_chunk_put(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tt_source s;
	struct tt_capture c;
	struct tt_frame f;
	unsigned n = 0;

	if (tt_source_open_mem(&s, data, size, release, NULL) < 0)
		return 0;
	if (tt_capture_open(&c, &s) == 0) {
		while (n++ < 100000 && tt_capture_next(&c, &s, &f) == 1) {
			struct tt_decoded d;
			struct tt_flow_key k;
			int rc = tt_decode(f.linktype, f.data, f.caplen, &d);

			if (rc == TT_DEC_FLOW) {
				tt_flow_key_make(
				    &k, d.ip_version, d.proto, d.src, d.dst, d.sport, d.dport);
				(void)tt_flow_key_hash(&k);
				/* The worker reads up to l4_off + 14 and the payload within caplen.
				 */
				if (d.l4_off + 14u <= d.l3_caplen)
					n += d.l3[d.l4_off + 13] & 1;
			}
		}
	}
	tt_capture_close(&c);
	tt_source_close(&s);
	return 0;
}
