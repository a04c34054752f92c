/* The UDP inspector: what a flow's datagrams say of WebRTC (Snowflake's transport;
 * docs/research/transports-2026-12-01.md §1).
 *
 * Each datagram is sorted by its first byte as RFC 7983 demultiplexes a WebRTC 5-tuple:
 * 0-3 STUN, 20-63 DTLS, 128-191 RTP/RTCP. Only the first bytes are read: a STUN message's
 * attribute headers (USERNAME for the ICE ufrag pair), the DTLS record headers of the
 * datagram, and the body of an unfragmented DTLS ClientHello or ServerHello (tls.c's
 * parsers). After a hello, DTLS application-data records and RTP datagrams are counted:
 * a data channel (Snowflake) carries everything as DTLS application data, a call sends
 * its media as SRTP beside DTLS. The lengths of the DTLS server's application-data
 * records are tested for the quantum Tor's TLS records leave through Snowflake's
 * framing (research §1.4: 624 or 648 + 512 k). Everything lands in the record (TT_WRTC_*,
 * dtls_app, rtp, ice, up_big, up_quantum); the evidence items S1-S5 and S- are judged
 * from it in score.c. Per-flow
 * state only, so the result does not depend on which worker sees the flow. */
#include "workers.h"

#include <string.h>

#include "tls.h"

enum {
	STUN_HDR = 20,
	DTLS_HDR = 13,    /* type, version, epoch, sequence number (6), length */
	DTLS_HS_HDR = 12, /* type, length (3), message_seq, fragment offset (3), length (3) */
	MAX_RECORDS = 16, /* DTLS records read per datagram */
	MAX_ATTRS = 16,   /* STUN attributes read per message */
};

/* pion/dtls's hellos as Debian's snowflake-client and snowflake-proxy 2.x send them
 * (corpus transports/snowflake-s1, 2026; research §1.3). The ClientHello is exact (suites,
 * extensions and groups in order): it changes with pion versions, so this is a dated
 * entry. The ServerHello is keyed on its extension order only, which pion's flight
 * handler writes the same way whatever the client offered: renegotiation_info,
 * extended_master_secret, use_srtp, ec_point_formats, and no supported_groups. */
static const uint16_t pion_ch_suites[] = {0xc02b, 0xc02f, 0xc00a, 0xc014, 0xc02c, 0xc030};
static const uint16_t pion_ch_exts[] = {13, 65281, 10, 11, 14, 23};
static const uint16_t pion_ch_groups[] = {29, 23, 24};
static const uint16_t pion_sh_exts[] = {65281, 23, 14, 11};

static bool same_list(const uint16_t *a, unsigned n, const uint16_t *want, unsigned n_want)
{
	return n == n_want && memcmp(a, want, n * sizeof(*a)) == 0;
}

#define SAME(a, n, want) same_list(a, n, want, (unsigned)(sizeof(want) / sizeof(want[0])))

bool tt_webrtc_is_pion_client_hello(const struct tt_tls_client_hello *ch)
{
	return ch->legacy_version == 0xfefd && !ch->is_truncated &&
	       SAME(ch->ciphers, ch->n_ciphers, pion_ch_suites) &&
	       SAME(ch->exts, ch->n_exts, pion_ch_exts) &&
	       SAME(ch->groups, ch->n_groups, pion_ch_groups);
}

