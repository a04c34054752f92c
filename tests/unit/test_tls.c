/* The TLS inspector: reassembly, record and handshake walkers, hello and certificate
 * parsers, JA3/JA3S/JA4 against tshark 4.0 and nDPI, malformed input, Tor traits, the
 * fingerprint table, and the Tor helpers against the tornet ground truth. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pcap/pcap.h>

#include "../../src/workers/tls.h"
#include "../../src/workers/workers.h"

/* tests/data and the shared corpus; meson passes both, a hand build finds them from here. */
#ifndef TT_TEST_DATA
#define TT_TEST_DATA "tests/data"
#endif
#ifndef TT_CORPUS_DIR
#define TT_CORPUS_DIR "../shared/corpus"
#endif

TestSuite(tls, .timeout = 60);

/* ---- helpers: a tiny pcap flow walker ---------------------------------------------- */

struct pflow {
	uint8_t ip[2][16]; /* [0] client */
	uint16_t port[2];
	int fam;
	bool is_tls, is_decided;
	struct tt_tls_flow *t;
};

struct pwalk {
	struct pflow *flows;
	unsigned n, cap;
};

static void walk_tcp(struct pwalk *w, int fam, const uint8_t *src, const uint8_t *dst,
    const uint8_t *tcp, unsigned tl)
{
	unsigned alen = fam == 4 ? 4 : 16, hl, plen;
	uint16_t sp, dp;
	uint32_t seq;
	uint8_t fl;
	struct pflow *f = NULL;
	bool is_server = false;

	if (tl < 20)
		return;
	sp = (uint16_t)(tcp[0] << 8 | tcp[1]);
	dp = (uint16_t)(tcp[2] << 8 | tcp[3]);
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	hl = (tcp[12] >> 4) * 4u;
	fl = tcp[13];
	if (hl < 20 || hl > tl)
		return;
	for (unsigned i = 0; i < w->n && !f; i++) {
		struct pflow *g = &w->flows[i];

		if (g->fam != fam)
			continue;
		if (!memcmp(g->ip[0], src, alen) && !memcmp(g->ip[1], dst, alen) &&
		    g->port[0] == sp && g->port[1] == dp)
			f = g;
		else if (!memcmp(g->ip[1], src, alen) && !memcmp(g->ip[0], dst, alen) &&
			 g->port[1] == sp && g->port[0] == dp) {
			f = g;
			is_server = true;
		}
	}
	if (!f) {
		int s = (fl & 0x12) == 0x12; /* a SYN-ACK comes from the server */

		cr_assert_lt(w->n, w->cap);
		f = &w->flows[w->n++];
		memset(f, 0, sizeof(*f));
		f->fam = fam;
		memcpy(f->ip[s], src, alen);
		memcpy(f->ip[!s], dst, alen);
		f->port[s] = sp;
		f->port[!s] = dp;
		is_server = s;
		f->t = malloc(sizeof(*f->t));
		cr_assert(f->t);
		tt_tls_flow_init(f->t);
		f->t->is_keep_bytes = true; /* the fixtures hand out the bytes */
	}
	plen = tl - hl;
	if (plen > 0 && !f->is_decided) {
		const uint8_t *p = tcp + hl;

		f->is_decided = true;
		f->is_tls = plen >= 3 && p[0] >= 20 && p[0] <= 23 && p[1] == 3 && p[2] <= 4;
	}
	if (f->is_decided && !f->is_tls)
		return;
	tt_tls_flow_add(f->t, is_server, seq, tcp + hl, plen, (fl & 0x02) != 0);
}

static void walk_packet(struct pwalk *w, int dlt, const uint8_t *p, unsigned n)
{
	uint16_t et;

	if (dlt == DLT_EN10MB) {
		if (n < 14)
			return;
		et = (uint16_t)(p[12] << 8 | p[13]);
		p += 14;
		n -= 14;
	} else if (dlt == DLT_RAW || dlt == 101 || dlt == 228) {
		if (n < 1)
			return;
		et = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
	} else {
		return;
	}
	if (et == 0x0800 && n >= 20 && p[9] == 6) {
		unsigned ihl = (p[0] & 15) * 4u, tot = (unsigned)(p[2] << 8 | p[3]);

		if (ihl < 20 || tot < ihl)
			return;
		walk_tcp(w, 4, p + 12, p + 16, p + ihl, (tot < n ? tot : n) - ihl);
	} else if (et == 0x86dd && n >= 40 && p[6] == 6) {
		unsigned pl = (unsigned)(p[4] << 8 | p[5]);

		walk_tcp(w, 6, p + 8, p + 24, p + 40, pl < n - 40 ? pl : n - 40);
	}
}

/* Walk a whole capture; false when it cannot be opened. */
static bool walk_file(struct pwalk *w, const char *path, unsigned cap)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *pc = pcap_open_offline(path, err);
	int dlt;

	w->n = 0;
	w->cap = cap;
	w->flows = calloc(cap, sizeof(*w->flows));
	cr_assert(w->flows);
	if (!pc)
		return false;
	dlt = pcap_datalink(pc);
	while (pcap_next_ex(pc, &h, &d) == 1)
		walk_packet(w, dlt, d, h->caplen);
	pcap_close(pc);
	return true;
}

static void walk_free(struct pwalk *w)
{
	for (unsigned i = 0; i < w->n; i++)
		free(w->flows[i].t);
	free(w->flows);
}

/* The first flow of a fixture under tests/data/tls (which must hold a ClientHello). */
static struct tt_tls_flow *fixture_flow(struct pwalk *w, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/tls/%s", TT_TEST_DATA, name);
	cr_assert(walk_file(w, path, 8), "cannot open %s", path);
	cr_assert_geq(w->n, 1, "%s", name);
	cr_assert(w->flows[0].t->has_ch, "%s: no ClientHello", name);
	return w->flows[0].t;
}

/* ---- reassembly ------------------------------------------------------------------------ */

static struct tt_tls_stream *new_stream(void)
{
	struct tt_tls_stream *s = malloc(sizeof(*s));

	cr_assert(s);
	tt_tls_stream_init(s);
	return s;
}

Test(tls, in_order_segments_are_appended_after_syn)
{
	struct tt_tls_stream *s = new_stream();
	const uint8_t a[] = "hello ", b[] = "world";

	cr_expect_eq(tt_tls_stream_add(s, 1000, NULL, 0, true), 0);
	cr_expect_eq(tt_tls_stream_add(s, 1001, a, 6, false), 6);
	cr_expect_eq(tt_tls_stream_add(s, 1007, b, 5, false), 5);
	cr_expect_eq(s->len, 11);
	cr_expect_eq(memcmp(s->buf, "hello world", 11), 0);
	cr_expect_eq(s->flags, 0);
	free(s);
}

Test(tls, retransmission_is_ignored_and_keeps_first_bytes)
{
	struct tt_tls_stream *s = new_stream();

	tt_tls_stream_add(s, 99, NULL, 0, true);
	tt_tls_stream_add(s, 100, (const uint8_t *)"abcdef", 6, false);
	cr_expect_eq(tt_tls_stream_add(s, 100, (const uint8_t *)"XXXX", 4, false), 0);
	cr_expect_eq(s->n_retrans_segs, 1);
	/* Overlapping retransmission that also brings new bytes: only the new ones count. */
	cr_expect_eq(tt_tls_stream_add(s, 104, (const uint8_t *)"YYgh", 4, false), 2);
	cr_expect_eq(memcmp(s->buf, "abcdefgh", 8), 0);
	/* Data from before byte 0 (an old segment) is cut to what follows it. */
	cr_expect_eq(tt_tls_stream_add(s, 98, (const uint8_t *)"zzabcdefghij", 12, false), 2);
	cr_expect_eq(memcmp(s->buf, "abcdefghij", 10), 0);
	free(s);
}

Test(tls, out_of_order_segment_waits_for_the_hole)
{
	struct tt_tls_stream *s = new_stream();

	tt_tls_stream_add(s, 0, NULL, 0, true);
	cr_expect_eq(tt_tls_stream_add(s, 7, (const uint8_t *)"world", 5, false), 0);
	cr_expect_eq(tt_tls_stream_add(s, 13, (const uint8_t *)"!", 1, false), 0);
	cr_expect_eq(s->len, 0);
	cr_expect_eq(s->n_ranges, 2);
	cr_expect_eq(tt_tls_stream_add(s, 1, (const uint8_t *)"hello", 5, false), 5);
	cr_expect_eq(tt_tls_stream_add(s, 6, (const uint8_t *)" ", 1, false), 6);
	cr_expect_eq(tt_tls_stream_add(s, 12, (const uint8_t *)"?", 1, false), 2);
	cr_expect_eq(s->len, 13);
	cr_expect_eq(memcmp(s->buf, "hello world?!", 13), 0);
	cr_expect_eq(s->n_ranges, 0);
	cr_expect_eq(s->n_ooo_segs, 2);
	cr_expect_eq(s->flags, 0);
	free(s);
}

Test(tls, too_many_holes_set_gap_and_stop_there)
{
	struct tt_tls_stream *s = new_stream();
	uint8_t x = 'x';

	tt_tls_stream_add(s, 0, NULL, 0, true);
	for (uint32_t i = 0; i < TT_TLS_STREAM_MAX_RANGES + 1; i++)
		tt_tls_stream_add(s, 10 + 2 * i, &x, 1, false);
	cr_expect(s->flags & TT_TLS_STREAM_GAP);
	cr_expect_eq(s->n_ranges, TT_TLS_STREAM_MAX_RANGES);
	cr_expect_eq(s->len, 0);
	free(s);
}

Test(tls, bytes_past_capacity_are_dropped)
{
	struct tt_tls_stream *s = new_stream();
	uint8_t *big = calloc(1, TT_TLS_STREAM_CAP + 100);

	tt_tls_stream_add(s, 0, NULL, 0, true);
	cr_expect_eq(
	    tt_tls_stream_add(s, 1, big, TT_TLS_STREAM_CAP + 100, false), TT_TLS_STREAM_CAP);
	cr_expect(s->flags & TT_TLS_STREAM_FULL);
	cr_expect(tt_tls_stream_is_done(s));
	cr_expect_eq(tt_tls_stream_add(s, 1 + TT_TLS_STREAM_CAP, big, 10, false), 0);
	free(big);
	free(s);
}

Test(tls, sequence_numbers_wrap_around)
{
	struct tt_tls_stream *s = new_stream();

	tt_tls_stream_add(s, 0xfffffffdu, NULL, 0, true);
	cr_expect_eq(tt_tls_stream_add(s, 0xfffffffeu, (const uint8_t *)"abcd", 4, false), 4);
	cr_expect_eq(tt_tls_stream_add(s, 2, (const uint8_t *)"efgh", 4, false), 4);
	cr_expect_eq(memcmp(s->buf, "abcdefgh", 8), 0);
	free(s);
}

Test(tls, midstream_start_is_flagged)
{
	struct tt_tls_stream *s = new_stream();

	cr_expect_eq(tt_tls_stream_add(s, 5000, (const uint8_t *)"abc", 3, false), 3);
	cr_expect(s->flags & TT_TLS_STREAM_MIDSTREAM);
	cr_expect_eq(s->base_seq, 5000);
	free(s);
}

/* ---- records and handshake messages ------------------------------------------------ */

