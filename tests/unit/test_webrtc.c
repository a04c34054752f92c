/* The UDP inspector (src/workers/webrtc.c) on crafted datagrams: RFC 7983 demultiplexing,
 * STUN/ICE, pion's DTLS hellos (evidence S3, S4) against near misses, the counts after the
 * handshake, and the Snowflake items and verdict they lead to (score.c). */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/workers/tls.h"
#include "../../src/workers/workers.h"

TestSuite(webrtc, .timeout = 30);

struct buf {
	uint8_t b[2048];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	cr_assert_leq(b->n + n, sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;

	put(b, &x, 1);
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put24(struct buf *b, unsigned v)
{
	put8(b, v >> 16);
	put16(b, v & 0xffff);
}

/* A DTLS 1.2 record (epoch 0) holding one unfragmented handshake message. */
static void dtls_handshake(struct buf *out, unsigned type, const struct buf *body)
{
	put8(out, 22);
	put16(out, 0xfefd);
	put16(out, 0); /* epoch */
	put16(out, 0); /* sequence number, 6 bytes */
	put16(out, 0);
	put16(out, 1);
	put16(out, 12 + (unsigned)body->n); /* record length */
	put8(out, type);
	put24(out, (unsigned)body->n);
	put16(out, 0); /* message_seq */
	put24(out, 0); /* fragment offset */
	put24(out, (unsigned)body->n);
	put(out, body->b, body->n);
}

/* pion's ServerHello (Snowflake's client), with the extensions in the order given. */
static void server_hello(struct buf *out, const uint16_t *exts, unsigned n_exts)
{
	struct buf body = {0}, ext = {0};
	uint8_t random[32] = {0};

	for (unsigned i = 0; i < n_exts; i++) {
		put16(&ext, exts[i]);
		switch (exts[i]) {
		case 0xff01: /* renegotiation_info: empty */
			put16(&ext, 1);
			put8(&ext, 0);
			break;
		case 14: /* use_srtp: SRTP_AEAD_AES_128_GCM, no MKI */
			put16(&ext, 5);
			put16(&ext, 2);
			put16(&ext, 0x0007);
			put8(&ext, 0);
			break;
		case 11: /* ec_point_formats: uncompressed */
			put16(&ext, 2);
			put8(&ext, 1);
			put8(&ext, 0);
			break;
		default:
			put16(&ext, 0);
			break;
		}
	}
	put16(&body, 0xfefd);
	put(&body, random, sizeof(random));
	put8(&body, 0);       /* session id */
	put16(&body, 0xc02b); /* suite */
	put8(&body, 0);       /* compression */
	put16(&body, (unsigned)ext.n);
	put(&body, ext.b, ext.n);
	dtls_handshake(out, 2, &body);
}

/* pion's ClientHello (Snowflake's standalone proxy), with a cookie and the suites given. */
static void client_hello(struct buf *out, const uint16_t *suites, unsigned n_suites)
{
	static const uint16_t exts[] = {13, 0xff01, 10, 11, 14, 23};
	struct buf body = {0}, ext = {0};
	uint8_t random[32] = {0};

	for (unsigned i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		put16(&ext, exts[i]);
		switch (exts[i]) {
		case 13: /* signature_algorithms */
			put16(&ext, 4);
			put16(&ext, 2);
			put16(&ext, 0x0403);
			break;
		case 0xff01:
			put16(&ext, 1);
			put8(&ext, 0);
			break;
		case 10: /* supported_groups: x25519, P-256, P-384 */
			put16(&ext, 8);
			put16(&ext, 6);
			put16(&ext, 29);
			put16(&ext, 23);
			put16(&ext, 24);
			break;
		case 11:
			put16(&ext, 2);
			put8(&ext, 1);
			put8(&ext, 0);
			break;
		case 14:
			put16(&ext, 7);
			put16(&ext, 4);
			put16(&ext, 0x0007);
			put16(&ext, 0x0001);
			put8(&ext, 0);
			break;
		default:
			put16(&ext, 0);
			break;
		}
	}
	put16(&body, 0xfefd);
	put(&body, random, sizeof(random));
	put8(&body, 0); /* session id */
	put8(&body, 4); /* cookie: DTLS only */
	put16(&body, 0xabcd);
	put16(&body, 0xef01);
	put16(&body, 2 * n_suites);
	for (unsigned i = 0; i < n_suites; i++)
		put16(&body, suites[i]);
	put8(&body, 1);
	put8(&body, 0);
	put16(&body, (unsigned)ext.n);
	put(&body, ext.b, ext.n);
	dtls_handshake(out, 1, &body);
}

static const uint16_t pion_sh_exts[] = {0xff01, 23, 14, 11};
static const uint16_t pion_suites[] = {0xc02b, 0xc02f, 0xc00a, 0xc014, 0xc02c, 0xc030};

/* A STUN Binding request; with user, USERNAME and a (dummy) MESSAGE-INTEGRITY. */
static void stun_binding(struct buf *out, const char *user)
{
	struct buf attrs = {0};
	uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, mi[20] = {0};

	if (user) {
		size_t n = strlen(user);

		put16(&attrs, 0x0006);
		put16(&attrs, (unsigned)n);
		put(&attrs, user, n);
		while (attrs.n % 4)
			put8(&attrs, 0);
		put16(&attrs, 0x0008);
		put16(&attrs, 20);
		put(&attrs, mi, sizeof(mi));
	}
	put16(out, 0x0001);
	put16(out, (unsigned)attrs.n);
	put16(out, 0x2112);
	put16(out, 0xa442);
	put(out, tid, sizeof(tid));
	put(out, attrs.b, attrs.n);
}

/* A DTLS application-data record of n bytes (epoch 1). */
static void app_data(struct buf *out, unsigned n)
{
	put8(out, 23);
	put16(out, 0xfefd);
	put16(out, 1);
	put16(out, 0);
	put16(out, 0);
	put16(out, 7);
	put16(out, n);
	for (unsigned i = 0; i < n; i++)
		put8(out, 0x5a);
}

static void feed(struct tt_flow_record *r, unsigned dir, const struct buf *b)
{
	tt_webrtc_datagram(r, dir, b->b, (uint32_t)b->n);
}

Test(webrtc, pion_server_hello_by_extension_order)
{
	static const uint16_t swapped[] = {0xff01, 23, 11, 14};
	static const uint16_t with_groups[] = {0xff01, 23, 14, 11, 10};
	struct tt_flow_record r = {0};
	struct buf b = {0};

	server_hello(&b, pion_sh_exts, 4);
	feed(&r, 1, &b);
	cr_assert(r.webrtc & TT_WRTC_DTLS);
	cr_assert(r.webrtc & TT_WRTC_SH_REV, "the responder sent the ServerHello");
	cr_assert_not(r.webrtc & TT_WRTC_SH_FWD);
	cr_assert(r.webrtc & TT_WRTC_PION_SH);

	memset(&r, 0, sizeof(r));
	b.n = 0;
	server_hello(&b, swapped, 4);
	feed(&r, 1, &b);
	cr_assert(r.webrtc & TT_WRTC_SH_REV);
	cr_assert_not(r.webrtc & TT_WRTC_PION_SH, "another extension order is not pion's");

	memset(&r, 0, sizeof(r));
	b.n = 0;
	server_hello(&b, with_groups, 5);
	feed(&r, 1, &b);
	cr_assert_not(r.webrtc & TT_WRTC_PION_SH, "pion's ServerHello has no supported_groups");

	/* cut one byte short of its record: not read */
	memset(&r, 0, sizeof(r));
	b.n = 0;
	server_hello(&b, pion_sh_exts, 4);
	b.n--;
	feed(&r, 1, &b);
	cr_assert_not(r.webrtc & (TT_WRTC_SH_REV | TT_WRTC_PION_SH));
}

Test(webrtc, pion_client_hello_with_cookie)
{
	static const uint16_t reordered[] = {0xc02f, 0xc02b, 0xc00a, 0xc014, 0xc02c, 0xc030};
	struct tt_flow_record r = {0};
	struct buf b = {0};
	struct tt_tls_client_hello ch;

	client_hello(&b, pion_suites, 6);
	/* the body after the 13-byte record and 12-byte handshake headers */
	cr_assert_eq(tt_dtls_parse_client_hello(b.b + 25, (uint32_t)b.n - 25, &ch), 0);
	cr_assert_eq(ch.n_ciphers, 6);
	cr_assert_eq(ch.ciphers[0], 0xc02b);
	cr_assert_eq(ch.n_groups, 3);
	cr_assert(tt_webrtc_is_pion_client_hello(&ch));
	/* read as TLS, the cookie shifts everything: not pion's */
	tt_tls_parse_client_hello(b.b + 25, (uint32_t)b.n - 25, &ch);
	cr_assert_not(tt_webrtc_is_pion_client_hello(&ch));

	feed(&r, 0, &b);
	cr_assert(r.webrtc & TT_WRTC_CH_FWD);
	cr_assert(r.webrtc & TT_WRTC_PION_CH);

	memset(&r, 0, sizeof(r));
	b.n = 0;
	client_hello(&b, reordered, 6);
	feed(&r, 0, &b);
	cr_assert(r.webrtc & TT_WRTC_CH_FWD);
	cr_assert_not(r.webrtc & TT_WRTC_PION_CH, "another suite order is not pion's");
}

Test(webrtc, stun_ice_id_is_the_same_from_both_ends)
{
	struct tt_flow_record a = {0}, b = {0}, bare = {0}, none = {0};
	struct buf x = {0}, y = {0}, z = {0};

	stun_binding(&x, "JegITgeZsBAgUmbv:JEPczoGvvbPMXhYs");
	stun_binding(&y, "JEPczoGvvbPMXhYs:JegITgeZsBAgUmbv");
	feed(&a, 0, &x);
	feed(&b, 1, &y);
	cr_assert(a.webrtc & TT_WRTC_ICE);
	cr_assert_neq(a.ice, 0);
	cr_assert_eq(a.ice, b.ice);

	stun_binding(&z, NULL);
	feed(&bare, 0, &z);
	cr_assert(bare.webrtc & TT_WRTC_STUN_BARE);
	cr_assert_not(bare.webrtc & TT_WRTC_ICE);
	cr_assert_eq(bare.ice, 0);

	z.b[4] = 0; /* no magic cookie: not STUN */
	feed(&none, 0, &z);
	cr_assert_eq(none.webrtc, 0);
}

Test(webrtc, counts_after_the_handshake_and_dns_is_not_dtls)
{
	struct tt_flow_record r = {0}, d = {0};
	struct buf b = {0}, rtp = {0}, dns = {0};
	uint8_t rtp_hdr[12] = {0x80, 0x60};

	put(&rtp, rtp_hdr, sizeof(rtp_hdr));
	b.n = 0;
	app_data(&b, 100);
	feed(&r, 0, &b);
	feed(&r, 0, &rtp);
	cr_assert_eq(r.dtls_app, 0, "no hello yet: nothing counted");
	cr_assert_eq(r.rtp, 0);
	b.n = 0;
	server_hello(&b, pion_sh_exts, 4);
	app_data(&b, 28); /* a second record in the same datagram */
	feed(&r, 1, &b);
	b.n = 0;
	app_data(&b, 100);
	feed(&r, 0, &b);
	cr_assert_eq(r.dtls_app, 2);
	feed(&r, 0, &rtp);
	cr_assert_eq(r.rtp, 1);

	/* a DNS query whose id is 0x20fe: first byte 32, second 0xfe, flags 0x0100 */
	put16(&dns, 0x20fe);
	put16(&dns, 0x0100);
	put16(&dns, 1);
	put16(&dns, 0);
	put16(&dns, 0);
	put16(&dns, 0);
	feed(&d, 0, &dns);
	cr_assert_eq(d.webrtc, 0);
}

static bool fired(const struct tt_flow_record *r, const char *id)
{
	unsigned n;
	const struct tt_evidence_item *items = tt_evidence_table(&n);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(items[i].id, id))
			return (r->evidence >> i) & 1u;
	cr_assert_fail("no item %s", id);
	return false;
}

Test(webrtc, snowflake_items_and_hypothesis)
{
	struct tt_flow_record r = {0};
	struct tt_flow_relay relay;
	struct buf b = {0};

	r.proto = 17;
	r.ip_version = 4;
	stun_binding(&b, "JegITgeZsBAgUmbv:JEPczoGvvbPMXhYs");
	feed(&r, 0, &b);
	b.n = 0;
	client_hello(&b, pion_suites, 6);
	feed(&r, 0, &b);
	b.n = 0;
	server_hello(&b, pion_sh_exts, 4);
	feed(&r, 1, &b);
	for (int i = 0; i < 1000; i++) {
		b.n = 0;
		app_data(&b, 500);
		feed(&r, i & 1, &b);
	}
	/* S2 wants 1000 records and 500 kB of payload (the worker counts the payload) */
	r.payload_bytes[0] = 499999;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "S1") && !fired(&r, "S2"));
	r.payload_bytes[0] = 500000;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "S1") && fired(&r, "S2") && fired(&r, "S3") && fired(&r, "S4"));
	cr_assert_not(fired(&r, "S-"));
	cr_assert(r.verdict == TT_VERDICT_TOR_SNOWFLAKE || r.candidate == TT_VERDICT_TOR_SNOWFLAKE);
	cr_assert_str_eq(tt_verdict_name(TT_VERDICT_TOR_SNOWFLAKE), "tor-snowflake");

	/* one RTP datagram: media, so no data channel (S1, S2) and S- fires */
	b.n = 0;
	put8(&b, 0x80);
	put8(&b, 0x60);
	feed(&r, 0, &b);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "S1"));
	cr_assert_not(fired(&r, "S2"));
	cr_assert(fired(&r, "S-"));
}

