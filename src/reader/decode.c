/* Packet decoding, just deep enough to find the flow: link layer → IP (IPv4 with options
 * and fragments, IPv6 with extension headers, IP-in-IP, GRE and ERSPAN decapsulated) →
 * TCP/UDP ports; and, for the caller to apply one level at a time, the UDP tunnels
 * (VXLAN, GENEVE, GTP-U, Teredo, AYIYA, GRE-in-UDP, CAPWAP data).
 *
 * Every read is bounds-checked against the captured length: each function gets a pointer
 * and the number of captured bytes from it, and checks before it reads. Recursion is
 * bounded by MAX_DEPTH (encapsulations) or consumes bytes on every step. */
#include "reader.h"

#include <string.h>

#define MAX_DEPTH 4 /* nested encapsulations followed */

/* decode_80211() options */
#define WLAN_FC_SWAPPED 0x1 /* frame control bytes swapped (Cisco CAPWAP) */
#define WLAN_DATAPAD    0x2 /* header padded to 4 bytes (radiotap flag 0x20) */

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static int decode_ip(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);
static int decode_ether(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);
static int decode_ppp(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);
static int decode_80211(
    const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth, unsigned opts);
static int by_ethertype(
    uint16_t type, const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth);

/* ---- IP and what IP carries ---------------------------------------------------------- */

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

/* ERSPAN (draft-foschiano-erspan-03). Type I has no header of its own: GRE without a
 * sequence number, then the mirrored Ethernet frame. Type II: GRE with a sequence number,
 * an 8-byte header (§4.1, version 1), then Ethernet. */
static int decode_erspan2(
    const uint8_t *p, uint32_t len, bool has_seq, struct tt_decoded *d, int depth)
{
	if (!has_seq)
		return decode_ether(p, len, d, depth);
	if (len < 8)
		return TT_DEC_TRUNCATED;
	if (p[0] >> 4 != 1)
		return TT_DEC_NON_IP;
	return decode_ether(p + 8, len - 8, d, depth);
}

/* ERSPAN type III (§4.2, GRE protocol 0x22EB): a 12-byte header (version 2) whose last
 * 16 bits are P(1) FT(5) HW ID(6) D(1) Gra(2) O(1); O adds an 8-byte platform-specific
 * subheader. Frame type 0 is Ethernet, 2 is IP. */
static int decode_erspan3(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t hl = 12;
	uint16_t w;

	if (len < 12)
		return TT_DEC_TRUNCATED;
	if (p[0] >> 4 != 2)
		return TT_DEC_NON_IP;
	w = be16(p + 10);
	if (w & 1)
		hl += 8;
	if (len < hl)
		return TT_DEC_TRUNCATED;
	switch ((w >> 10) & 0x1f) {
	case 0:
		return decode_ether(p + hl, len - hl, d, depth);
	case 2:
		return decode_ip(p + hl, len - hl, d, depth);
	default:
		return TT_DEC_NON_IP;
	}
}

/* Aruba's GRE protocol types 0x8200..0x8370 (steps of 0x10) and 0x9000 carry 802.11
 * frames between access points and controllers (Wireshark's packet-gre.h list). */
static bool is_aruba_wlan(uint16_t proto)
{
	return proto == 0x9000 || (proto >= 0x8200 && proto <= 0x8370 && (proto & 0xf) == 0);
}

/* GRE: RFC 2784 with RFC 2890's key and sequence number (version 0), or PPTP's enhanced
 * GRE (RFC 2637 §4.1, version 1: key always present, acknowledgment when A is set, PPP
 * inside). Returns the inner result, or TT_DEC_NON_IP when the payload is not followed. */