/* A record of type t with n bytes of value v. */
static size_t put_record(uint8_t *p, uint8_t t, uint16_t n, uint8_t v)
{
	p[0] = t;
	p[1] = 3;
	p[2] = 3;
	p[3] = (uint8_t)(n >> 8);
	p[4] = (uint8_t)n;
	memset(p + 5, v, n);
	return 5u + n;
}

Test(tls, records_split_over_segments_and_packed_in_one)
{
	struct tt_tls_stream *s = new_stream();
	uint8_t wire[2000];
	size_t n = 0;
	struct tt_tls_record r;
	unsigned got = 0;

	n += put_record(wire + n, 22, 100, 1);
	n += put_record(wire + n, 20, 1, 1);
	n += put_record(wire + n, 23, 1000, 2);
	n += put_record(wire + n, 23, 28, 3);
	tt_tls_stream_add(s, 0, NULL, 0, true);
	/* Byte by byte: every record appears exactly when its last byte arrives. */
	for (size_t i = 0; i < n; i++) {
		tt_tls_stream_add(s, (uint32_t)(1 + i), wire + i, 1, false);
		while (tt_tls_stream_next_record(s, &r) == 1) {
			static const uint16_t want[] = {100, 1, 1000, 28};

			cr_assert_lt(got, 4);
			cr_expect_eq(r.length, want[got]);
			cr_expect_eq(r.frag_len, want[got]);
			cr_expect_eq(r.offset + 5u + r.length, i + 1, "record %u", got);
			got++;
		}
	}
	cr_expect_eq(got, 4);
	/* All in one segment. */
	tt_tls_stream_init(s);
	tt_tls_stream_add(s, 0, wire, (uint32_t)n, false);
	got = 0;
	while (tt_tls_stream_next_record(s, &r) == 1)
		got++;
	cr_expect_eq(got, 4);
	free(s);
}

Test(tls, non_tls_bytes_stop_the_walker)
{
	struct tt_tls_stream *s = new_stream();
	struct tt_tls_record r;

	tt_tls_stream_add(s, 0, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, false);
	cr_expect_eq(tt_tls_stream_next_record(s, &r), -EBADMSG);
	cr_expect(s->flags & TT_TLS_STREAM_NOT_TLS);
	cr_expect_eq(tt_tls_stream_next_record(s, &r), -EBADMSG);
	cr_expect(tt_tls_stream_is_done(s));
	free(s);
}

Test(tls, record_crossing_capacity_is_returned_truncated)
{
	struct tt_tls_stream *s = new_stream();
	uint8_t *wire = calloc(1, 20000);
	size_t n = 0;
	struct tt_tls_record r;

	n += put_record(wire + n, 23, 8000, 1);
	n += put_record(wire + n, 23, 8000, 2);
	tt_tls_stream_add(s, 0, wire, (uint32_t)n, false);
	cr_assert_eq(tt_tls_stream_next_record(s, &r), 1);
	cr_expect_not(r.is_truncated);
	cr_assert_eq(tt_tls_stream_next_record(s, &r), 1);
	cr_expect(r.is_truncated);
	cr_expect_eq(r.length, 8000);
	cr_expect_eq(r.frag_len, TT_TLS_STREAM_CAP - 8005 - 5);
	cr_expect_eq(tt_tls_stream_next_record(s, &r), 0);
	free(wire);
	free(s);
}

Test(tls, handshake_message_spanning_records_is_joined)
{
	struct tt_tls_hs *h = malloc(sizeof(*h));
	uint8_t msg[300], rec[400];
	struct tt_tls_record r = {.type = 22};
	struct tt_tls_hs_msg m;

	tt_tls_hs_init(h);
	msg[0] = 1;
	msg[1] = 0;
	msg[2] = 1;
	msg[3] = 40; /* 296-byte body */
	for (int i = 4; i < 300; i++)
		msg[i] = (uint8_t)i;
	memcpy(rec, msg, 100);
	r.frag = rec;
	r.frag_len = r.length = 100;
	tt_tls_hs_feed(h, &r);
	cr_expect_eq(tt_tls_hs_next(h, &m), 0);
	r.frag = msg + 100;
	r.frag_len = r.length = 200;
	tt_tls_hs_feed(h, &r);
	cr_assert_eq(tt_tls_hs_next(h, &m), 1);
	cr_expect_eq(m.type, 1);
	cr_expect_eq(m.len, 296);
	cr_expect_eq(memcmp(m.body, msg + 4, 296), 0);
	/* After ChangeCipherSpec the handshake is encrypted: nothing more is taken. */
	r.type = 20;
	tt_tls_hs_feed(h, &r);
	r.type = 22;
	tt_tls_hs_feed(h, &r);
	cr_expect_eq(h->len, 300);
	cr_expect(h->is_encrypted);
	free(h);
}

/* ---- real handshakes: tshark 4.0.17 (JA3, JA3S) and nDPI (JA4) ------------------------ */

struct hello_case {
	char file[32];
	char sni[40];
	char ja3[33], ja3s[33], ja4[37];
	uint16_t version, cipher;
};

ParameterizedTestParameters(tls, fingerprints_match_references)
{
	static struct hello_case cases[] = {
	    /* JA4 of the two tornet flows: computed here, equal to TOR-DETECTION.md's
	     * independent script; no reference tool has them. */
	    {"tornet-tor-link.pcap", "www.pbebe3uuhzp3cdh4.com", "5e6627dc19afa982e6b46b97808cb718",
		"15af977ce25de452b96affa2addb1036", "t13d181100_796efca44d18_d41ae481755e", 0x0304,
		0x1302},
	    {"tornet-https.pcap", "www.corp.test", "0149f47eabf9a20d0893e2a44e5a6323",
		"15af977ce25de452b96affa2addb1036", "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6", 0x0304,
		0x1302},
	    {"tor2013.pcap", "www.ct7ctrgb6cr7.com", "581a3c7f54555512b8cd16e87dfe165b",
		"184d532a16876b78846ae6a03f654890", "t10d360300_77f462745360_33a13ba74d1c", 0x0301,
		0xc013},
	    {"tor2022.pcap", "www.4gk67zpn3brh7qxg.com", "140e0f0cad708278ade0984528fe8493",
		"15af977ce25de452b96affa2addb1036", "t13d181100_6c2ba73853a4_24695f2957a7", 0x0304,
		0x1302},
	    {"firefox-tls12.pcap", "www.ntop.org", "b20b44b18b853ef29ab773e921b03422",
		"3653a20186a5b490426131a611e01992", "t13d1814h2_29a2cd9e9f10_d267a5f792d4", 0x0303,
		0xcca8},
	    {"bets.pcap", "www.1084bets10.com", "375c6162a492dfbf2795909110ce8424",
		"f4febc55ea12b31ae17cfb7e614afda8", "t13d4907h2_0d8feac7bc37_7395dae3b2f3", 0x0304,
		0x1301},
	    {"chrome-ech-grease.pcap", "performance.radar.cloudflare.com",
		"6820f114cf3b0809ffdcb30cb277848a", "eb1d94daa7e0344597e756a1fb6e7054",
		"t13d1516h2_8daaf6152771_02713d6af862", 0x0304, 0x1301},
	    {"dingtalk.pcap", "static.dingtalk.com", "cd08e31494f9531f560d64c695473da9",
		"15af977ce25de452b96affa2addb1036", "t13d1516h2_8daaf6152771_e5627efa2ab1", 0x0304,
		0x1302},
	};

	return cr_make_param_array(struct hello_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct hello_case *c, tls, fingerprints_match_references)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, c->file);
	char md5[TT_TLS_MD5_HEX], ja4[TT_TLS_JA4_SIZE];

	cr_expect_not(f->is_ch_bad, "%s", c->file);
	cr_expect_str_eq(f->ch.sni, c->sni, "%s", c->file);
	cr_assert_eq(tt_tls_ja3(&f->ch, NULL, 0, md5), 0);
	cr_expect_str_eq(md5, c->ja3, "%s", c->file);
	tt_tls_ja4(&f->ch, 't', ja4);
	cr_expect_str_eq(ja4, c->ja4, "%s", c->file);
	cr_assert(f->has_sh, "%s", c->file);
	cr_expect_not(f->is_sh_bad, "%s", c->file);
	cr_assert_eq(tt_tls_ja3s(&f->sh, NULL, 0, md5), 0);
	cr_expect_str_eq(md5, c->ja3s, "%s", c->file);
	cr_expect_eq(f->sh.version, c->version, "%s", c->file);
	cr_expect_eq(f->sh.cipher, c->cipher, "%s", c->file);
	walk_free(&w);
}

/* The worker's fingerprint cache gives what the functions give: for every reference hello,
 * on a miss and on a hit, with the others between them in one cache; hellos that differ in
 * GREASE only share an entry, and one cipher more is another entry. */
Test(tls, fingerprint_cache_equals_the_functions)
{
	static const char *const files[] = {"tornet-tor-link.pcap", "tornet-https.pcap",
	    "tor2013.pcap", "tor2022.pcap", "firefox-tls12.pcap", "bets.pcap",
	    "chrome-ech-grease.pcap", "dingtalk.pcap"};
	enum { N = sizeof(files) / sizeof(files[0]) };
	struct pwalk w[N];
	struct tt_tls_flow *f[N];
	struct tt_fp_cache *c = calloc(1, sizeof(*c));
	struct tt_flow_tls want, got;
	struct tt_tls_client_hello saved;

	cr_assert(c);
	for (unsigned i = 0; i < N; i++)
		f[i] = fixture_flow(&w[i], files[i]);
	for (unsigned round = 0; round < 2; round++)
		for (unsigned i = 0; i < N; i++) {
			tt_inspect_tls_summary(f[i], false, NULL, &want);
			tt_inspect_tls_summary(f[i], false, c, &got);
			cr_expect_eq(
			    memcmp(&want, &got, sizeof(want)), 0, "%s, round %u", files[i], round);
			cr_expect_str_neq(got.ja4, "", "%s", files[i]);
		}
	cr_expect_eq(c->n_misses, N);
	cr_expect_eq(c->n_hits, N);
	/* Chrome's hello with other GREASE draws: the same entry, the same fingerprints. */
	saved = f[6]->ch;
	cr_assert(f[6]->ch.has_grease);
	for (unsigned i = 0; i < f[6]->ch.n_ciphers && i < TT_TLS_MAX_CIPHERS; i++)
		if (tt_tls_is_grease(f[6]->ch.ciphers[i]))
			f[6]->ch.ciphers[i] = 0xfafa;
	tt_inspect_tls_summary(f[6], false, NULL, &want);
	tt_inspect_tls_summary(f[6], false, c, &got);
	cr_expect_eq(memcmp(&want, &got, sizeof(want)), 0);
	cr_expect_eq(c->n_hits, N + 1);
	/* One cipher more (where there is room): a miss, and other fingerprints. */
	cr_assert_lt(f[6]->ch.n_ciphers, TT_TLS_MAX_CIPHERS);
	f[6]->ch.ciphers[f[6]->ch.n_ciphers++] = 0x00ff;
	tt_inspect_tls_summary(f[6], false, NULL, &want);
	tt_inspect_tls_summary(f[6], false, c, &got);
	cr_expect_eq(memcmp(&want, &got, sizeof(want)), 0);
	cr_expect_eq(c->n_misses, N + 1);
	cr_expect_str_neq(got.ja3, "6820f114cf3b0809ffdcb30cb277848a");
	/* A legacy_version that is a GREASE value (a hostile hello; JA3 prints it): two such
	 * values are two entries (fuzz_tls found them sharing one). */
	for (unsigned k = 0; k < 2; k++) {
		f[6]->ch.legacy_version = k ? 0x3a3a : 0x5a5a;
		tt_inspect_tls_summary(f[6], false, NULL, &want);
		tt_inspect_tls_summary(f[6], false, c, &got);
		cr_expect_eq(memcmp(&want, &got, sizeof(want)), 0, "legacy_version %u", k);
	}
	cr_expect_eq(c->n_misses, N + 3);
	f[6]->ch = saved;
	for (unsigned i = 0; i < N; i++)
		walk_free(&w[i]);
	free(c);
}