/* S5: the DTLS server's (Snowflake client's) records of 624 or 648 + 512 k bytes. */
static struct tt_flow_record quantum_flow(unsigned n_quantum, unsigned n_other, unsigned up_dir)
{
	static const unsigned quantum[] = {624, 648, 1136, 1160};
	struct tt_flow_record r = {0};
	struct buf b = {0};

	r.proto = 17;
	r.ip_version = 4;
	server_hello(&b, pion_sh_exts, 4);
	feed(&r, 1, &b); /* the responder is the DTLS server */
	for (unsigned i = 0; i < n_quantum + n_other; i++) {
		b.n = 0;
		app_data(&b, i < n_quantum ? quantum[i % 4] : 300 + 7 * i);
		feed(&r, up_dir, &b);
	}
	return r;
}

Test(webrtc, s5_upstream_quantum)
{
	struct tt_flow_relay relay;
	struct tt_flow_record r = quantum_flow(13, 37, 1);

	cr_assert_eq(r.up_big, 50);
	cr_assert_eq(r.up_quantum, 13);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "S5"), "13 of 50 is over a quarter");

	r = quantum_flow(12, 38, 1);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "S5"), "12 of 50 is under a quarter");

	r = quantum_flow(40, 9, 1);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "S5"), "fewer than 50 records over 100 bytes");

	r = quantum_flow(50, 0, 0); /* the same lengths from the DTLS client: not counted */
	cr_assert_eq(r.up_big, 0);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "S5"));
}

