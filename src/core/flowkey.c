/* The canonical bidirectional flow key and its hash: the reader hashes it to pick a
 * worker, workers key their flow tables with it. */
#include "core.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool tt_flow_key_make(struct tt_flow_key *k, uint8_t ip_version, uint8_t proto, const uint8_t *src,
    const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	size_t alen = ip_version == 6 ? 16 : 4;
	int c;
	bool src_low;

	if (alen == 4) { /* compare as big-endian numbers: no library call on the hot path */
		uint32_t s = be32(src), d = be32(dst);

		c = s < d ? -1 : s > d;
	} else {
		c = memcmp(src, dst, 16);
	}
	src_low = c < 0 || (c == 0 && sport <= dport);
	memset(k, 0, sizeof(*k));
	memcpy(k->a, src_low ? src : dst, alen);
	memcpy(k->b, src_low ? dst : src, alen);
	k->port_a = src_low ? sport : dport;
	k->port_b = src_low ? dport : sport;
	k->proto = proto;
	k->ip_version = ip_version;
	return src_low;
}

uint64_t tt_flow_key_hash(const struct tt_flow_key *k)
{
	return XXH3_64bits(k, sizeof(*k));
}