Test(tls, ja3_strings_equal_tshark_ja3_full)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "tornet-tor-link.pcap");
	char s[TT_TLS_JA3_STR_MAX], md5[TT_TLS_MD5_HEX];

	cr_assert_eq(tt_tls_ja3(&f->ch, s, sizeof(s), md5), 0);
	cr_expect_str_eq(s,
	    "771,4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49161-"
	    "49171-49172-156-157-47-53-255,0-11-10-35-22-23-13-43-45-51-21,23-29-21,"
	    "0-1-2");
	cr_assert_eq(tt_tls_ja3s(&f->sh, s, sizeof(s), md5), 0);
	cr_expect_str_eq(s, "771,4866,43-51");
	cr_expect_eq(tt_tls_ja3(&f->ch, s, 10, md5), -ENOSPC);
	walk_free(&w);
	f = fixture_flow(&w, "tor2013.pcap");
	cr_assert_eq(tt_tls_ja3(&f->ch, s, sizeof(s), md5), 0);
	cr_expect_str_eq(s,
	    "769,49162-49172-136-135-57-56-49167-49157-132-53-49159-49161-49169-49171-69-68-51-"
	    "50-49164-49166-49154-49156-150-65-4-5-47-49160-49170-22-19-49165-49155-65279-10-"
	    "255,0-11-10,1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18-19-20-21-22-23-24-25,0-1-2");
	walk_free(&w);
}

Test(tls, tor_client_hello_fields)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "tornet-tor-link.pcap");
	const struct tt_tls_client_hello *ch = &f->ch;
	static const uint16_t groups[] = {0x0017, 0x001d, 0x0015};

	cr_expect_eq(ch->legacy_version, 0x0303);
	cr_expect_eq(ch->body_len, 508);
	cr_expect_eq(ch->session_id_len, 32);
	cr_expect_eq(ch->n_ciphers, 18);
	cr_expect_eq(ch->n_exts, 11);
	cr_assert_eq(ch->n_groups, 3);
	cr_expect_eq(memcmp(ch->groups, groups, sizeof(groups)), 0);
	cr_expect_eq(ch->n_sigalgs, 20);
	cr_expect_eq(ch->n_versions, 2);
	cr_expect_eq(ch->versions[0], 0x0304);
	cr_expect_eq(ch->n_key_shares, 1);
	cr_expect_eq(ch->key_shares[0], 0x0017);
	cr_expect_eq(ch->n_point_formats, 3);
	cr_expect_eq(ch->n_compression, 1);
	cr_expect(ch->has_padding);
	cr_expect_eq(ch->padding_len, 194); /* tshark: 194 bytes */
	cr_expect_not(ch->has_alpn_ext);
	cr_expect_not(ch->has_grease);
	cr_expect_not(ch->is_truncated);
	cr_expect_eq(tt_tls_client_hello_tor_traits(ch), 0x7f);
	cr_expect_eq(f->sh.key_share, 0x0017);
	walk_free(&w);
}

Test(tls, grease_and_alpn_are_parsed)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "chrome-ech-grease.pcap");

	cr_expect(f->ch.has_grease);
	cr_expect(tt_tls_is_grease(f->ch.ciphers[0]));
	cr_expect(f->ch.has_alpn_ext);
	cr_assert_geq(f->ch.n_alpn, 2);
	cr_expect_str_eq(f->ch.alpn[0].name, "h2");
	cr_expect_str_eq(f->ch.alpn[1].name, "http/1.1");
	cr_expect_eq(f->ch.alpn[1].last, '1');
	cr_expect_eq(
	    tt_tls_client_hello_tor_traits(&f->ch) & (TT_TLS_CH_NO_ALPN | TT_TLS_CH_P224), 0);
	walk_free(&w);
}

Test(tls, ja4_follows_the_foxio_example)
{
	/* technical_details/JA4.md: the example's lists, fed through a ClientHello struct. */
	static const uint16_t ciphers[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
	    0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, 0x0a0a};
	static const uint16_t exts[] = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d,
	    0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0x3a3a};
	static const uint16_t sig[] = {
	    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
	struct tt_tls_client_hello *ch = calloc(1, sizeof(*ch));
	char ja4[TT_TLS_JA4_SIZE];

	memcpy(ch->ciphers, ciphers, sizeof(ciphers));
	ch->n_ciphers = sizeof(ciphers) / 2;
	memcpy(ch->exts, exts, sizeof(exts));
	ch->n_exts = sizeof(exts) / 2;
	memcpy(ch->sigalgs, sig, sizeof(sig));
	ch->n_sigalgs = sizeof(sig) / 2;
	ch->versions[0] = 0x7a7a;
	ch->versions[1] = 0x0304;
	ch->versions[2] = 0x0303;
	ch->n_versions = 3;
	ch->legacy_version = 0x0303;
	ch->n_alpn = 1;
	ch->alpn[0] = (struct tt_tls_alpn){.len = 2, .last = '2', .name = "h2"};
	tt_tls_ja4(ch, 't', ja4);
	cr_expect_str_eq(ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	tt_tls_ja4(ch, 'q', ja4);
	cr_expect_eq(ja4[0], 'q');
	/* Non-alphanumeric ALPN bytes: first and last hex digits of the value. */
	ch->alpn[0] = (struct tt_tls_alpn){.len = 2, .last = 0xcd, .name = "\xab\xcd"};
	tt_tls_ja4(ch, 't', ja4);
	cr_expect_eq(memcmp(ja4, "t13d1516ad_", 11), 0, "%s", ja4);
	/* No SNI, no ALPN, no extensions, no ciphers, no supported_versions. */
	memset(ch, 0, sizeof(*ch));
	ch->legacy_version = 0x0301;
	tt_tls_ja4(ch, 't', ja4);
	cr_expect_str_eq(ja4, "t10i000000_000000000000_000000000000");
	/* JA3 keeps the empty fields, as salesforce/ja3 does (tshark 4.0 drops them). */
	{
		char s[TT_TLS_JA3_STR_MAX], md5[TT_TLS_MD5_HEX];

		cr_assert_eq(tt_tls_ja3(ch, s, sizeof(s), md5), 0);
		cr_expect_str_eq(s, "769,,,,");
	}
	free(ch);
}

Test(tls, tls12_certificate_of_a_2013_tor_relay)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "tor2013.pcap");
	const struct tt_tls_cert *c = &f->cert;

	cr_assert(f->has_cert);
	cr_expect_not(f->is_cert_bad);
	cr_expect_eq(c->n_certs, 1);
	cr_expect_eq(c->version, 3);
	cr_expect_str_eq(c->subject_cn, "www.g6ghvisevf3ibuu5.net");
	cr_expect_str_eq(c->issuer_cn, "www.xkgk7fdx362yyyxib.com");
	cr_expect_eq(c->n_subject_attrs, 1);
	cr_expect_eq(c->n_issuer_attrs, 1);
	cr_expect_eq(c->not_before, 1380758400); /* 2013-10-03 00:00:00 */
	cr_expect_eq(c->not_after, 1384819199);  /* 2013-11-18 23:59:59 */
	cr_expect_eq(c->serial_len, 8);
	cr_expect_eq(c->key_bits, 1024);
	cr_expect_not(c->has_extensions);
	cr_expect_not(c->is_self_issued);
	cr_expect_not(c->is_truncated);
	cr_expect_eq(tt_tls_cert_tor_traits(c), TT_TLS_CERT_ALL);
	cr_expect(tt_tls_cert_is_tor_like(c));
	walk_free(&w);
}

Test(tls, ca_certificate_is_not_tor_like)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "firefox-tls12.pcap");
	const struct tt_tls_cert *c = &f->cert;

	cr_assert(f->has_cert); /* it spans two TCP segments */
	cr_expect_eq(c->n_certs, 2);
	cr_expect_str_eq(c->subject_cn, "www.ntop.org");
	cr_expect_str_eq(c->issuer_cn, "Let's Encrypt Authority X3");
	cr_expect_eq(c->key_bits, 2048);
	cr_expect(c->has_extensions);
	cr_expect_eq(c->not_before, 1576545448);
	cr_expect_not(tt_tls_cert_is_tor_like(c));
	walk_free(&w);
}

/* ---- malformed input (run under ASan) --------------------------------------------------- */

/* Every prefix and every single-byte corruption of each message of a fixture: the parsers
 * must stay inside the buffer (each copy is malloc()ed to its exact size, so ASan sees any
 * read past it). */
static void mangle_messages(const char *file)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, file);

	for (unsigned d = 0; d < 2; d++) {
		struct tt_tls_hs *h = &f->hs[d];
		struct tt_tls_hs_msg m;

		h->off = 0;
		while (tt_tls_hs_next(h, &m) == 1) {
			struct tt_tls_client_hello *ch = malloc(sizeof(*ch));
			struct tt_tls_server_hello sh;
			struct tt_tls_cert c;
			char ja4[TT_TLS_JA4_SIZE], md5[TT_TLS_MD5_HEX];

			for (uint32_t n = 0; n <= m.len; n++) {
				uint8_t *cut = malloc(n ? n : 1);

				memcpy(cut, m.body, n);
				tt_tls_parse_client_hello(cut, n, ch);
				tt_tls_ja3(ch, NULL, 0, md5);
				tt_tls_ja4(ch, 't', ja4);
				tt_tls_parse_server_hello(cut, n, &sh);
				tt_tls_parse_certificate(cut, n, &c);
				tt_tls_parse_x509(cut, n, &c);
				free(cut);
			}
			for (uint32_t i = 0; i < m.len; i++) {
				uint8_t *bad = malloc(m.len);

				memcpy(bad, m.body, m.len);
				bad[i] = 0xff;
				tt_tls_parse_client_hello(bad, m.len, ch);
				tt_tls_ja4(ch, 't', ja4);
				tt_tls_parse_server_hello(bad, m.len, &sh);
				tt_tls_parse_certificate(bad, m.len, &c);
				bad[i] = 0x81;
				tt_tls_parse_certificate(bad, m.len, &c);
				free(bad);
			}
			free(ch);
		}
	}
	walk_free(&w);
}

Test(tls, truncated_and_corrupted_messages_stay_in_bounds)
{
	mangle_messages("tor2013.pcap");
	mangle_messages("tornet-tor-link.pcap");
	mangle_messages("chrome-ech-grease.pcap");
}