static int decode_gre(const uint8_t *g, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t hl = 4;
	uint16_t flags, proto;

	if (len < 4)
		return TT_DEC_TRUNCATED;
	flags = be16(g);
	proto = be16(g + 2);
	switch (flags & 0x7) {
	case 0:
		if (flags & 0x4000)
			return TT_DEC_NON_IP; /* RFC 1701 source routing: not followed */
		hl += (flags & 0x8000 ? 4u : 0u) + (flags & 0x2000 ? 4u : 0u) +
		      (flags & 0x1000 ? 4u : 0u);
		break;
	case 1:
		if (proto != 0x880b || !(flags & 0x2000))
			return TT_DEC_NON_IP;
		hl += 4 + (flags & 0x1000 ? 4u : 0u) + (flags & 0x0080 ? 4u : 0u);
		break;
	default:
		return TT_DEC_NON_IP;
	}
	if (len < hl)
		return TT_DEC_TRUNCATED;
	g += hl;
	len -= hl;
	switch (proto) {
	case 0x880b: /* PPP */
		return decode_ppp(g, len, d, depth);
	case 0x88be:
		return decode_erspan2(g, len, (flags & 0x1000) != 0, d, depth);
	case 0x22eb:
		return decode_erspan3(g, len, d, depth);
	default:
		if (is_aruba_wlan(proto))
			return decode_80211(g, len, d, depth, 0);
		return by_ethertype(proto, g, len, d, depth);
	}
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
		int rc = decode_gre(p + ihl, d->l3_caplen - ihl, d, depth + 1);

		if (rc != TT_DEC_NON_IP)
			return rc;
		/* Not IP inside: the GRE packet itself is what we count. */
		return decode_ipv4(p, len, d, MAX_DEPTH);
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
	if (!d->is_frag_first && depth < MAX_DEPTH && (nh == 4 || nh == 41 || nh == 47)) {
		/* The last extension header may claim more than was captured. */
		if (off > d->l3_caplen)
			return TT_DEC_TRUNCATED;
		if (nh != 47)
			return decode_ip(p + off, d->l3_caplen - off, d, depth + 1);
		int rc = decode_gre(p + off, d->l3_caplen - off, d, depth + 1);

		if (rc != TT_DEC_NON_IP)
			return rc;
		/* Not IP inside: the GRE packet itself is what we count. */
		return decode_ipv6(p, len, d, MAX_DEPTH);
	}
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

/* ---- below IP: ethertypes, LLC, Ethernet, PPP, Cisco HDLC ------------------------------ */

/* MPLS label stack (RFC 3032 §2.1): 4-byte entries until the bottom-of-stack bit; what
 * follows is taken as IP when its version nibble says so. */
static int decode_mpls(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t off = 0;

	do {
		if (off + 4 > len)
			return TT_DEC_TRUNCATED;
		off += 4;
	} while (!(p[off - 2] & 1));
	return decode_ip(p + off, len - off, d, depth);
}

/* 802.2 LLC (IEEE 802.2 §3.2) with a SNAP header (RFC 1042): DSAP 0xAA, SSAP 0xAA,
 * control 0x03 (UI), 3-byte OUI, ethertype. Other LLC payloads are not IP for us. */
static int decode_llc(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint16_t type;

	if (len < 3)
		return TT_DEC_TRUNCATED;
	if (p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03)
		return TT_DEC_NON_IP;
	if (len < 8)
		return TT_DEC_TRUNCATED;
	type = be16(p + 6);
	if (type < 0x0600) /* not an ethertype: no LLC inside LLC */
		return TT_DEC_NON_IP;
	return by_ethertype(type, p + 8, len - 8, d, depth);
}

/* Everything that is named by an ethertype: Ethernet, SLL, Cisco HDLC, GRE, SNAP. Tags
 * are skipped in a loop (each consumes bytes); values below 0x0600 are an 802.3 length
 * (or SLL's 0x0004), so LLC follows. */
static int by_ethertype(
    uint16_t type, const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	uint32_t off = 0;

	for (;;) {
		switch (type) {
		case 0x8100: /* 802.1Q: TCI, ethertype */
		case 0x88a8: /* 802.1ad */
		case 0x9100: /* pre-standard QinQ */
			if (off + 4 > len)
				return TT_DEC_TRUNCATED;
			type = be16(p + off + 2);
			off += 4;
			continue;
		case 0x88e7: /* 802.1ah PBB: I-TAG (4), customer DA, SA, ethertype */
			if (off + 18 > len)
				return TT_DEC_TRUNCATED;
			type = be16(p + off + 16);
			off += 18;
			continue;
		default:
			break;
		}
		break;
	}
	p += off;
	len -= off;
	if (type < 0x0600)
		return decode_llc(p, len, d, depth);
	switch (type) {
	case 0x0800:
	case 0x86dd:
		return decode_ip(p, len, d, depth);
	case 0x6558: /* transparent Ethernet bridging (GRE, GENEVE) */
		return decode_ether(p, len, d, depth + 1);
	case 0x8847: /* MPLS unicast */
	case 0x8848: /* MPLS multicast */
		return decode_mpls(p, len, d, depth);
	case 0x8864: /* PPPoE session (RFC 2516 §4): 6-byte header, then PPP protocol */
		if (len < 6)
			return TT_DEC_TRUNCATED;
		return decode_ppp(p + 6, len - 6, d, depth);
	default:
		return TT_DEC_NON_IP;
	}
}

static int decode_ether(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	if (depth > MAX_DEPTH)
		return TT_DEC_NON_IP;
	if (len < 14)
		return TT_DEC_TRUNCATED;
	return by_ethertype(be16(p + 12), p + 14, len - 14, d, depth);
}

/* Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control 0, ethertype. */
static int decode_chdlc(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
{
	if (len < 4)
		return TT_DEC_TRUNCATED;
	return by_ethertype(be16(p + 2), p + 4, len - 4, d, depth);
}

/* PPP (RFC 1661 §2, RFC 1662 §3.1): optional 0xFF 0x03 address and control, then the
 * protocol, 1 byte when compressed (odd), else 2. */
static int decode_ppp(const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth)
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
	switch (proto) {
	case 0x0021: /* IPv4 */
	case 0x0057: /* IPv6 */
		return decode_ip(p + off, len - off, d, depth);
	case 0x0281: /* MPLS unicast */
	case 0x0283: /* MPLS multicast */
		return decode_mpls(p + off, len - off, d, depth);
	default:
		return TT_DEC_NON_IP;
	}
}

/* LINKTYPE_PPP and LINKTYPE_PPP_HDLC may hold Cisco HDLC frames instead (libpcap's
 * pcap-linktype(7)); their address byte 0x0F/0x8F is not a valid PPP start. */
static int decode_ppp_link(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	if (len >= 1 && (p[0] == 0x0f || p[0] == 0x8f))
		return decode_chdlc(p, len, d, 0);
	return decode_ppp(p, len, d, 0);
}

/* ---- other link types ------------------------------------------------------------------ */

/* NULL (host byte order) and LOOP (network order): a 4-byte address family. */
static int decode_null(const uint8_t *p, uint32_t len, bool is_loop, struct tt_decoded *d)
{
	uint32_t fam;

	if (len < 4)
		return TT_DEC_TRUNCATED;
	fam = le32(p);
	if (is_loop || fam > 0xffff)
		fam = be32(p);
	/* AF_INET, and AF_INET6 as Linux, the BSDs and Darwin number it */
	if (fam == 2 || fam == 10 || fam == 24 || fam == 28 || fam == 30)
		return decode_ip(p + 4, len - 4, d, 0);
	return TT_DEC_NON_IP;
}

/* FDDI (LINKTYPE_FDDI): frame control, destination and source addresses (13 bytes), then
 * 802.2 LLC. Only LLC frames (frame control bits FF = 01, ANSI X3.139) carry data. */
static int decode_fddi(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	if (len < 13)
		return TT_DEC_TRUNCATED;
	if ((p[0] & 0x30) != 0x10)
		return TT_DEC_NON_IP;
	return decode_llc(p + 13, len - 13, d, 0);
}

/* IEEE 802.11 data frames (802.11-2020 §9.2.4, §9.3.2.1): frame control (2), duration (2),
 * addresses 1-3 (18), sequence control (2), address 4 when ToDS and FromDS, QoS control
 * (2) in QoS subtypes, HT control (4) when a QoS frame has +HTC/Order set; then LLC/SNAP,
 * or A-MSDU subframes (DA, SA, length, LLC) of which the first is decoded. Protected
 * frames are encrypted and null-function subtypes have no body: not IP for us. */
static int decode_80211(
    const uint8_t *p, uint32_t len, struct tt_decoded *d, int depth, unsigned opts)
{
	uint32_t off = 24;
	uint8_t fc0, fc1;
	bool is_amsdu = false;

	if (len < 2)
		return TT_DEC_TRUNCATED;
	fc0 = opts & WLAN_FC_SWAPPED ? p[1] : p[0];
	fc1 = opts & WLAN_FC_SWAPPED ? p[0] : p[1];
	if ((fc0 & 0x0f) != 0x08) /* protocol version 0, type 2 (data) */
		return TT_DEC_NON_IP;
	if (fc0 & 0x40) /* subtypes 4-7, 12-15: no data */
		return TT_DEC_NON_IP;
	if (fc1 & 0x40) /* Protected Frame */
		return TT_DEC_NON_IP;
	if ((fc1 & 0x03) == 0x03) /* ToDS and FromDS: address 4 */
		off += 6;
	if (fc0 & 0x80) { /* QoS subtypes */
		if (off + 2 > len)
			return TT_DEC_TRUNCATED;
		is_amsdu = (p[off] & 0x80) != 0;
		off += 2;
		if (fc1 & 0x80)
			off += 4;
	}
	if (opts & WLAN_DATAPAD)
		off = (off + 3) & ~3u;
	if (off > len)
		return TT_DEC_TRUNCATED;
	if (is_amsdu) {
		if (off + 14 > len)
			return TT_DEC_TRUNCATED;
		len = min_u32(len, off + 14 + be16(p + off + 12));
		off += 14;
	}
	return decode_llc(p + off, len - off, d, depth);
}

/* The IEEE802_11_RADIOTAP pseudo-header (radiotap.org): version 0, pad, it_len (LE),
 * it_present words (bit 31: another word follows), then fields in bit order, each
 * aligned to its size from the start of the header. We need only Flags (bit 1), after
 * TSFT (bit 0, 8 bytes): 0x10 means 4 bytes of FCS end the frame, 0x20 that the 802.11
 * header is padded to 4 bytes. */
static int decode_radiotap(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t it_len, present, w, off = 8;
	uint8_t flags = 0;
	unsigned opts = 0;

	if (len < 8)
		return TT_DEC_TRUNCATED;
	if (p[0] != 0)
		return TT_DEC_NON_IP;
	it_len = le16(p + 2);
	if (it_len < 8 || it_len > len)
		return TT_DEC_TRUNCATED;
	present = le32(p + 4);
	for (w = present; w & 0x80000000u; off += 4) {
		if (off + 4 > it_len)
			return TT_DEC_TRUNCATED;
		w = le32(p + off);
	}
	if (present & 0x1)
		off = ((off + 7) & ~7u) + 8;
	if (present & 0x2) {
		if (off + 1 > it_len)
			return TT_DEC_TRUNCATED;
		flags = p[off];
	}
	if (flags & 0x10) {
		if (len - it_len < 4)
			return TT_DEC_TRUNCATED;
		len -= 4;
	}
	if (flags & 0x20)
		opts |= WLAN_DATAPAD;
	return decode_80211(p + it_len, len - it_len, d, 0, opts);
}

/* PPI (Per-Packet Information, CACE Technologies spec 1.0.10 §3): version 0, flags,
 * pph_len (LE), pph_dlt (LE), then fields {type, length (LE)} up to pph_len, then a frame
 * of link type pph_dlt. Field 2 (802.11-Common) has flags at byte 8, bit 0 meaning the
 * frame ends with an FCS. Fields are padded to 4 bytes when pph_flags bit 0 is set. */
static int decode_ppi(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t pph_len, dlt, off = 8;

	if (len < 8)
		return TT_DEC_TRUNCATED;
	if (p[0] != 0)
		return TT_DEC_NON_IP;
	pph_len = le16(p + 2);
	dlt = le32(p + 4);
	if (pph_len < 8 || pph_len > len)
		return TT_DEC_TRUNCATED;
	while (off + 4 <= pph_len) {
		uint32_t type = le16(p + off), flen = le16(p + off + 2);

		if (type == 2 && flen >= 10 && off + 4 + 10 <= pph_len &&
		    (le16(p + off + 4 + 8) & 1)) {
			if (len - pph_len < 4)
				return TT_DEC_TRUNCATED;
			len -= 4;
		}
		off += 4 + flen;
		if (p[1] & 1)
			off = (off + 3) & ~3u;
	}
	if (dlt == 192) /* PPI inside PPI: not a real capture */
		return TT_DEC_BAD_LINK;
	return tt_decode(dlt, p + pph_len, len - pph_len, d);
}

/* NFLOG (LINKTYPE_NFLOG, tcpdump.org/linktypes/LINKTYPE_NFLOG.html): family, version 0,
 * resource id (BE), then TLVs {length, type} in the byte order of the capturing host,
 * the length counting the 4-byte TLV header, each TLV padded to 4 bytes. NFULA_PAYLOAD
 * (type 9) holds the packet from its network header on. The byte order is not passed
 * to us, so it is taken from the first TLV, whose type is below 0x100 in the right order
 * (Wireshark's former heuristic). The top bits of the type are netlink flags. */
static bool is_nflog_type(uint16_t type)
{
	type &= 0x7fff;
	return type >= 1 && type <= 0xff;
}

static int decode_nflog(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint16_t (*rd16)(const uint8_t *);
	uint32_t off = 4;

	if (len < 4)
		return TT_DEC_TRUNCATED;
	if (p[1] != 0)
		return TT_DEC_NON_IP;
	if (len < 8)
		return TT_DEC_NON_IP; /* no TLV: nothing was copied */
	if (is_nflog_type(le16(p + 6)))
		rd16 = le16;
	else if (is_nflog_type(be16(p + 6)))
		rd16 = be16;
	else
		return TT_DEC_TRUNCATED; /* malformed */
	while (off + 4 <= len) {
		uint32_t tlv_len = rd16(p + off), type = rd16(p + off + 2) & 0x7fffu;

		if (tlv_len < 4)
			return TT_DEC_TRUNCATED; /* malformed */
		/* NFULA_PAYLOAD; the snap length may have cut it */
		if (type == 9)
			return decode_ip(p + off + 4, min_u32(tlv_len, len - off) - 4, d, 0);
		off += (tlv_len + 3) & ~3u;
	}
	return TT_DEC_NON_IP;
}

/* ---- link type table ------------------------------------------------------------------- */

bool tt_linktype_known(uint32_t linktype)
{
	switch (linktype) {
	case 0:   /* NULL */
	case 1:   /* Ethernet */
	case 9:   /* PPP (or Cisco HDLC framing) */
	case 10:  /* FDDI */
	case 12:  /* raw IP (some BSDs) */
	case 14:  /* raw IP (OpenBSD) */
	case 50:  /* PPP in HDLC framing (or Cisco HDLC) */
	case 101: /* raw IP */
	case 104: /* Cisco HDLC */
	case 105: /* IEEE 802.11 */
	case 108: /* OpenBSD loopback */
	case 113: /* Linux cooked */
	case 127: /* 802.11 with radiotap */
	case 192: /* PPI */
	case 228: /* raw IPv4 */
	case 229: /* raw IPv6 */
	case 239: /* NFLOG */
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
	case 10:
		return "FDDI";
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
	case 192:
		return "PPI";
	case 228:
		return "IPV4";
	case 229:
		return "IPV6";
	case 239:
		return "NFLOG";
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
	case 0:
	case 108:
		return decode_null(f, len, linktype == 108, d);
	case 1:
		return decode_ether(f, len, d, 0);
	case 9:
	case 50:
		return decode_ppp_link(f, len, d);
	case 10:
		return decode_fddi(f, len, d);
	case 12:
	case 14:
	case 101:
	case 228:
	case 229:
		return decode_ip(f, len, d, 0);
	case 104:
		return decode_chdlc(f, len, d, 0);
	case 105:
		return decode_80211(f, len, d, 0, 0);
	case 113: /* SLL: 14-byte header, then the protocol */
		if (len < 16)
			return TT_DEC_TRUNCATED;
		return by_ethertype(be16(f + 14), f + 16, len - 16, d, 0);
	case 127:
		return decode_radiotap(f, len, d);
	case 192:
		return decode_ppi(f, len, d);
	case 239:
		return decode_nflog(f, len, d);
	case 276: /* SLL2: the protocol first, 20-byte header */
		if (len < 20)
			return TT_DEC_TRUNCATED;
		return by_ethertype(be16(f), f + 20, len - 20, d, 0);
	default:
		return TT_DEC_BAD_LINK;
	}
}

/* ---- UDP tunnels ------------------------------------------------------------------------ */

/* Each gets the UDP payload and returns an enum tt_dec for the inner packet, or -1 when
 * the payload is not a tunnelled packet (failed checks, or tunnel signalling). */

/* VXLAN (RFC 7348 §5): flags (I = 0x08 must be set), 3 reserved, VNI (3), 1 reserved;
 * then an Ethernet frame. */
static int decode_vxlan(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	if (len < 8)
		return len > 0 && (p[0] & 0x08) ? TT_DEC_TRUNCATED : -1;
	if (!(p[0] & 0x08))
		return -1;
	return decode_ether(p + 8, len - 8, d, 0);
}

/* GENEVE (RFC 8926 §3.4): Ver(2) Opt Len(6) in 4-byte units, O C Rsvd, protocol type,
 * VNI, reserved; then the options; then a frame of the protocol type (0x6558 Ethernet,
 * or an ethertype such as IPv4/IPv6). */
static int decode_geneve(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t hl;

	if (len < 1 || p[0] >> 6 != 0)
		return -1;
	if (len < 8)
		return TT_DEC_TRUNCATED;
	hl = 8 + (uint32_t)(p[0] & 0x3f) * 4;
	if (len < hl)
		return TT_DEC_TRUNCATED;
	return by_ethertype(be16(p + 2), p + hl, len - hl, d, 0);
}

/* GTP-U version 1 (3GPP TS 29.281 §5.1): flags Ver(3)=1 PT(1)=1 E S PN, message type,
 * length (of what follows the first 8 bytes), TEID; 4 more bytes (sequence, N-PDU,
 * next extension type) when any of E, S, PN is set; extension headers (§5.2: length
 * in 4-byte units, content, next type) while the next type is not 0. Only a T-PDU
 * (type 0xFF) carries a packet; it is IPv4 or IPv6 (PPP PDP contexts are not IP). */
static int decode_gtpu(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t off = 8, end;
	uint8_t next;

	if (len < 2 || (p[0] & 0xf0) != 0x30 || p[1] != 0xff)
		return -1;
	if (len < 8)
		return TT_DEC_TRUNCATED;
	end = min_u32(len, 8u + be16(p + 2));
	if (p[0] & 0x07) {
		if (end < 12)
			return TT_DEC_TRUNCATED;
		off = 12;
		for (next = p[0] & 0x04 ? p[11] : 0; next != 0; next = p[off - 1]) {
			uint32_t elen;

			if (off + 1 > end)
				return TT_DEC_TRUNCATED;
			elen = (uint32_t)p[off] * 4;
			if (elen == 0 || off + elen > end)
				return TT_DEC_TRUNCATED;
			off += elen;
		}
	}
	return decode_ip(p + off, end - off, d, 0);
}

/* Teredo (RFC 4380 §5.1.1): an optional authentication indicator (0x0001, ID-len,
 * AU-len, client id, authentication value, 8-byte nonce, confirmation byte), an optional
 * origin indication (0x0000, port, address: 8 bytes), then an IPv6 packet. */
static int decode_teredo(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t off = 0;

	if (len >= 4 && be16(p) == 0x0001)
		off = 13u + p[2] + p[3];
	if (off + 2 <= len && be16(p + off) == 0x0000)
		off += 8;
	if (off >= len || p[off] >> 4 != 6)
		return -1;
	return decode_ipv6(p + off, len - off, d, 0);
}

/* AYIYA (draft-massar-v6ops-ayiya-02 §5): ID len (4 bits, the identity is 2^n bytes) and
 * ID type, signature length (4 bits, in 4-byte words) and hash method, auth method and
 * opcode, next header, 4-byte epoch, identity, signature; opcode 1 (forward) carries a
 * packet of IP protocol next header (4 or 41). */
static int decode_ayiya(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t hl;

	if (len < 8)
		return -1;
	if ((p[2] & 0x0f) != 1 || (p[3] != 4 && p[3] != 41))
		return -1;
	hl = 8 + (1u << (p[0] >> 4)) + (uint32_t)(p[1] >> 4) * 4;
	if (len < hl)
		return TT_DEC_TRUNCATED;
	if (len > hl && p[hl] >> 4 != (p[3] == 4 ? 4 : 6))
		return TT_DEC_NON_IP;
	return decode_ip(p + hl, len - hl, d, 0);
}

/* GRE-in-UDP (RFC 8086 §3): a GRE header (version 0) then its payload. */
static int decode_gre_udp(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	if (len < 4 || (be16(p) & 0x7) != 0)
		return -1;
	return decode_gre(p, len, d, 0);
}

static bool is_wlan_data_fc(uint8_t fc0)
{
	return (fc0 & 0x0f) == 0x08;
}

/* CAPWAP data channel (RFC 5415 §4.3): preamble (version 0, type 0; type 1 is DTLS), then
 * HLEN(5) in 4-byte words counting the whole header, RID(5), WBID(5), T F L W M K
 * Flags(3), fragment id, fragment offset(13). K is a keep-alive with no frame. T = 0: an
 * 802.3 frame; T = 1: the binding's native frame, 802.11 for WBID 1 (RFC 5416 §3).
 * Cisco sends 802.11 frame control bytes swapped, and Wireshark swaps them by default:
 * we do when the swapped byte is a data frame control byte. */
static int decode_capwap(const uint8_t *p, uint32_t len, struct tt_decoded *d)
{
	uint32_t w, hl;

	if (len < 8 || p[0] != 0)
		return -1;
	w = be32(p);
	hl = ((w >> 19) & 0x1f) * 4;
	if (hl < 8 || (w & 0x08))
		return -1;
	if (len < hl)
		return TT_DEC_TRUNCATED;
	if ((w & 0x80) && (be16(p + 6) >> 3) != 0)
		return TT_DEC_NON_IP; /* a later fragment of the frame */
	p += hl;
	len -= hl;
	if (!(w & 0x100))
		return decode_ether(p, len, d, 0);
	if (((w >> 9) & 0x1f) != 1)
		return TT_DEC_NON_IP;
	if (len >= 2 && is_wlan_data_fc(p[1]))
		return decode_80211(p, len, d, 0, WLAN_FC_SWAPPED);
	return decode_80211(p, len, d, 0, 0);
}

static const struct tunnel {
	uint16_t port;
	bool is_either_port; /* else the destination port only */
	int (*decode)(const uint8_t *p, uint32_t len, struct tt_decoded *d);
} tunnels[] = {
    {4789, false, decode_vxlan},
    {6081, false, decode_geneve},
    {2152, true, decode_gtpu},
    {3544, true, decode_teredo},
    {5072, true, decode_ayiya},
    {4754, false, decode_gre_udp},
    {5247, true, decode_capwap},
};

int tt_decode_tunnel(const struct tt_decoded *outer, struct tt_decoded *inner)
{
	uint16_t sport = outer->sport, dport = outer->dport;
	const uint8_t *udp;
	uint32_t len, ulen;

	if (outer->proto != 17 || outer->l3 == NULL || outer->l4_off + 8u > outer->l3_caplen)
		return -1;
	udp = outer->l3 + outer->l4_off;
	/* The payload ends at the captured bytes, the IP length (both in l3_caplen) and
	 * the UDP length. */
	len = outer->l3_caplen - outer->l4_off - 8u;
	ulen = be16(udp + 4);
	if (ulen >= 8)
		len = min_u32(len, ulen - 8u);
	udp += 8;
	for (size_t i = 0; i < sizeof(tunnels) / sizeof(tunnels[0]); i++) {
		const struct tunnel *t = &tunnels[i];
		struct tt_decoded tmp = {.ip_version = 0};
		int rc;

		if (dport != t->port && !(t->is_either_port && sport == t->port))
			continue;
		/* Decoded aside, so that inner is untouched on -1 and may be outer. */
		rc = t->decode(udp, len, &tmp);
		if (rc >= 0) {
			*inner = tmp;
			return rc;
		}
	}
	return -1;
}