/* S2 (volume) is not counted beside S5: S5 is judged among flows that already have volume,
 * and S2's non-Tor rate depends on how long the negative sessions were made to last. */
Test(webrtc, s2_not_counted_beside_s5)
{
	static const unsigned quantum[] = {624, 648, 1136, 1160};
	struct tt_flow_record r = {0};
	struct tt_flow_relay relay;
	struct buf b = {0};
	float with_s2;

	r.proto = 17;
	r.ip_version = 4;
	stun_binding(&b, "JegITgeZsBAgUmbv:JEPczoGvvbPMXhYs");
	feed(&r, 0, &b);
	b.n = 0;
	client_hello(&b, pion_suites, 6);
	feed(&r, 0, &b);
	b.n = 0;
	server_hello(&b, pion_sh_exts, 4);
	feed(&r, 1, &b);
	for (unsigned i = 0; i < 1000; i++) {
		b.n = 0;
		app_data(&b, i % 2 ? quantum[i % 4] : 300 + i % 200);
		feed(&r, 1, &b);
	}
	r.payload_bytes[1] = 600000;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "S2") && fired(&r, "S5"), "S2 and S5 both fire (and are listed)");
	with_s2 = r.score;
	r.payload_bytes[1] = 1000;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(!fired(&r, "S2") && fired(&r, "S5"));
	cr_assert_float_eq(with_s2, r.score, 1e-7, "S2 beside S5 adds nothing: %g vs %g",
	    (double)with_s2, (double)r.score);
}

/* S5's share is taken over the first 65535 records over 100 bytes: a long non-Tor channel
 * whose Tor-sized records come late must not see its share grow once the count saturates
 * (65535 others, then 30000 of 624 bytes: 31 % of all, 0 % of the first 65535). */
Test(webrtc, s5_share_frozen_at_saturation)
{
	struct tt_flow_relay relay;
	struct tt_flow_record r = {0};
	struct buf b = {0};

	r.proto = 17;
	r.ip_version = 4;
	server_hello(&b, pion_sh_exts, 4);
	feed(&r, 1, &b); /* the responder is the DTLS server */
	for (unsigned i = 0; i < 65535 + 30000; i++) {
		b.n = 0;
		app_data(&b, i < 65535 ? 300 : 624);
		feed(&r, 1, &b);
	}
	cr_assert_eq(r.up_big, 65535);
	cr_assert_eq(r.up_quantum, 0, "counted past the saturated total: %u", r.up_quantum);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "S5"));
}