Test(tls, truncated_hello_reports_bad_message)
{
	struct pwalk w;
	struct tt_tls_flow *f = fixture_flow(&w, "tornet-tor-link.pcap");
	struct tt_tls_client_hello *ch = malloc(sizeof(*ch));
	struct tt_tls_hs_msg m;

	f->hs[0].off = 0;
	cr_assert_eq(tt_tls_hs_next(&f->hs[0], &m), 1);
	cr_expect_eq(tt_tls_parse_client_hello(m.body, m.len, ch), 0);
	cr_expect_eq(tt_tls_parse_client_hello(m.body, 60, ch), -EBADMSG);
	cr_expect_eq(tt_tls_parse_client_hello(m.body, m.len - 1, ch), -EBADMSG);
	cr_expect_eq(ch->n_ciphers, 18); /* what came before the cut is kept */
	free(ch);
	walk_free(&w);
}

Test(tls, random_bytes_through_the_whole_flow)
{
	struct tt_tls_flow *f = malloc(sizeof(*f));
	uint64_t x = 0x243f6a8885a308d3ull;

	for (int round = 0; round < 200; round++) {
		uint8_t seg[1500];

		tt_tls_flow_init(f);
		for (int k = 0; k < 20; k++) {
			uint32_t n = (uint32_t)(x % sizeof(seg));

			for (uint32_t i = 0; i < n; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				seg[i] = (uint8_t)x;
			}
			/* A plausible record header now and then keeps the walker going. */
			if (n >= 5 && (x & 1)) {
				seg[0] = 22;
				seg[1] = 3;
				seg[2] = 1;
				seg[3] = (uint8_t)(x >> 8 & 0x1f);
				seg[5] = (uint8_t)(x >> 16 & 3);
			}
			tt_tls_flow_add(
			    f, (x >> 3) & 1, (uint32_t)(x >> 32) % 4096, seg, n, k == 0);
		}
	}
	free(f);
}

/* ---- Tor traits --------------------------------------------------------------------------- */

struct sni_case {
	char sni[48];
	int want; /* enum tt_tls_sni_class */
};

ParameterizedTestParameters(tls, sni_classes)
{
	static struct sni_case cases[] = {
	    /* tornet (tor 0.4.9) and nDPI's 2013 tor.pcap */
	    {"www.pbebe3uuhzp3cdh4.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.tbvoqupn3eot6lxpjcfhl5.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.2lswoyq6.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.fkd3gohw.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.t3i3ru.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.jmts2id.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.gfu7hbxpfp.com", TT_TLS_SNI_TOR_RANDOM},
	    {"www.2kyy.com", TT_TLS_SNI_TOR_RANDOM}, /* 4 characters: the minimum */
	    {"www.aaaaaaaaaaaaaaaaaaaaaaaa2.com", TT_TLS_SNI_TOR_SHAPE}, /* 25, word-like */
	    /* the shape, but words (peers' traces) */
	    {"www.google.com", TT_TLS_SNI_TOR_SHAPE},
	    {"www.facebook.com", TT_TLS_SNI_TOR_SHAPE},
	    {"www.dazn.com", TT_TLS_SNI_TOR_SHAPE},
	    {"www.iflix.com", TT_TLS_SNI_TOR_SHAPE},
	    {"www.dota2.com", TT_TLS_SNI_TOR_SHAPE},
	    {"www.googletagmanager.com", TT_TLS_SNI_TOR_SHAPE},
	    /* not the shape */
	    {"www.1084bets10.com", TT_TLS_SNI_OTHER},     /* bets.pcapng: 0, 1, 8 not base32 */
	    {"www.n53xbldrsu2xjp.net", TT_TLS_SNI_OTHER}, /* a cert name, not an SNI */
	    {"www.abc.com", TT_TLS_SNI_OTHER},            /* 3 < 4 */
	    {"www.pbebe3uuhzp3cdh4pbebe3uuhz.com", TT_TLS_SNI_OTHER}, /* 26 > 25 */
	    {"www.PBEBE3UUHZP3CDH4.com", TT_TLS_SNI_OTHER},
	    {"ww.pbebe3uuhzp3cdh4.com", TT_TLS_SNI_OTHER},
	    {"www.corp.test", TT_TLS_SNI_OTHER},
	    {"www.x-y2zq.com", TT_TLS_SNI_OTHER},
	    {"", TT_TLS_SNI_OTHER},
	};

	return cr_make_param_array(struct sni_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct sni_case *c, tls, sni_classes)
{
	cr_expect_eq((int)tt_tls_sni_classify(c->sni, strlen(c->sni)), c->want, "%s", c->sni);
	cr_expect_eq(tt_tls_sni_is_tor_like(c->sni, strlen(c->sni)),
	    c->want == TT_TLS_SNI_TOR_RANDOM, "%s", c->sni);
}

Test(tls, p224_in_groups)
{
	static const uint16_t tor[] = {0x0017, 0x001d, 0x0015};
	static const uint16_t chrome[] = {0x4a4a, 0x11ec, 0x001d, 0x0017, 0x0018};

	cr_expect(tt_tls_groups_have_p224(tor, 3));
	cr_expect_not(tt_tls_groups_have_p224(chrome, 5));
	cr_expect_not(tt_tls_groups_have_p224(tor, 0));
}

Test(tls, cell_overhead_per_suite)
{
	cr_expect_eq(tt_tls_cell_overhead(0x0304, 0x1302), 17);
	cr_expect_eq(tt_tls_cell_overhead(0x0303, 0xc030), 24);
	cr_expect_eq(tt_tls_cell_overhead(0x0303, 0xcca8), 16);
	cr_expect_eq(tt_tls_cell_overhead(0x0303, 0xc013), -1); /* CBC */
	cr_expect_eq(tt_tls_cell_overhead(0x0301, 0xc013), -1);
}

static void add_recs(
    struct tt_tls_rec_len *r, unsigned *n, uint8_t srv, const uint16_t *len, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		r[(*n)++] = (struct tt_tls_rec_len){.len = len[i], .type = 23, .is_server = srv};
}

Test(tls, cell_framing_of_a_tls13_tor_link)
{
	/* The record lengths of tornet default-s1 client -> guard1 (client.pcap). */
	struct tt_tls_rec_len r[40];
	struct tt_tls_cell_stats st;
	unsigned n = 0;
	static const uint16_t s_hs[] = {19, 619, 281, 69}, c_fin[] = {69}, s_nst[] = {74},
			      c_vers[] = {28}, s_bundle[] = {74, 2049},
			      c_cells[] = {1045, 1045, 531, 1045},
			      s_cells[] = {531, 1045, 2073, 531};

	r[n++] = (struct tt_tls_rec_len){.len = 512, .type = 22, .is_server = 0};
	r[n++] = (struct tt_tls_rec_len){.len = 155, .type = 22, .is_server = 1};
	add_recs(r, &n, 1, s_hs, 4);
	add_recs(r, &n, 0, c_fin, 1);
	add_recs(r, &n, 1, s_nst, 1);
	add_recs(r, &n, 0, c_vers, 1);
	add_recs(r, &n, 1, s_bundle, 2);
	add_recs(r, &n, 0, c_cells, 4);
	add_recs(r, &n, 1, s_cells, 4);
	tt_tls_cell_score(r, n, 0x0304, 0x1302, &st);
	cr_expect_eq(st.overhead, 17);
	cr_expect(st.has_versions);
	cr_expect_eq(st.versions_len, 11);
	cr_expect(st.has_netinfo);
	cr_expect_eq(st.next_client_len, 1028);
	cr_expect(st.has_bundle);
	cr_expect_eq(st.bundle_len, 2032);
	cr_expect_eq(st.dir[0].n_app, 3);
	cr_expect_eq(st.dir[0].n_exact, 3);
	cr_expect_eq(st.dir[1].n_exact, 4);
	cr_expect_eq(st.dir[1].n_single, 2);
	cr_expect_eq(st.dir[1].longest_run, 4);
	cr_expect(st.is_d1);
	cr_expect(st.is_d2);
	cr_expect(tt_tls_cell_is_tor_like(&st));
	/* Unknown overhead (CBC): nothing is scored. */
	tt_tls_cell_score(r, n, 0x0303, 0xc013, &st);
	cr_expect_eq(st.overhead, -1);
	cr_expect_not(st.is_d1);
}

Test(tls, cell_framing_of_https)
{
	struct tt_tls_rec_len r[16];
	struct tt_tls_cell_stats st;
	unsigned n = 0;
	static const uint16_t s_hs[] = {19, 1024, 281, 69}, c_fin[] = {69}, c_req[] = {110, 40},
			      s_resp[] = {74, 74, 16401, 16401};

	add_recs(r, &n, 1, s_hs, 4);
	add_recs(r, &n, 0, c_fin, 1);
	add_recs(r, &n, 0, c_req, 2);
	add_recs(r, &n, 1, s_resp, 4);
	tt_tls_cell_score(r, n, 0x0304, 0x1302, &st);
	cr_expect_not(st.has_versions);
	cr_expect_eq(st.dir[0].n_app, 2);
	cr_expect_eq(st.dir[1].n_app, 4);
	cr_expect_eq(st.dir[0].n_exact + st.dir[1].n_exact, 0);
	cr_expect_not(st.is_d1);
	cr_expect_not(st.is_d2);
}

/* ---- fingerprint table ------------------------------------------------------------------ */

Test(tls, fingerprint_table_file_parses)
{
	char path[512];
	FILE *fp;
	char *text = malloc(1 << 16);
	size_t n;
	struct tt_tls_fp_table *t = malloc(sizeof(*t));
	unsigned bad = 0;
	const struct tt_tls_fp *e;

	snprintf(path, sizeof(path), "%s/../../data/tor-fingerprints.tsv", TT_TEST_DATA);
	fp = fopen(path, "r");
	cr_assert(fp, "%s", path);
	n = fread(text, 1, (1 << 16) - 1, fp);
	fclose(fp);
	cr_assert_eq(tt_tls_fp_table_parse(t, text, n, &bad), 0, "line %u", bad);
	cr_expect_eq(t->format_version, 2);
	cr_expect_geq(t->n, 6);
	e = tt_tls_fp_table_find(t, "ja3", "5e6627dc19afa982e6b46b97808cb718");
	cr_assert(e);
	cr_expect_str_eq(e->tor_version, "0.4.9.11 client");
	cr_expect_str_eq(e->captured, "2026-11-26");
	/* Every entry says when its capture was taken. */
	for (unsigned i = 0; i < t->n; i++)
		cr_expect(t->fp[i].captured[0], "entry %u has no capture date", i);
	cr_expect(tt_tls_fp_table_find(t, "ja4", "t13d181100_796efca44d18_d41ae481755e"));
	cr_expect_null(tt_tls_fp_table_find(t, "ja4", "5e6627dc19afa982e6b46b97808cb718"));
	free(text);
	free(t);
}

struct fp_bad_case {
	char text[160];
	int want_rc;
	unsigned want_line;
};

ParameterizedTestParameters(tls, fingerprint_table_errors)
{
	static struct fp_bad_case cases[] = {
	    {"", -EBADMSG, 1},
	    {"ja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\tz\n", -EBADMSG, 1},
	    {"# tortrace tor-fingerprints v3\n", -ENOTSUP, 1},
	    {"# tortrace tor-fingerprints v2\nja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\tz\n",
		-EBADMSG, 2}, /* v2 has six fields */
	    {"# tortrace tor-fingerprints v2\nja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\t2013-1"
	     "1\tz\n",
		-EBADMSG, 2}, /* not a date */
	    {"# tortrace tor-fingerprints v2\nja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\t2013\tz"
	     "\n",
		0, 0},
	    {"# tortrace tor-fingerprints v1\n\n# c\nja3\tZZ\tx\ty\tz\n", -EBADMSG, 4},
	    {"# tortrace tor-fingerprints v1\nja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\n",
		-EBADMSG, 2},
	    {"# tortrace tor-fingerprints v1\nja5\t5e6627dc19afa982e6b46b97808cb718\tx\ty\tz\n",
		-EBADMSG, 2},
	    {"# tortrace tor-fingerprints v1\nja4\tt13d181100_796efca44d18_d41ae481755\tx\ty\tz"
	     "\n",
		-EBADMSG, 2},
	    {"# tortrace tor-fingerprints v1\r\nja3\t5e6627dc19afa982e6b46b97808cb718\tx\ty\tz"
	     "\r\n",
		0, 0},
	};

	return cr_make_param_array(struct fp_bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct fp_bad_case *c, tls, fingerprint_table_errors)
{
	struct tt_tls_fp_table *t = malloc(sizeof(*t));
	unsigned line = 0;

	cr_expect_eq(
	    tt_tls_fp_table_parse(t, c->text, strlen(c->text), &line), c->want_rc, "%s", c->text);
	cr_expect_eq(line, c->want_line, "%s", c->text);
	free(t);
}

Test(tls, fingerprint_table_is_bounded)
{
	size_t cap = 64 + (TT_TLS_FP_MAX + 1) * 64, n = 0;
	char *text = malloc(cap);
	struct tt_tls_fp_table *t = malloc(sizeof(*t));
	unsigned line = 0;

	n += (size_t)snprintf(text + n, cap - n, "# tortrace tor-fingerprints v1\n");
	for (unsigned i = 0; i <= TT_TLS_FP_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n, "ja3\t%032x\ta\tb\tc\n", i);
	cr_expect_eq(tt_tls_fp_table_parse(t, text, n, &line), -ENOSPC);
	cr_expect_eq(line, TT_TLS_FP_MAX + 2);
	free(text);
	free(t);
}

/* ---- the tornet ground truth --------------------------------------------------------- */

struct label {
	char key[64]; /* "client_ip,client_port,server_ip,server_port" */
	char label[24];
};

static unsigned load_labels(const char *path, struct label *out, unsigned cap)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	unsigned n = 0;

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp) && n < cap) {
		char *c[8], *s = line;
		int k = 0;

		for (; k < 8 && s; k++) {
			c[k] = s;
			s = strchr(s, ',');
			if (s)
				*s++ = '\0';
		}
		if (k < 8 || strcmp(c[1], "tcp") != 0)
			continue;
		snprintf(out[n].key, sizeof(out[n].key), "%s,%s,%s,%s", c[2], c[3], c[4], c[5]);
		snprintf(out[n].label, sizeof(out[n].label), "%s", c[6]);
		n++;
	}
	fclose(fp);
	return n;
}

