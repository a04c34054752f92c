/* Packet decoding, just deep enough to find the flow: link layer → IP (IPv4 with options
 * and fragments, IPv6 with extension headers, IP-in-IP and GRE decapsulated) → TCP/UDP
 * ports. Every read is bounds-checked against the captured length. */
#include "reader.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define MAX_DEPTH 4 /* nested encapsulations followed */

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int decode_ip(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);
static int decode_ether(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);

static int by_ethertype(uint16_t type, const uint8_t *p, uint32_t len, struct tt_decoded *d,
	int depth)
{
	switch (type) {
	case 0x0800:
	case 0x86dd:
		return decode_ip(p, len, d, depth);
	case 0x6558: /* transparent Ethernet bridging (GRE) */
		return decode_ether(p, len, d, depth + 1);
	default:
		return TT_DEC_NON_IP;
	}
}

static int decode_l4(const uint8_t *l3, uint32_t len, uint32_t off, struct tt_decoded *d)
{
	d->l4_off = (uint16_t)off;
	if (d->proto != 6 && d->proto != 17)
		return TT_DEC_OTHER_IP;
	if (off + 4 > len)
		return TT_DEC_TRUNCATED;
	d->sport = be16(l3 + off);
	d->dport = be16(l3 + off + 2);
	return TT_DEC_FLOW;
}

static int decode_ipv4(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t ihl, total;
	uint16_t frag;

	if (len < 20)
		return TT_DEC_TRUNCATED;
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	total = be16(p + 2);
	if (ihl < 20 || ihl > len)
		return TT_DEC_TRUNCATED;
	if (total == 0) /* segmentation offload: the length field is left at 0 */
		total = len;
	if (total < ihl)
		return TT_DEC_TRUNCATED;
	d->l3 = p;
	d->l3_caplen = len < total ? len : total; /* drop Ethernet padding */
	d->ip_version = 4;
	d->proto = p[9];
	d->src = p + 12;
	d->dst = p + 16;
	d->l4_len = total - ihl;
	frag = be16(p + 6);
	d->frag_id = be16(p + 4);
	d->is_frag_first = false;
	if (frag & 0x1fff)
		return TT_DEC_FRAG;
	if (frag & 0x2000)
		d->is_frag_first = true;
	if (!d->is_frag_first && depth < MAX_DEPTH && (d->proto == 4 || d->proto == 41))
		return decode_ip(p + ihl, d->l3_caplen - ihl, d, depth + 1);
	if (!d->is_frag_first && depth < MAX_DEPTH && d->proto == 47) {
		const uint8_t *g = p + ihl;
		uint32_t glen = d->l3_caplen - ihl, hl = 4;
		uint16_t flags;

		if (glen < 4)
			return TT_DEC_TRUNCATED;
		flags = be16(g);
		if ((flags & 0x7) != 0)
			return TT_DEC_OTHER_IP; /* GRE version 1 (PPTP) carries PPP: not followed */
		hl += (flags & 0x8000 ? 4u : 0u) + (flags & 0x2000 ? 4u : 0u) +
			(flags & 0x1000 ? 4u : 0u);
		if (glen < hl)
			return TT_DEC_TRUNCATED;
		int rc = by_ethertype(be16(g + 2), g + hl, glen - hl, d, depth + 1);

		if (rc == TT_DEC_NON_IP) {
			/* Not IP inside: the GRE packet itself is what we count. */
			decode_ipv4(p, len, d, MAX_DEPTH);
			return TT_DEC_OTHER_IP;
		}
		return rc;
	}
	return decode_l4(p, d->l3_caplen, ihl, d);
}

static int decode_ipv6(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t off = 40, total;
	uint8_t nh;

	if (len < 40)
		return TT_DEC_TRUNCATED;
	total = 40u + be16(p + 4);
	if (total == 40) /* jumbogram or offload */
		total = len;
	d->l3 = p;
	d->l3_caplen = len < total ? len : total;
	d->ip_version = 6;
	d->src = p + 8;
	d->dst = p + 24;
	d->is_frag_first = false;
	nh = p[6];
	for (;;) {
		switch (nh) {
		case 0:   /* hop-by-hop */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			if (off + 8 > d->l3_caplen)
				return TT_DEC_TRUNCATED;
			nh = p[off];
			off += ((uint32_t)p[off + 1] + 1) * 8;
			continue;
		case 51: /* AH */
			if (off + 8 > d->l3_caplen)
				return TT_DEC_TRUNCATED;
			nh = p[off];
			off += ((uint32_t)p[off + 1] + 2) * 4;
			continue;
		case 44: { /* fragment */
			uint16_t fo;

			if (off + 8 > d->l3_caplen)
				return TT_DEC_TRUNCATED;
			nh = p[off];
			fo = be16(p + off + 2);
			d->frag_id = be32(p + off + 4);
			off += 8;
			if (fo & 0xfff8) {
				d->proto = nh;
				d->l4_len = total > off ? total - off : 0;
				return TT_DEC_FRAG;
			}
			if (fo & 1)
				d->is_frag_first = true;
			continue;
		}
		default:
			break;
		}
		break;
	}
	if (off > total)
		return TT_DEC_TRUNCATED;
	d->proto = nh;
	d->l4_len = total - off;
	if (!d->is_frag_first && depth < MAX_DEPTH && (nh == 4 || nh == 41))
		return decode_ip(p + off, d->l3_caplen - off, d, depth + 1);
	return decode_l4(p, d->l3_caplen, off, d);
}

static int decode_ip(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	if (len < 1)
		return TT_DEC_TRUNCATED;
	switch (p[0] >> 4) {
	case 4:
		return decode_ipv4(p, len, d, depth);
	case 6:
		return decode_ipv6(p, len, d, depth);
	default:
		return TT_DEC_NON_IP;
	}
}

