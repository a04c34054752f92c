/* libFuzzer harness for the relay cache loader and the lookups: the input is a cache
 * image. The harness first fixes up what is a mere digest or length (the XXH3-64
 * checksum of the body and the total length in the header), so the fuzzer reaches the
 * structural checks instead of stopping at the checksum, as anyone editing a cache can:
 * XXH3 is not a MAC. When the image loads, a few lookups (IPv4 and IPv6, ports 0, 9001
 * and 443, any time and times inside the indexed span) and every accessor run on it.
 * Built with -Dfuzz=true and clang; seed it with real caches (`tortrace relays info
 * --relays DIR --cache FILE`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "../../src/relays/relays.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* TTRELAYS v2 header: total_bytes at 24, checksum at 32, sect[i] = (off, count) at 104,
 * 232 bytes in all; the intervals (section 3) are 56-byte records with the address at 0,
 * from_ns at 16, port at 48 and ip_version at 50. */
#define HDR_BYTES    232
#define TOTAL_OFF    24
#define CHECKSUM_OFF 32
#define SECT_OFF     104
#define SECT_IVALS   3
#define IVAL_BYTES   56

/* Every address the image lists must be found (attach checked that each address run has
 * a slot on its probe chain): look up a few of them, with their own port and time. */
static void listed_lookups(const struct tt_relays *idx, const uint8_t *img)
{
	uint64_t off, n;
	struct tt_relay_match m[4];

	memcpy(&off, img + SECT_OFF + 16 * SECT_IVALS, 8);
	memcpy(&n, img + SECT_OFF + 16 * SECT_IVALS + 8, 8);
	for (uint64_t k = 0; k < 8 && k < n; k++) {
		const uint8_t *r = img + off + IVAL_BYTES * (k * n / 8);
		uint64_t from;
		uint16_t port;

		memcpy(&from, r + 16, 8);
		memcpy(&port, r + 48, 2);
		if (tt_relays_lookup(idx, r, r[50], 0, 0, m, 4) == 0)
			abort();
		if (tt_relays_lookup(idx, r, r[50], port, from, m, 4) == 0)
			abort();
	}
}

static void lookups(const struct tt_relays *idx, const struct tt_relays_info *in)
{
	static const uint8_t v4[][16] = {
	    {192, 0, 2, 1}, {198, 51, 100, 7}, {0}, {255, 255, 255, 255}};
	static const uint8_t v6[][16] = {
	    {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, {[15] = 1}, {0xff, 0xff, 0xff, 0xff}};
	static const uint16_t ports[] = {0, 9001, 443};
	uint64_t mid = in->earliest_ns / 2 + in->latest_ns / 2;
	const uint64_t times[] = {0, in->earliest_ns, mid, in->latest_ns};
	struct tt_relay_match m[8];

	for (size_t p = 0; p < 3; p++)
		for (size_t t = 0; t < 4; t++) {
			for (size_t a = 0; a < 4; a++)
				if (tt_relays_lookup(idx, v4[a], 4, ports[p], times[t], m, 8) > 0 &&
				    m[0].ip_version != 4)
					abort();
			for (size_t a = 0; a < 3; a++)
				if (tt_relays_lookup(idx, v6[a], 6, ports[p], times[t], m, 8) > 0 &&
				    m[0].ip_version != 6)
					abort();
			tt_relays_lookup_range(
			    idx, v4[0], 4, ports[p], times[t], times[t] + TT_RELAYS_DAY_NS, m, 8);
		}
	/* The document list, which lookups' first_doc/last_doc index. */
	for (size_t i = 0; i < tt_relays_n_docs(idx) && i < 4; i++) {
		struct tt_relays_doc d;

		if (tt_relays_doc(idx, i, &d) != 0 || strlen(d.path) > (1u << 30))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tt_relays *idx = NULL;
	struct tt_relays_info in;
	uint8_t *img;
	uint64_t v;

	if (size < HDR_BYTES)
		return 0;
	img = malloc(size);
	if (!img)
		return 0;
	memcpy(img, data, size);
	v = size;
	memcpy(img + TOTAL_OFF, &v, 8);
	v = XXH3_64bits(img + HDR_BYTES, size - HDR_BYTES);
	memcpy(img + CHECKSUM_OFF, &v, 8);
	if (tt_relays_load_mem(img, size, &idx) == 0) {
		tt_relays_get_info(idx, &in);
		lookups(idx, &in);
		listed_lookups(idx, img);
		(void)tt_relays_digest(idx);
		if (tt_relays_is_empty(idx)) {
			char why[256];

			tt_relays_describe_empty(idx, why, sizeof(why));
		}
		for (size_t i = 0; i < tt_relays_n_errors(idx); i++)
			if (strlen(tt_relays_error(idx, i)) > (1u << 30))
				abort();
		if (tt_relays_error(idx, tt_relays_n_errors(idx)) != NULL)
			abort();
		tt_relays_free(idx);
	}
	free(img);
	return 0;
}