static const char *flow_label(const struct pflow *f, const struct label *l, unsigned n)
{
	char key[64];

	snprintf(key, sizeof(key), "%u.%u.%u.%u,%u,%u.%u.%u.%u,%u", f->ip[0][0], f->ip[0][1],
	    f->ip[0][2], f->ip[0][3], f->port[0], f->ip[1][0], f->ip[1][1], f->ip[1][2],
	    f->ip[1][3], f->port[1]);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(l[i].key, key) == 0)
			return l[i].label;
	return "";
}

Test(tls, tor_helpers_follow_the_tornet_labels)
{
	static const char *const runs[] = {"default-s1", "bridge-s2", "obfs4-s5"};
	unsigned n_tor = 0, n_https = 0;
	struct label *labels = malloc(512 * sizeof(*labels));

	for (unsigned k = 0; k < 3; k++) {
		char path[512];
		unsigned n_labels;
		struct pwalk w;

		snprintf(
		    path, sizeof(path), "%s/tornet/%s/client.flows.csv", TT_CORPUS_DIR, runs[k]);
		n_labels = load_labels(path, labels, 512);
		if (n_labels == 0) {
			free(labels);
			cr_skip_test("shared corpus not found (%s)", path);
		}
		snprintf(path, sizeof(path), "%s/tornet/%s/client.pcap", TT_CORPUS_DIR, runs[k]);
		cr_assert(walk_file(&w, path, 512), "%s", path);
		for (unsigned i = 0; i < w.n; i++) {
			const struct pflow *f = &w.flows[i];
			const char *l = flow_label(f, labels, n_labels);
			bool is_tor = !strcmp(l, "tor-link") || !strcmp(l, "tor-bridge");
			const struct tt_tls_flow *t = f->t;
			struct tt_tls_cell_stats st;
			bool is_sni, is_p224;

			if (!is_tor && strcmp(l, "non-tor-https") != 0)
				continue;
			cr_assert(f->is_tls && t->has_ch && t->has_sh, "%s flow %u", runs[k], i);
			tt_tls_cell_score(t->recs, t->n_recs, t->sh.version, t->sh.cipher, &st);
			is_sni = tt_tls_sni_is_tor_like(t->ch.sni, t->ch.sni_len);
			is_p224 = tt_tls_groups_have_p224(t->ch.groups, t->ch.n_groups);
			cr_expect_eq(is_sni, is_tor, "%s %s %s", runs[k], l, t->ch.sni);
			cr_expect_eq(is_p224, is_tor, "%s %s %s", runs[k], l, t->ch.sni);
			cr_expect_eq(st.is_d1, is_tor, "%s %s %s", runs[k], l, t->ch.sni);
			cr_expect_eq(st.is_d2, is_tor, "%s %s %s", runs[k], l, t->ch.sni);
			cr_expect_eq(tt_tls_client_hello_tor_traits(&t->ch) == 0x7f, is_tor);
			n_tor += is_tor;
			n_https += !is_tor;
		}
		walk_free(&w);
	}
	free(labels);
	cr_expect_eq(n_tor, 4);    /* 3 tor-link + 1 tor-bridge */
	cr_expect_eq(n_https, 44); /* 15 + 18 + 11 non-tor-https */
}

/* ---- mid-stream: resync and cipher-blind cell framing ------------------------------ */

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Records of type 23, version 3.3, the given lengths, random contents (ciphertext).
 * Returns the bytes written; offs[i] gets each record's offset. */
static size_t put_cipher_records(
    uint8_t *p, size_t cap, const uint16_t *len, unsigned n, uint32_t seed, uint32_t *offs)
{
	size_t o = 0;

	for (unsigned i = 0; i < n && o + 5u + len[i] <= cap; i++) {
		if (offs)
			offs[i] = (uint32_t)o;
		p[o] = 23;
		p[o + 1] = 3;
		p[o + 2] = 3;
		p[o + 3] = (uint8_t)(len[i] >> 8);
		p[o + 4] = (uint8_t)len[i];
		for (unsigned j = 0; j < len[i]; j++)
			p[o + 5 + j] = (uint8_t)xorshift(&seed);
		o += 5u + len[i];
	}
	return o;
}

/* Feed buf[0, n) to a direction of a mid-stream flow in segments of seg bytes; buf[0] is
 * at stream offset at (sequence numbers start at an arbitrary 123456789). */
static void feed_midstream_at(
    struct tt_tls_flow *f, bool is_server, const uint8_t *buf, size_t n, uint32_t seg, uint32_t at)
{
	uint32_t seq = 123456789u + at;

	for (size_t o = 0; o < n; o += seg) {
		uint32_t k = (uint32_t)(n - o < seg ? n - o : seg);

		tt_tls_flow_add(f, is_server, seq, buf + o, k, false);
		seq += k;
	}
}

static void feed_midstream(
    struct tt_tls_flow *f, bool is_server, const uint8_t *buf, size_t n, uint32_t seg)
{
	feed_midstream_at(f, is_server, buf, n, seg, 0);
}

static struct tt_tls_flow *new_midstream_flow(void)
{
	struct tt_tls_flow *f = malloc(sizeof(*f));

	cr_assert(f);
	tt_tls_flow_init_midstream(f);
	return f;
}

Test(tls, midstream_flow_init_marks_both_streams)
{
	struct tt_tls_flow *f = new_midstream_flow();

	cr_expect(f->st[0].flags & TT_TLS_STREAM_RESYNC);
	cr_expect(f->st[1].flags & TT_TLS_STREAM_RESYNC);
	cr_expect_eq(f->n_recs, 0);
	free(f);
}

/* The lengths of tornet default-s1 client -> guard1 in its cell phase (TLS 1.3). */
static const uint16_t tor_client_lens[] = {
    531, 1045, 531, 531, 1045, 531, 531, 531, 1045, 531, 531, 531, 531, 1045, 531, 531, 531, 531};

Test(tls, resync_at_every_offset_of_a_tor_record_stream)
{
	enum { N = sizeof(tor_client_lens) / sizeof(tor_client_lens[0]) };
	uint8_t *buf = malloc(16384);
	uint32_t offs[N], total, end2;

	cr_assert(buf);
	total = (uint32_t)put_cipher_records(buf, 16384, tor_client_lens, N, 7, offs);
	/* Every start offset up to the third-last record must resync to the next boundary. */
	end2 = offs[N - 3];
	for (uint32_t k = 0; k <= end2; k++) {
		uint32_t scan = 0, off = 0, want = 0;
		uint32_t n = total - k < TT_TLS_STREAM_CAP ? total - k : TT_TLS_STREAM_CAP;
		int rc = tt_tls_resync(buf + k, n, n == TT_TLS_STREAM_CAP, &scan, &off);

		for (unsigned i = 0; i < N; i++)
			if (offs[i] >= k) {
				want = offs[i] - k;
				break;
			}
		cr_assert_eq(rc, 1, "offset %u", k);
		cr_assert_eq(off, want, "offset %u: resync at %u, boundary at %u", k, off, want);
	}
	free(buf);
}

Test(tls, resync_through_the_flow_walks_real_tor_records)
{
	/* The server direction of a real tor link (tornet-tor-link.pcap), cut at every
	 * offset: the walk must start on a true record boundary and find the same records. */
	struct pwalk w;
	struct tt_tls_flow *t = fixture_flow(&w, "tornet-tor-link.pcap");
	const struct tt_tls_stream *s = &t->st[1];
	uint32_t bounds[64], nb = 0, o = 0;
	struct tt_tls_flow *f = new_midstream_flow();

	while (o + 5 <= s->len && nb < 64) {
		bounds[nb++] = o;
		o += 5u + (uint32_t)(s->buf[o + 3] << 8 | s->buf[o + 4]);
	}
	cr_assert_geq(nb, 8);
	for (uint32_t k = 0; k < s->len; k++) {
		unsigned first = 0, n_after;

		while (first < nb && bounds[first] < k)
			first++;
		n_after = nb - first;
		tt_tls_flow_init_midstream(f);
		feed_midstream(f, true, s->buf + k, s->len - k, 1448);
		if (!(f->st[1].flags & TT_TLS_STREAM_SYNCED)) {
			/* Too little left to settle a boundary: fewer than 3 records. */
			cr_assert_lt(
			    n_after, 3, "offset %u: no resync with %u records left", k, n_after);
			continue;
		}
		cr_assert_eq(f->st[1].sync_off + k, bounds[first], "offset %u", k);
		cr_assert_eq(f->n_recs, n_after, "offset %u", k);
	}
	free(f);
	walk_free(&w);
}