bool tt_webrtc_is_pion_server_hello(const struct tt_tls_server_hello *sh)
{
	return sh->legacy_version == 0xfefd && !sh->is_truncated &&
	       SAME(sh->exts, sh->n_exts, pion_sh_exts);
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint16_t sat_inc16(uint16_t a)
{
	return a == UINT16_MAX ? a : (uint16_t)(a + 1);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

uint32_t tt_webrtc_ice_id(const uint8_t *user, size_t len)
{
	const uint8_t *colon = memchr(user, ':', len);
	const uint8_t *a = user, *b;
	size_t na = len, nb = 0;
	uint64_t h = 0xcbf29ce484222325ull;

	/* Each end's checks carry "their ufrag:my ufrag": the pair in the same order from
	 * both ends is the two ufrags sorted. */
	if (colon) {
		na = (size_t)(colon - user);
		b = colon + 1;
		nb = len - na - 1;
		if (na > nb || (na == nb && memcmp(a, b, na) > 0)) {
			const uint8_t *t = a;
			size_t tn = na;

			a = b;
			na = nb;
			b = t;
			nb = tn;
		}
		h = fnv1a(h, a, na);
		h = fnv1a(h, (const uint8_t *)":", 1);
		h = fnv1a(h, b, nb);
	} else {
		h = fnv1a(h, a, na);
	}
	h ^= h >> 32; /* the record keeps 32 bits; ties are also checked by host */
	return (uint32_t)h ? (uint32_t)h : 1;
}

static void stun(struct tt_flow_record *r, const uint8_t *p, uint32_t n)
{
	uint32_t type, end, off = STUN_HDR;
	bool has_user = false, has_mi = false;
	const uint8_t *user = NULL;
	uint32_t user_len = 0;

	if (n < STUN_HDR || p[4] != 0x21 || p[5] != 0x12 || p[6] != 0xa4 || p[7] != 0x42)
		return;
	r->webrtc |= TT_WRTC_STUN;
	type = be16(p);
	if (type == 0x0101)
		r->webrtc |= TT_WRTC_STUN_REPLY;
	if (type != 0x0001)
		return;
	end = STUN_HDR + be16(p + 2);
	if (end == STUN_HDR)
		r->webrtc |= TT_WRTC_STUN_BARE;
	if (end > n)
		end = n;
	for (unsigned i = 0; i < MAX_ATTRS && off + 4 <= end; i++) {
		uint32_t at = be16(p + off), alen = be16(p + off + 2);

		if (at == 0x0006 && off + 4 + alen <= end) {
			has_user = true;
			user = p + off + 4;
			user_len = alen;
		} else if (at == 0x0008) {
			has_mi = true;
		}
		off += 4 + ((alen + 3) & ~3u);
	}
	if (has_user && has_mi) {
		r->webrtc |= TT_WRTC_ICE;
		if (!r->ice && user_len > 0)
			r->ice = tt_webrtc_ice_id(user, user_len);
	}
}

static void hello(struct tt_flow_record *r, unsigned dir, const uint8_t *h, uint32_t n)
{
	uint32_t msg_len = be24(h + 1), frag_off = be24(h + 6), frag_len = be24(h + 9);
	const uint8_t *body = h + DTLS_HS_HDR;

	/* Unfragmented and captured whole, or not read. */
	if (frag_off != 0 || frag_len != msg_len || DTLS_HS_HDR + msg_len > n)
		return;
	if (h[0] == 1 && !(r->webrtc & (dir ? TT_WRTC_CH_REV : TT_WRTC_CH_FWD))) {
		struct tt_tls_client_hello ch;

		if (tt_dtls_parse_client_hello(body, msg_len, &ch) < 0)
			return;
		r->webrtc |= dir ? TT_WRTC_CH_REV : TT_WRTC_CH_FWD;
		if (tt_webrtc_is_pion_client_hello(&ch))
			r->webrtc |= TT_WRTC_PION_CH;
	} else if (h[0] == 2 && !(r->webrtc & (dir ? TT_WRTC_SH_REV : TT_WRTC_SH_FWD))) {
		struct tt_tls_server_hello sh;

		if (tt_tls_parse_server_hello(body, msg_len, &sh) < 0)
			return;
		r->webrtc |= dir ? TT_WRTC_SH_REV : TT_WRTC_SH_FWD;
		if (tt_webrtc_is_pion_server_hello(&sh))
			r->webrtc |= TT_WRTC_PION_SH;
	}
}

#define HELLO_SEEN (TT_WRTC_CH_FWD | TT_WRTC_CH_REV | TT_WRTC_SH_FWD | TT_WRTC_SH_REV)

/* Is dir the ServerHello's sender's (Snowflake's client: its records carry the Tor
 * client's TLS records upstream)? */
static bool is_up(const struct tt_flow_record *r, unsigned dir)
{
	return (r->webrtc & (dir ? TT_WRTC_SH_REV : TT_WRTC_SH_FWD)) != 0;
}

static void dtls(struct tt_flow_record *r, unsigned dir, const uint8_t *p, uint32_t n)
{
	uint32_t off = 0;

	for (unsigned i = 0; i < MAX_RECORDS && off + DTLS_HDR <= n; i++) {
		const uint8_t *h = p + off;
		uint32_t len = be16(h + 11);

		uint32_t version = be16(h + 1);

		/* DTLS's content types (20-26) and versions (1.0, 1.2, 1.3's legacy 1.2), and a
		 * record that fits the datagram: a DNS message whose id starts 20-63 is no DTLS. */
		if (h[0] < 20 || h[0] > 26 ||
		    (version != 0xfeff && version != 0xfefd && version != 0xfefc) ||
		    (i == 0 && DTLS_HDR + len > n))
			return;
		r->webrtc |= TT_WRTC_DTLS;
		if (h[0] == 22 && h[3] == 0 && h[4] == 0 && len >= DTLS_HS_HDR &&
		    off + DTLS_HDR + DTLS_HS_HDR <= n && (h[13] == 1 || h[13] == 2)) {
			uint32_t have = n - off - DTLS_HDR;

			hello(r, dir, h + DTLS_HDR, have < len ? have : len);
		} else if (h[0] == 23 && (r->webrtc & HELLO_SEEN)) {
			r->dtls_app = sat_inc16(r->dtls_app);
			/* S5's share is over the first 65535 such records: both counts
			 * stop together, or the share would drift once up_big saturated */
			if (is_up(r, dir) && len > 100 && r->up_big < UINT16_MAX) {
				r->up_big++;
				if (len >= 624 &&
				    ((len - 624) % 512 == 0 || (len - 648) % 512 == 0))
					r->up_quantum++;
			}
		}
		off += DTLS_HDR + len;
	}
}

void tt_webrtc_datagram(struct tt_flow_record *r, unsigned dir, const uint8_t *p, uint32_t n)
{
	if (n == 0)
		return;
	if (p[0] <= 3)
		stun(r, p, n);
	else if (p[0] >= 20 && p[0] <= 63)
		dtls(r, dir, p, n);
	else if (p[0] >= 128 && p[0] <= 191 && (r->webrtc & HELLO_SEEN))
		r->rtp = sat_inc16(r->rtp);
}