static int decode_ether(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t off = 12;
	uint16_t type;

	if (depth > MAX_DEPTH)
		return TT_DEC_NON_IP;
	for (;;) {
		if (off + 2 > len)
			return TT_DEC_TRUNCATED;
		type = be16(p + off);
		off += 2;
		if (type == 0x8100 || type == 0x88a8 || type == 0x9100) { /* 802.1Q, QinQ */
			off += 2;
			continue;
		}
		break;
	}
	if (type < 0x0600) { /* 802.3 length: LLC, maybe SNAP */
		if (off + 8 <= len && p[off] == 0xaa && p[off + 1] == 0xaa && p[off + 2] == 0x03) {
			type = be16(p + off + 6);
			off += 8;
		} else {
			return TT_DEC_NON_IP;
		}
	}
	if (type == 0x8847 || type == 0x8848) { /* MPLS: labels until bottom of stack */
		for (;;) {
			if (off + 4 > len)
				return TT_DEC_TRUNCATED;
			off += 4;
			if (p[off - 2] & 1)
				break;
		}
		if (off >= len)
			return TT_DEC_TRUNCATED;
		return decode_ip(p + off, len - off, d, depth);
	}
	if (type == 0x8864) { /* PPPoE session: 6-byte header, PPP protocol */
		uint16_t ppp;

		if (off + 8 > len)
			return TT_DEC_TRUNCATED;
		ppp = be16(p + off + 6);
		off += 8;
		if (ppp == 0x0021 || ppp == 0x0057)
			return decode_ip(p + off, len - off, d, depth);
		return TT_DEC_NON_IP;
	}
	return by_ethertype(type, p + off, len - off, d, depth);
}

static int decode_ppp(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t off = 0;
	uint16_t proto;

	if (len >= 2 && p[0] == 0xff && p[1] == 0x03)
		off = 2;
	if (off + 1 > len)
		return TT_DEC_TRUNCATED;
	if (p[off] & 1) { /* protocol field compressed to one byte */
		proto = p[off];
		off += 1;
	} else {
		if (off + 2 > len)
			return TT_DEC_TRUNCATED;
		proto = be16(p + off);
		off += 2;
	}
	if (proto == 0x21 || proto == 0x57)
		return decode_ip(p + off, len - off, d, 0);
	return TT_DEC_NON_IP;
}

bool tt_linktype_known(uint32_t linktype)
{
	switch (linktype) {
	case 0:   /* NULL */
	case 1:   /* Ethernet */
	case 9:   /* PPP */
	case 12:  /* raw IP (some BSDs) */
	case 14:  /* raw IP (OpenBSD) */
	case 50:  /* PPP in HDLC framing */
	case 101: /* raw IP */
	case 104: /* Cisco HDLC */
	case 108: /* OpenBSD loopback */
	case 113: /* Linux cooked */
	case 228: /* raw IPv4 */
	case 229: /* raw IPv6 */
	case 276: /* Linux cooked v2 */
		return true;
	default:
		return false;
	}
}

const char *tt_linktype_name(uint32_t linktype)
{
	switch (linktype) {
	case 0:
		return "NULL";
	case 1:
		return "ETHERNET";
	case 9:
		return "PPP";
	case 12:
	case 14:
	case 101:
		return "RAW";
	case 50:
		return "PPP_HDLC";
	case 104:
		return "C_HDLC";
	case 105:
		return "IEEE802_11";
	case 108:
		return "LOOP";
	case 113:
		return "LINUX_SLL";
	case 127:
		return "IEEE802_11_RADIOTAP";
	case 228:
		return "IPV4";
	case 229:
		return "IPV6";
	case 276:
		return "LINUX_SLL2";
	default:
		return "unsupported";
	}
}

int tt_decode(uint32_t linktype, const uint8_t *f, uint32_t len, struct tt_decoded *d)
{
	d->ip_version = 0;
	switch (linktype) {
	case 1:
		return decode_ether(f, len, d, 0);
	case 12:
	case 14:
	case 101:
	case 228:
	case 229:
		return decode_ip(f, len, d, 0);
	case 113:
		if (len < 16)
			return TT_DEC_TRUNCATED;
		return by_ethertype(be16(f + 14), f + 16, len - 16, d, 0);
	case 276:
		if (len < 20)
			return TT_DEC_TRUNCATED;
		return by_ethertype(be16(f), f + 20, len - 20, d, 0);
	case 0:
	case 108: {
		uint32_t fam_le, fam;

		if (len < 4)
			return TT_DEC_TRUNCATED;
		/* NULL: the capturing host's byte order; LOOP: network order. */
		fam_le = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 |
			(uint32_t)f[3] << 24;
		fam = linktype == 108 || fam_le > 0xffff ? be32(f) : fam_le;
		if (fam == 2 || fam == 10 || fam == 24 || fam == 28 || fam == 30)
			return decode_ip(f + 4, len - 4, d, 0);
		return TT_DEC_NON_IP;
	}
	case 9:
	case 50:
		return decode_ppp(f, len, d);
	case 104:
		if (len < 4)
			return TT_DEC_TRUNCATED;
		return by_ethertype(be16(f + 2), f + 4, len - 4, d, 0);
	default:
		return TT_DEC_BAD_LINK;
	}
}

bool tt_flow_key_make(struct tt_flow_key *k, uint8_t ip_version, uint8_t proto,
	const uint8_t *src, const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	size_t alen = ip_version == 6 ? 16 : 4;
	int c = memcmp(src, dst, alen);
	bool src_low = c < 0 || (c == 0 && sport <= dport);

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