Test(tls, random_bytes_do_not_resync)
{
	uint8_t *buf = malloc(TT_TLS_STREAM_CAP);
	uint32_t seed = 2463534242u;

	cr_assert(buf);
	for (unsigned t = 0; t < 300; t++) {
		uint32_t scan = 0, off;

		for (unsigned i = 0; i < TT_TLS_STREAM_CAP; i++)
			buf[i] = (uint8_t)xorshift(&seed);
		cr_assert_eq(tt_tls_resync(buf, TT_TLS_STREAM_CAP, true, &scan, &off), -EBADMSG,
		    "trial %u: false resync at %u", t, off);
	}
	free(buf);
}

/* A mid-stream flow fed text (both directions) ends with no record and no item. */
static void expect_no_tls(const char *text, const char *what)
{
	uint8_t *buf = malloc(TT_TLS_STREAM_CAP + 1000);
	struct tt_tls_flow *f = new_midstream_flow();
	struct tt_tls_midstream_stats st;
	size_t n = strlen(text), o = 0;

	cr_assert(buf);
	while (o < TT_TLS_STREAM_CAP + 1000) {
		size_t k = n < TT_TLS_STREAM_CAP + 1000 - o ? n : TT_TLS_STREAM_CAP + 1000 - o;

		memcpy(buf + o, text, k);
		o += k;
	}
	for (size_t skip = 0; skip < 64; skip += 7) {
		tt_tls_flow_init_midstream(f);
		feed_midstream(f, false, buf + skip, TT_TLS_STREAM_CAP + 900, 1448);
		feed_midstream(f, true, buf + skip + 13, TT_TLS_STREAM_CAP + 900, 1448);
		cr_expect_eq(f->n_recs, 0, "%s from %zu", what, skip);
		cr_expect(f->st[0].flags & TT_TLS_STREAM_NOT_TLS, "%s", what);
		cr_expect(f->st[1].flags & TT_TLS_STREAM_NOT_TLS, "%s", what);
		tt_tls_midstream_score(f->recs, f->n_recs, &st);
		cr_expect_not(tt_tls_midstream_is_tor_like(&st), "%s", what);
	}
	free(f);
	free(buf);
}

Test(tls, http_does_not_resync)
{
	expect_no_tls("GET /files/report.pdf HTTP/1.1\r\nHost: www.example.org\r\n"
		      "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1024\r\n\r\n"
		      "<html><body><p>The quick brown fox jumps over the lazy dog.</p>\n",
	    "http");
}

Test(tls, ssh_does_not_resync)
{
	/* The clear start of SSH (banner, KEXINIT: message 20 = a TLS CCS type byte), then
	 * encrypted packets: random bytes behind 4-byte lengths. */
	uint8_t *buf = malloc(TT_TLS_STREAM_CAP);
	struct tt_tls_flow *f = new_midstream_flow();
	struct tt_tls_midstream_stats st;
	static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
	uint32_t seed = 99, o;

	cr_assert(buf);
	memcpy(buf, banner, sizeof(banner) - 1);
	o = sizeof(banner) - 1;
	/* KEXINIT: length, padding length, 20, cookie, then name lists. */
	memcpy(buf + o, "\x00\x00\x05\xdc\x06\x14", 6);
	o += 6;
	while (o < TT_TLS_STREAM_CAP) {
		buf[o] = o % 97 < 4 ? 0 : (uint8_t)xorshift(&seed);
		o++;
	}
	for (uint32_t skip = 0; skip < 48; skip += 5) {
		tt_tls_flow_init_midstream(f);
		feed_midstream(f, false, buf + skip, TT_TLS_STREAM_CAP - skip, 1448);
		cr_expect_eq(f->n_recs, 0, "from %u", skip);
		tt_tls_midstream_score(f->recs, f->n_recs, &st);
		cr_expect_not(tt_tls_midstream_is_tor_like(&st));
	}
	free(f);
	free(buf);
}

Test(tls, midstream_tor_client_direction_fires)
{
	enum { N = sizeof(tor_client_lens) / sizeof(tor_client_lens[0]) };
	static const int ovh[] = {17, 24, 16};
	uint8_t *buf = malloc(16384);
	struct tt_tls_flow *f = new_midstream_flow();
	struct tt_tls_midstream_stats st;

	cr_assert(buf);
	/* The same cell counts under TLS 1.3, TLS 1.2 AES-GCM and ChaCha20, cut mid-record. */
	for (unsigned v = 0; v < 3; v++) {
		uint16_t lens[N];
		size_t n;

		for (unsigned i = 0; i < N; i++)
			lens[i] = (uint16_t)(tor_client_lens[i] - 17 + ovh[v]);
		n = put_cipher_records(buf, 16384, lens, N, 11 + v, NULL);
		tt_tls_flow_init_midstream(f);
		feed_midstream(f, false, buf + 300, n - 300, 1448);
		cr_assert(f->st[0].flags & TT_TLS_STREAM_SYNCED);
		cr_expect_eq(f->st[0].sync_off, lens[0] + 5 - 300);
		tt_tls_midstream_score(f->recs, f->n_recs, &st);
		cr_expect_eq(st.dir[0].overhead, ovh[v]);
		cr_expect_eq(st.dir[0].n_fit, st.dir[0].n_app);
		cr_expect_geq(st.dir[0].n_app, TT_TLS_MS_MIN_RECS);
		cr_expect_eq(st.best_dir, 0);
		cr_expect(tt_tls_midstream_is_tor_like(&st), "overhead %d", ovh[v]);
	}
	free(f);
	free(buf);
}

Test(tls, midstream_https_does_not_fire)
{
	/* Real non-tor TLS bytes (Firefox TLS 1.2 ChaCha20, OpenSSL TLS 1.3), cut at every
	 * offset of their first records, then a synthetic browsing-like stream. */
	static const char *files[] = {
	    "firefox-tls12.pcap", "tornet-https.pcap", "chrome-ech-grease.pcap", "bets.pcap"};
	static const uint16_t web[] = {
	    110, 40, 16401, 16401, 74, 1380, 4113, 517, 33, 293, 16401, 2048, 38, 26, 16401, 901};
	struct tt_tls_midstream_stats st;
	struct tt_tls_flow *f = new_midstream_flow();
	uint8_t *buf = malloc(65536);

	cr_assert(buf);
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct pwalk w;
		struct tt_tls_flow *t = fixture_flow(&w, files[i]);

		for (unsigned d = 0; d < 2; d++)
			for (uint32_t k = 0; k < 600 && k < t->st[d].len; k++) {
				tt_tls_flow_init_midstream(f);
				feed_midstream(f, d, t->st[d].buf + k, t->st[d].len - k, 1448);
				tt_tls_midstream_score(f->recs, f->n_recs, &st);
				cr_assert_not(tt_tls_midstream_is_tor_like(&st),
				    "%s dir %u from %u", files[i], d, k);
			}
		walk_free(&w);
	}
	for (uint32_t k = 0; k < 400; k += 3) {
		size_t n = put_cipher_records(buf, 65536, web, 16, 5, NULL);

		tt_tls_flow_init_midstream(f);
		feed_midstream(f, true, buf + k, n - k, 1448);
		feed_midstream(f, false, buf + k, n - k, 1448);
		tt_tls_midstream_score(f->recs, f->n_recs, &st);
		cr_assert_not(tt_tls_midstream_is_tor_like(&st), "from %u", k);
	}
	free(buf);
	free(f);
}

Test(tls, midstream_records_cut_by_the_buffer_end)
{
	/* The tail of a record, then a 4 KB record, then a 16 KB one that crosses the 8 KiB
	 * cap: only two headers fit, so the boundary is settled when the buffer is full
	 * (rule c), and the last record comes back truncated with its header's length. */
	static const uint16_t lens[] = {3000, 4101, 16401};
	uint8_t *buf = malloc(32768);
	struct tt_tls_flow *f = new_midstream_flow();
	size_t n;

	cr_assert(buf);
	n = put_cipher_records(buf, 32768, lens, 3, 3, NULL);
	tt_tls_flow_init_midstream(f);
	feed_midstream(f, true, buf + 1000, 4000, 1448); /* not yet: one header only */
	cr_expect_not(f->st[1].flags & TT_TLS_STREAM_SYNCED);
	cr_expect_eq(f->n_recs, 0);
	feed_midstream_at(f, true, buf + 5000, n - 5000, 1448, 4000);
	cr_assert(f->st[1].flags & TT_TLS_STREAM_SYNCED);
	cr_expect(f->st[1].flags & TT_TLS_STREAM_FULL);
	cr_expect_eq(f->st[1].sync_off, 3005 - 1000);
	cr_assert_eq(f->n_recs, 2);
	cr_expect_eq(f->recs[0].len, 4101);
	cr_expect_eq(f->recs[1].len, 16401);
	/* Encrypted: the direction now follows headers, the next one past the cut record. */
	cr_expect(f->st[1].flags & TT_TLS_STREAM_FOLLOW);
	cr_expect_eq(f->st[1].fol.hdr_off, 3005 - 1000 + 5 + 4101 + 5 + 16401);
	cr_expect_not(tt_tls_stream_is_done(&f->st[1]));
	free(f);
	free(buf);
}

Test(tls, resync_two_headers_need_a_boundary_at_the_end)
{
	static const uint16_t lens[] = {600, 531, 531};
	uint8_t buf[2048];
	uint32_t offs[3], scan = 0, off = 0;
	size_t n = put_cipher_records(buf, sizeof(buf), lens, 3, 1, offs);

	/* From inside record 0: headers 1 and 2 chain; the data ends exactly on record 2's
	 * end (rule b). */
	cr_expect_eq(tt_tls_resync(buf + 100, (uint32_t)n - 100, false, &scan, &off), 1);
	cr_expect_eq(off, offs[1] - 100);
	/* The same, one byte short: pending (more bytes may come), then settled. */
	scan = 0;
	cr_expect_eq(tt_tls_resync(buf + 100, (uint32_t)n - 101, false, &scan, &off), 0);
	cr_expect_eq(tt_tls_resync(buf + 100, (uint32_t)n - 100, false, &scan, &off), 1);
	cr_expect_eq(off, offs[1] - 100);
	/* One header alone never settles, even at a boundary or with a full buffer; two do
	 * with a full buffer (rule c). */
	scan = 0;
	cr_expect_eq(tt_tls_resync(buf + 100, offs[2] - 100, false, &scan, &off), 0);
	scan = 0;
	cr_expect_eq(tt_tls_resync(buf + 100, offs[2] - 100 + 3, true, &scan, &off), -EBADMSG);
	scan = 0;
	cr_expect_eq(tt_tls_resync(buf + 100, offs[2] - 100 + 50, true, &scan, &off), 1);
	cr_expect_eq(off, offs[1] - 100);
	/* A version change breaks the chain. */
	buf[offs[2] + 2] = 1;
	scan = 0;
	cr_expect_eq(tt_tls_resync(buf + 100, (uint32_t)n - 100, false, &scan, &off), 0);
}

Test(tls, midstream_score_counts_per_overhead)
{
	struct tt_tls_rec_len r[16];
	struct tt_tls_midstream_stats st;
	unsigned n = 0;
	/* TLS 1.2 AES-GCM: 514n + 24, one odd record in seven. */
	static const uint16_t gcm[] = {538, 538, 1052, 538, 777, 538, 2080};
	static const uint16_t five[] = {531, 531, 531, 531, 531};

	add_recs(r, &n, 0, gcm, 7);
	r[n++] = (struct tt_tls_rec_len){.len = 538, .type = 21, .is_server = 0}; /* alert */
	tt_tls_midstream_score(r, n, &st);
	cr_expect_eq(st.dir[0].n_app, 7);
	cr_expect_eq(st.dir[0].n_fit, 6);
	cr_expect_eq(st.dir[0].n_single, 4);
	cr_expect_eq(st.dir[0].overhead, 24);
	cr_expect_eq(st.dir[1].n_app, 0);
	cr_expect_eq(st.best_dir, 0);
	cr_expect(tt_tls_midstream_is_tor_like(&st)); /* 6/7 = 86 % >= 80 % */
	/* Two odd records in seven: 71 %, below the share. */
	r[0].len = 600;
	tt_tls_midstream_score(r, n, &st);
	cr_expect_not(tt_tls_midstream_is_tor_like(&st));
	/* Five whole cells are too few records. */
	n = 0;
	add_recs(r, &n, 1, five, 5);
	tt_tls_midstream_score(r, n, &st);
	cr_expect_eq(st.dir[1].n_fit, 5);
	cr_expect_eq(st.best_dir, 1);
	cr_expect_not(tt_tls_midstream_is_tor_like(&st));
	/* Nothing at all. */
	tt_tls_midstream_score(r, 0, &st);
	cr_expect_eq(st.best_dir, -1);
	cr_expect_eq(tt_tls_midstream_overhead(0), 17);
	cr_expect_eq(tt_tls_midstream_overhead(TT_TLS_MS_N_OVERHEADS), -1);
}

Test(tls, midstream_flow_from_the_client_hello_keeps_the_handshake)
{
	/* A flow whose SYN was missed but whose first payload is the ClientHello (record
	 * version 3.1, then 3.3): the walk starts at 0 and the hellos are parsed. */
	struct pwalk w;
	struct tt_tls_flow *t = fixture_flow(&w, "tornet-tor-link.pcap");
	struct tt_tls_flow *f = new_midstream_flow();

	feed_midstream(f, false, t->st[0].buf, t->st[0].len, 1448);
	feed_midstream(f, true, t->st[1].buf, t->st[1].len, 1448);
	cr_assert(f->st[0].flags & TT_TLS_STREAM_SYNCED);
	cr_expect_eq(f->st[0].sync_off, 0);
	cr_expect_eq(f->st[1].sync_off, 0);
	cr_expect(f->has_ch);
	cr_expect(f->has_sh);
	cr_expect_eq(f->n_recs, t->n_recs);
	cr_expect_str_eq(f->ch.sni, t->ch.sni);
	free(f);
	walk_free(&w);
}

/* ---- framing by cipher suite, the header follower, cell bursts (issue 7) ------------ */

Test(tls, framing_of_negotiated_suites)
{
	struct tt_tls_framing fr;

	cr_assert_eq(tt_tls_framing_of(0x0304, 0x1301, &fr), 0);
	cr_expect_eq(fr.kind, TT_TLS_FRAMING_FIXED);
	cr_expect_eq(fr.fixed, 17);
	cr_expect_eq(tt_tls_framing_cells(&fr, 531), 1);
	cr_expect_eq(tt_tls_framing_cells(&fr, 2073), 4);
	cr_expect_eq(tt_tls_framing_cells(&fr, 4065), 0); /* 4048: a bulk chunk cuts cells */
	/* TLS 1.0 ECDHE-RSA-AES128-SHA (tor.pcap, 2013): 514 or 512 + 20 MAC + 1 -> 544. */
	cr_assert_eq(tt_tls_framing_of(0x0301, 0xc013, &fr), 0);
	cr_expect_eq(fr.kind, TT_TLS_FRAMING_CBC);
	cr_expect_eq(fr.iv, 0);
	cr_expect_eq(fr.mac, 20);
	cr_expect_eq(tt_tls_framing_cells(&fr, 544), 1);
	cr_expect_eq(tt_tls_framing_cells(&fr, 3104), 6); /* 6 x 512 = 3072 (+21 -> 3104) */
	cr_expect_eq(tt_tls_framing_cells(&fr, 32), -1);  /* an empty fragment */
	cr_expect_eq(tt_tls_framing_cells(&fr, 1520), 0); /* the relay's bundle */
	cr_expect_eq(tt_tls_framing_cells(&fr, 545), 0);  /* not a block multiple */
	/* TLS 1.2 CBC adds an explicit IV; SHA-256 a 32-byte MAC. */
	cr_assert_eq(tt_tls_framing_of(0x0303, 0xc013, &fr), 0);
	cr_expect_eq(tt_tls_framing_cells(&fr, 560), 1);
	cr_expect_eq(tt_tls_framing_cells(&fr, 544), 0);
	cr_assert_eq(tt_tls_framing_of(0x0303, 0xc027, &fr), 0);
	cr_expect_eq(fr.mac, 32);
	cr_expect_eq(tt_tls_framing_cells(&fr, 16 + 560), 1); /* 514 + 32 + 1 -> 560 */
	/* RC4-SHA: a stream cipher adds only the MAC. */
	cr_assert_eq(tt_tls_framing_of(0x0301, 0x0005, &fr), 0);
	cr_expect_eq(tt_tls_framing_cells(&fr, 534), 1);
	cr_expect_eq(tt_tls_framing_cells(&fr, 532), 1);
	cr_expect_eq(tt_tls_framing_of(0x0303, 0x1234, &fr), -ENOENT);
	cr_expect_eq(tt_tls_framing_cells(&fr, 531), 0);
}

/* A 2013-style link (TLS 1.0, CBC, OpenSSL's empty fragment before every record, 512-byte
 * cells), with the record lengths of nDPI's tor.pcap: D2 judges it by the suite's framing. */
Test(tls, cbc_tls10_tor_link_gets_d2)
{
	struct tt_tls_rec_len r[48];
	struct tt_tls_cell_stats st;
	unsigned n = 0;
	static const uint16_t c_app[] = {32, 32, 32, 544, 32, 544, 32, 544, 32, 544, 32, 544},
			      s_app[] = {32, 1520, 32, 544, 32, 544, 32, 3104, 32, 544, 32, 544};

	r[n++] = (struct tt_tls_rec_len){.len = 210, .type = 22, .is_server = 0};
	r[n++] = (struct tt_tls_rec_len){.len = 57, .type = 22, .is_server = 1};
	add_recs(r, &n, 0, c_app, 12);
	add_recs(r, &n, 1, s_app, 12);
	tt_tls_cell_score(r, n, 0x0301, 0xc013, &st);
	cr_expect_eq(st.framing.kind, TT_TLS_FRAMING_CBC);
	cr_expect(st.has_versions);
	/* 1520 is the 2013 relay's first bundle: taken as the bundle (not counted as a
	 * record), though shorter than tor 0.4's (D1 is not claimed for 2013). */
	cr_expect_gt(st.bundle_len, 1400);
	cr_expect_not(st.has_bundle);
	cr_expect_eq(st.dir[0].n_exact, st.dir[0].n_app);
	cr_expect(st.is_d2, "client %u/%u server %u/%u", st.dir[0].n_exact, st.dir[0].n_app,
	    st.dir[1].n_exact, st.dir[1].n_app);
	/* The same lengths under TLS 1.2 (explicit IV): nothing fits. */
	tt_tls_cell_score(r, n, 0x0303, 0xc013, &st);
	cr_expect_not(st.is_d2);
}

/* Records of lens[0, n) as one byte stream (type 23, version 3.3). */
static size_t put_records(uint8_t *p, size_t cap, const uint16_t *lens, unsigned n)
{
	return put_cipher_records(p, cap, lens, n, 7, NULL);
}

Test(tls, follower_reads_headers_only_across_segments)
{
	enum { N = 300 };
	uint16_t lens[N];
	uint8_t *buf = malloc(N * 4200);
	struct tt_tls_flow *f = malloc(sizeof(*f));
	size_t n;

	cr_assert(buf && f);
	for (unsigned i = 0; i < N; i++)
		lens[i] = (uint16_t)(i % 5 == 4 ? 273 : 4065);
	n = put_records(buf, N * 4200, lens, N);
	tt_tls_flow_init(f);
	/* A flow from its SYN; the server's first record is application data (encrypted). */
	tt_tls_flow_add(f, true, 999, NULL, 0, true);
	for (size_t o = 0; o < n; o += 1448) {
		uint32_t k = (uint32_t)(n - o < 1448 ? n - o : 1448);

		tt_tls_flow_add(f, true, 1000 + (uint32_t)o, buf + o, k, false);
	}
	cr_expect(f->st[1].flags & TT_TLS_STREAM_FOLLOW);
	cr_expect_lt(f->st[1].len, 2 * 4070, "payload kept copying: %u", f->st[1].len);
	cr_assert_eq(f->n_app[1], TT_TLS_FOLLOW_RECS);
	for (unsigned i = 0; i < TT_TLS_FOLLOW_RECS; i++)
		cr_assert_eq(f->app_lens[1][i], lens[i], "record %u", i);
	cr_expect(tt_tls_flow_is_done(f) == false); /* the client side is still open */
	free(f);
	free(buf);
}

Test(tls, follower_gathers_split_and_reordered_headers)
{
	static const uint16_t lens[] = {531, 1045, 17, 531, 2073};
	uint8_t buf[8192];
	struct tt_tls_stream *s = malloc(sizeof(*s));
	struct tt_tls_record r;
	size_t n = put_records(buf, sizeof(buf), lens, 5);
	unsigned got = 0;
	uint32_t h2 = 536 + 1050; /* the third header */

	cr_assert(s);
	tt_tls_stream_init(s);
	tt_tls_stream_add(s, 5000, buf, 3, false); /* 3 bytes of the first header */
	cr_assert_eq(tt_tls_stream_next_record(s, &r), 0);
	tt_tls_stream_start_follow(s);
	cr_expect_eq(s->fol.hdr_mask, 0x7);
	/* The rest, in two segments, the later one first; the third header is split. */
	cr_expect_eq(tt_tls_stream_follow(
			 s, 5000 + (uint32_t)h2 + 2, buf + h2 + 2, (uint32_t)(n - h2 - 2), &r),
	    0);
	while (tt_tls_stream_follow(s, 5003, buf + 3, (uint32_t)(h2 + 2 - 3), &r) == 1)
		cr_expect_eq(r.length, lens[got++]);
	cr_expect_eq(got, 2);
	cr_expect_eq(s->fol.hdr_mask, 0x3); /* 2 bytes of the third header */
	/* A retransmission of the later segment completes it and the rest. */
	while (tt_tls_stream_follow(
		   s, 5000 + (uint32_t)h2 + 2, buf + h2 + 2, (uint32_t)(n - h2 - 2), &r) == 1)
		cr_expect_eq(r.length, lens[got++]);
	cr_expect_eq(got, 5);
	/* A header that is not TLS stops following. */
	buf[0] = 0x99;
	tt_tls_stream_init(s);
	tt_tls_stream_add(s, 1, buf, 3, false);
	tt_tls_stream_start_follow(s);
	cr_expect_eq(tt_tls_stream_follow(s, 4, buf + 3, 100, &r), -EBADMSG);
	cr_expect(s->flags & TT_TLS_STREAM_LOST);
	cr_expect(tt_tls_stream_is_done(s) == false || (s->flags & TT_TLS_STREAM_FOLLOW));
	free(s);
}

/* Tor 0.4.9's relay -> client bulk (bridge-s11, TLS 1.3): 32-cell bursts written as
 * 4 x 4048 + 256 plaintext bytes, then partial bursts; the window starts mid-burst. */
static const uint16_t tor_bulk_lens[] = {3809, 4065, 4065, 4065, 529, 3553, 4065, 4065, 4065, 785,
    3297, 4065, 4065, 4065, 1041, 3041, 4065, 4065, 4065, 1297, 2785, 4065, 4065, 4065, 1553, 2529,
    4065, 4065, 4065, 1809, 2273, 4065, 4065, 4065, 2065, 2017, 2129};

Test(tls, cell_bursts_of_a_tor_download_get_d4)
{
	const unsigned n_bulk = sizeof(tor_bulk_lens) / sizeof(tor_bulk_lens[0]);
	uint16_t lens[2][TT_TLS_FOLLOW_RECS];
	const uint16_t *lp[2] = {lens[0], lens[1]};
	unsigned n[2] = {0, n_bulk};
	struct tt_tls_midstream_stats st;

	/* From the 3rd record on: the first burst is partial (the window's head). */
	for (unsigned i = 0; i + 2 < n_bulk; i++)
		lens[1][i] = tor_bulk_lens[i + 2];
	n[1] = n_bulk - 2;
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect(st.is_bursts, "burst %u of %u", st.dir[1].n_burst, n[1]);
	cr_expect(st.dir[1].is_d4);
	cr_expect_not(st.dir[1].is_d3); /* the chunks are not whole cells */
	/* Each record adds its overhead, so with 24 (TLS 1.2 GCM) the bursts align under 24. */
	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(lens[1][i] + 7);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect(st.is_bursts);
	/* One constant length never counts, even if it aligns. */
	for (unsigned i = 0; i < 40; i++)
		lens[1][i] = 1045;
	n[1] = 40;
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect(st.dir[1].is_d3);
	cr_expect_not(st.is_bursts);
	/* Too few records. */
	n[1] = TT_TLS_BURST_MIN_RECS - 1;
	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = tor_bulk_lens[i];
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.is_bursts);
}

Test(tls, random_record_lengths_do_not_make_bursts)
{
	uint16_t lens[2][TT_TLS_FOLLOW_RECS];
	const uint16_t *lp[2] = {lens[0], lens[1]};
	unsigned n[2] = {TT_TLS_FOLLOW_RECS, TT_TLS_FOLLOW_RECS}, n_fire = 0;
	uint32_t seed = 12345;
	struct tt_tls_midstream_stats st;

	for (unsigned trial = 0; trial < 200; trial++) {
		/* Browsing-like: many full 16 KiB records, the rest anywhere below. */
		for (unsigned d = 0; d < 2; d++)
			for (unsigned i = 0; i < TT_TLS_FOLLOW_RECS; i++) {
				uint32_t x = xorshift(&seed);

				lens[d][i] = (uint16_t)(x % 3 == 0 ? 16401 : 20 + x % 16000);
			}
		n[0] = n[1] = 16 + trial % 240;
		tt_tls_midstream_score_lens(lp, n, &st);
		n_fire += st.is_bursts || st.is_tor_like;
	}
	cr_expect_eq(n_fire, 0);
}

/* The one false positive of D4's first measurement (tools/tls_negatives.py, Python TLS
 * 1.2 AES-GCM writing multiples of 1,024 bytes): read under ChaCha20's overhead 16, a
 * record of 2,048 + 24 bytes is 4 cells, so bursts averaging 2 KiB per record "align".
 * D4 tries only tor's framings (17 and 24), under which 1 KiB multiples never do. */
Test(tls, kib_writes_of_tls12_gcm_are_not_cell_bursts)
{
	static const uint16_t kib[] = {1, 3, 2, 2, 4, 2, 1, 3, 2, 6, 1, 1, 2, 3, 1, 2, 2, 5};
	uint16_t lens[2][TT_TLS_FOLLOW_RECS];
	const uint16_t *lp[2] = {lens[0], lens[1]};
	unsigned n[2] = {0, 3 * sizeof(kib) / sizeof(kib[0])};
	struct tt_tls_midstream_stats st;

	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(kib[i % (sizeof(kib) / sizeof(kib[0]))] * 1024 + 24);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.dir[1].is_d4, "burst %u of %u", st.dir[1].n_burst, n[1]);
	/* The same writes under TLS 1.3 (+17) do not align either. */
	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(lens[1][i] - 7);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.dir[1].is_d4);
	/* And a tor download's bursts under a framing tor never negotiates (overhead 16, TLS
	 * 1.2 ChaCha20) are not tried. */
	n[1] = sizeof(tor_bulk_lens) / sizeof(tor_bulk_lens[0]);
	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(tor_bulk_lens[i] - 1);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.dir[1].is_d4);
}

/* A CBC suite pads every record to its block, so mid-stream its lengths are multiples of
 * 16 and D4's AEAD arithmetic does not apply (tools/tls_negatives.py: a Go TLS 1.2 CBC
 * flow fired once). Records of 4, 12, 20 and 28 cells + 24 are such multiples. */
Test(tls, records_of_a_cbc_suite_are_not_cell_bursts)
{
	static const uint16_t cells[] = {4, 12, 20, 28};
	uint16_t lens[2][TT_TLS_FOLLOW_RECS];
	const uint16_t *lp[2] = {lens[0], lens[1]};
	unsigned n[2] = {0, 24};
	struct tt_tls_midstream_stats st;

	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(cells[i % 4] * TT_TLS_CELL_LEN + 24);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.dir[1].is_d4);
	/* The same cells in TLS 1.3 records (+17) are bursts. */
	for (unsigned i = 0; i < n[1]; i++)
		lens[1][i] = (uint16_t)(lens[1][i] - 7);
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect(st.dir[1].is_d4);
}

/* An interactive echo of 1-7 byte writes (tools/tls_negatives.py, TLS 1.3 and TLS 1.2
 * ChaCha20): records of 18-24 bytes carry nothing under overhead 24, so every record
 * ended a "burst" on the same residue. A burst must carry at least one whole cell. */
Test(tls, an_echo_of_tiny_records_is_not_cell_bursts)
{
	uint16_t lens[2][TT_TLS_FOLLOW_RECS];
	const uint16_t *lp[2] = {lens[0], lens[1]};
	unsigned n[2] = {64, 64};
	uint32_t seed = 7;
	struct tt_tls_midstream_stats st;

	for (unsigned d = 0; d < 2; d++)
		for (unsigned i = 0; i < n[d]; i++)
			lens[d][i] = (uint16_t)(17 + 1 + xorshift(&seed) % 7); /* 1-7 B */
	tt_tls_midstream_score_lens(lp, n, &st);
	cr_expect_not(st.dir[0].is_d4);
	cr_expect_not(st.dir[1].is_d4);
	cr_expect_not(st.is_bursts);
}

/* Feed buf[from, to) of a direction as 1448-byte segments, stream offset = buffer offset
 * (sequence numbers start at seq0). */
static void feed_range(struct tt_tls_flow *f, bool is_server, const uint8_t *buf, size_t from,
    size_t to, uint32_t seq0)
{
	for (size_t o = from; o < to; o += 1448) {
		uint32_t k = (uint32_t)(to - o < 1448 ? to - o : 1448);

		tt_tls_flow_add(f, is_server, seq0 + (uint32_t)o, buf + o, k, false);
	}
}

/* Tor's bulk pattern of 4 KB records with a short one every fifth, n records. */
static uint8_t *bulk_records(unsigned n, uint16_t *lens, uint32_t *offs, size_t *len)
{
	uint8_t *buf = malloc((size_t)n * 4100);

	cr_assert(buf);
	for (unsigned i = 0; i < n; i++)
		lens[i] = (uint16_t)(i % 5 == 4 ? 273 + (i % 7) * 256 : 4065);
	*len = put_cipher_records(buf, (size_t)n * 4100, lens, n, 11, offs);
	return buf;
}

Test(tls, midstream_follower_resynchronises_after_a_loss)
{
	enum { N = 400 };
	uint16_t lens[N];
	uint32_t offs[N];
	size_t n;
	uint8_t *buf = bulk_records(N, lens, offs, &n);
	struct tt_tls_flow *f = new_midstream_flow();
	size_t gap_from = offs[20] + 100, gap_to = offs[120] + 2000; /* 400 KB lost */
	unsigned first = 0;

	/* From inside record 0 to inside record 20, then nothing until inside record 120. */
	feed_range(f, true, buf, 700, gap_from, 5000);
	cr_assert(f->st[1].flags & TT_TLS_STREAM_FOLLOW);
	cr_assert_eq(f->n_restarts[1], 0);
	feed_range(f, true, buf, gap_to, n, 5000);
	cr_assert_eq(f->n_restarts[1], 1);
	cr_assert(f->st[1].flags & TT_TLS_STREAM_FOLLOW);
	/* The window restarted on a true boundary past the gap and holds the records after
	 * it, in order, as far as it goes. */
	cr_assert_geq(f->n_app[1], 200, "only %u records after the loss", f->n_app[1]);
	while (first < N &&
	       !(offs[first] > gap_to && lens[first] == f->app_lens[1][0] &&
		   lens[first + 1] == f->app_lens[1][1] && lens[first + 2] == f->app_lens[1][2]))
		first++;
	cr_assert_lt(first, N, "the window does not start on a record after the gap");
	for (unsigned i = 0; i < f->n_app[1] && first + i < N; i++)
		cr_assert_eq(f->app_lens[1][i], lens[first + i], "record %u after the restart", i);
	free(f);
	free(buf);
}

Test(tls, a_flow_with_its_handshake_is_not_restarted_and_restarts_are_bounded)
{
	enum { N = 1000 };
	uint16_t lens[N];
	uint32_t offs[N];
	size_t n;
	uint8_t *buf = bulk_records(N, lens, offs, &n);
	struct tt_tls_flow *f = malloc(sizeof(*f));

	cr_assert(f);
	/* From the SYN: a loss stops the follower for good. */
	tt_tls_flow_init(f);
	tt_tls_flow_add(f, true, 4999, NULL, 0, true);
	feed_range(f, true, buf, 0, offs[20] + 100, 5000);
	feed_range(f, true, buf, offs[120] + 2000, n, 5000);
	cr_expect_eq(f->n_restarts[1], 0);
	cr_expect(f->st[1].flags & TT_TLS_STREAM_LOST);
	cr_expect_leq(f->n_app[1], 21);
	/* Mid-stream, 20 records then 80 lost (about 290 KB, past what reordering explains),
	 * nine times: at most TT_TLS_MAX_RESTARTS (4) restarts. */
	tt_tls_flow_init_midstream(f);
	for (unsigned k = 0; k + 100 <= N; k += 100)
		feed_range(f, true, buf, offs[k] + 300, offs[k + 20], 5000);
	cr_expect_eq(f->n_restarts[1], 4);
	free(f);
	free(buf);
}
