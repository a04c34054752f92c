/* The flow table and the first-payload inspector. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "tortrace/tortrace.h"
#include "../../src/workers/workers.h"
#include "../../src/workers/tls.h"
#include "../../src/relays/relays.h"
#include "testutil.h"

TestSuite(
    workers, .timeout = 60); /* the churn test takes 3 s, up to 20 s under ASan on a busy machine */

static void key(struct tt_flow_key *k, uint32_t i)
{
	uint8_t a[16] = {10, 0, 0, 0}, b[16] = {10, 1, 0, 0};

	memcpy(a + 1, &i, 3);
	tt_flow_key_make(k, 4, 6, a, b, (uint16_t)i, 443);
}

/* Random inserts and removes against a reference array; a tiny hash space forces long
 * probe runs so that backward-shift deletion is exercised. */
Test(workers, flow_table_matches_reference_under_churn)
{
	enum { N = 20000 };
	struct tt_flow_table t;
	bool *live = calloc(N, sizeof(*live));
	uint64_t s = 0x9e3779b97f4a7c15ull;

	cr_assert_eq(tt_flow_table_init(&t), 0);
	for (int op = 0; op < 200000; op++) {
		struct tt_flow_key k;
		struct tt_flow *f;
		uint32_t i, h;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		i = (uint32_t)(s % N);
		h = (uint32_t)(i * 2654435761u) & 0x3ff; /* only 1024 distinct hashes */
		key(&k, i);
		f = tt_flow_table_find(&t, &k, h);
		cr_assert_eq(f != NULL, live[i], "op %d key %u", op, i);
		if (f) {
			cr_assert_eq(f->rec.src_port, (uint16_t)i);
			tt_flow_table_remove(&t, f);
			live[i] = false;
		} else {
			f = tt_flow_table_insert(&t, &k, h);
			cr_assert(f);
			f->rec.src_port = (uint16_t)i;
			live[i] = true;
		}
	}
	for (uint32_t i = 0; i < N; i++) {
		struct tt_flow_key k;

		key(&k, i);
		cr_assert_eq(
		    tt_flow_table_find(&t, &k, (uint32_t)(i * 2654435761u) & 0x3ff) != NULL,
		    live[i]);
	}
	tt_flow_table_fini(&t);
	free(live);
}

/* n hashes of partition part, in increasing order. */
static void hashes_in(unsigned part, uint32_t *h, int n)
{
	for (uint32_t x = 0; n > 0; x++)
		if (tt_partition_of(x) == part) {
			*h++ = x;
			n--;
		}
}

Test(workers, lru_order_follows_touches_per_partition)
{
	struct tt_flow_table t;
	struct tt_flow_key k[4];
	struct tt_flow *f[4];
	uint32_t h[4];

	hashes_in(7, h, 3);
	hashes_in(8, &h[3], 1);
	cr_assert_eq(tt_flow_table_init(&t), 0);
	for (int i = 0; i < 4; i++) {
		key(&k[i], (uint32_t)i);
		f[i] = tt_flow_table_insert(&t, &k[i], h[i]);
		f[i]->rec.src_port = (uint16_t)i;
	}
	cr_expect_eq(t.n_live[7], 3);
	cr_expect_eq(t.n_live[8], 1);
	cr_expect_eq(tt_flow_table_oldest(&t, 8)->rec.src_port, 3);
	cr_expect_eq(tt_flow_table_oldest(&t, 7)->rec.src_port, 0);
	tt_flow_table_touch(&t, tt_flow_table_find(&t, &k[0], h[0]));
	cr_expect_eq(tt_flow_table_oldest(&t, 7)->rec.src_port, 1);
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[1], h[1]));
	cr_expect_eq(tt_flow_table_oldest(&t, 7)->rec.src_port, 2);
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[2], h[2]));
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[0], h[0]));
	cr_expect_null(tt_flow_table_oldest(&t, 7));
	cr_expect_eq(t.n_live[7], 0);
	cr_expect_eq(tt_flow_table_oldest(&t, 8)->rec.src_port, 3);
	tt_flow_table_fini(&t);
}

static void *failing_map(size_t bytes)
{
	(void)bytes;
	return NULL;
}

/* Growing the slots fails on an insert: the insert returns NULL and leaves no trace. A
 * slab entry taken with its key set used to stay behind, and a walk of the slab (the
 * end-of-file flush) emitted it as a flow that never was. */
Test(workers, failed_insert_leaves_no_ghost_flow)
{
	struct tt_flow_table t;
	struct tt_flow_key k;
	uint32_t n = 0, n_live = 0;

	cr_assert_eq(tt_flow_table_init(&t), 0);
	void *(*map_fn)(size_t) = t.map_fn;

	t.map_fn = failing_map;
	for (;; n++) {
		key(&k, n);
		if (!tt_flow_table_insert(&t, &k, n * 2654435761u))
			break;
		cr_assert_lt(n, 1u << 20, "the slots never had to grow");
	}
	cr_assert_gt(n, 0);
	for (uint32_t i = 0; i < t.n_flows; i++)
		n_live += tt_flow_is_live(&t.flows[i]);
	cr_expect_eq(n_live, n, "%u live slab entries after %u inserts", n_live, n);
	cr_expect_null(tt_flow_table_find(&t, &k, n * 2654435761u));
	/* Memory comes back: the same insert then succeeds. */
	t.map_fn = map_fn;
	cr_expect_not_null(tt_flow_table_insert(&t, &k, n * 2654435761u));
	tt_flow_table_fini(&t);
}

Test(workers, first_payload_names_the_protocol)
{
	const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};

	cr_expect_eq(tt_inspect_first_payload(6, 5000, 9001, tls, sizeof(tls)), TT_APP_TLS);
	cr_expect_eq(tt_inspect_first_payload(6, 5000, 80, (const uint8_t *)"GET / HTTP/1.1", 14),
	    TT_APP_HTTP);
	cr_expect_eq(tt_inspect_first_payload(
			 6, 5000, 9030, (const uint8_t *)"GET /tor/server/d/x HTTP/1.0", 28),
	    TT_APP_TOR_DIR);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 9030, (const uint8_t *)"POST /tor/ HTTP/1.0", 19),
	    TT_APP_TOR_DIR);
	cr_expect_eq(tt_inspect_first_payload(6, 22, 5000, (const uint8_t *)"SSH-2.0-OpenSSH", 15),
	    TT_APP_SSH);
	cr_expect_eq(tt_inspect_first_payload(17, 5000, 53, tls, 1), TT_APP_DNS);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 443, (const uint8_t *)"\x8f\x11", 2), TT_APP_UNKNOWN);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 443, (const uint8_t *)"GE", 2), TT_APP_UNKNOWN);
}

/* A record as the worker would end it: TCP, handshake both ways. */
static struct tt_flow_record flow_rec(uint16_t dport)
{
	struct tt_flow_record r = {.proto = 6,
	    .ip_version = 4,
	    .dst_port = dport,
	    .app = {TT_APP_TLS, TT_APP_TLS},
	    .first_ts_ns = 1,
	    .last_ts_ns = 2};

	return r;
}

Test(workers, evidence_scores_tor_handshake_without_relay_data_as_bridge)
{
	struct tt_flow_tls tls = {.has_ch = true,
	    .has_sh = true,
	    .ch_traits = TT_TLS_CH_NO_ALPN | TT_TLS_CH_P224 | TT_TLS_CH_TOR_GROUPS |
			 TT_TLS_CH_SNI_SHAPE | TT_TLS_CH_SNI_RANDOM,
	    .is_d1 = true,
	    .is_d2 = true};
	struct tt_flow_record r = flow_rec(9100);
	struct tt_flow_relay relay;

	r.tls = &tls;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_TOR_BRIDGE);
	cr_expect_gt(r.score, 0.999f);
	cr_expect_null(r.relay);
	/* the same hello without the framing evidence: -6.9 + 5 + 0.5 * 4 = 0.1 */
	tls.is_d1 = tls.is_d2 = false;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_TOR_BRIDGE);
	cr_expect_lt(r.score, 0.6f);
}

Test(workers, evidence_keeps_ordinary_tls_and_port_9001_at_none)
{
	struct tt_flow_tls tls = {.has_ch = true, .has_sh = true, .ch_traits = TT_TLS_CH_P224};
	struct tt_flow_record r = flow_rec(9001);
	struct tt_flow_relay relay;

	r.tls = &tls; /* ALPN offered (no NO_ALPN bit), P-224: curl-like */
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_lt(r.score, 1e-4f);
}

Test(workers, evidence_directory_request_is_tor_dir)
{
	struct tt_flow_record r = flow_rec(9030);
	struct tt_flow_relay relay;

	r.app[0] = TT_APP_TOR_DIR;
	r.app[1] = TT_APP_HTTP;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_TOR_DIR);
	cr_expect_gt(r.score, 0.5f);
}

/* ---- the threshold, candidates and the obfs4 items ----------------------------------- */

static struct tt_flow_record fe_rec(uint32_t flags)
{
	struct tt_flow_record r = flow_rec(8443);

	r.app[0] = r.app[1] = TT_APP_UNKNOWN;
	r.flags = TT_FLOW_SYN_SEEN | TT_FLOW_FET_HANDSHAKE | flags;
	return r;
}

Test(workers, fully_encrypted_first_flights_alone_are_a_candidate_not_a_verdict)
{
	struct tt_flow_record r = fe_rec(0);
	struct tt_flow_relay relay;

	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_eq(r.candidate, TT_VERDICT_TOR_PT);
	cr_expect_lt(r.score, 0.5f);
}

Test(workers, obfs4_shape_after_the_handshake_earns_tor_pt)
{
	struct tt_flow_record r = fe_rec(TT_FLOW_PT_SHAPE);
	struct tt_flow_relay relay;

	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_TOR_PT);
	cr_expect_eq(r.candidate, TT_VERDICT_NONE);
	cr_expect_geq(r.score, 0.5f);
	/* First flights obfs4 never sends veto the verdict: F- was measured among flows with
	 * F1 (a likelihood ratio given F1), so it counts in full, in a group of its own, not
	 * half beside F1: F1 + F- + G1 stays a candidate. */
	r = fe_rec(TT_FLOW_PT_SHAPE | TT_FLOW_NOT_OBFS4_HS);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_lt(r.score, 0.5f);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_eq(r.candidate, TT_VERDICT_TOR_PT);
	/* without G1, F- takes F1's flow below a candidate's score */
	r = fe_rec(TT_FLOW_NOT_OBFS4_HS);
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_lt(r.score, 0.5f);
}

Test(workers, min_score_and_evidence_off_come_from_the_config)
{
	struct tt_config cfg;
	struct tt_flow_record r = fe_rec(TT_FLOW_PT_SHAPE);
	struct tt_flow_relay relay;

	tt_config_defaults(&cfg);
	cr_expect_eq(cfg.min_score, TT_MIN_SCORE_DEFAULT);
	cfg.min_score = 0.99;
	tt_evidence_score(&r, NULL, &cfg, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_eq(r.candidate, TT_VERDICT_TOR_PT);
	cfg.min_score = 0.5;
	cfg.evidence_off = 1u << TT_EV_G1;
	tt_evidence_score(&r, NULL, &cfg, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_eq(r.evidence & (1u << TT_EV_G1), 0);
	/* a zeroed config means the default threshold, not 0 */
	memset(&cfg, 0, sizeof(cfg));
	tt_evidence_score(&r, NULL, &cfg, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_TOR_PT);
}

Test(workers, evidence_against_tor_is_no_candidate)
{
	struct tt_flow_tls tls = {.has_ch = true, .has_sh = true, .ch_traits = TT_TLS_CH_P224};
	struct tt_flow_record r = flow_rec(9001);
	struct tt_flow_relay relay;

	r.tls = &tls; /* port 9001 (+1) but ALPN offered (-5): below the prior */
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_expect_eq(r.verdict, TT_VERDICT_NONE);
	cr_expect_eq(r.candidate, TT_VERDICT_NONE);
}

/* Segments after the first flights: n per direction, sizes from base upwards. */
static void fill_shape(struct tt_pt_shape *s, unsigned n_distinct, uint16_t shared)
{
	memset(s, 0, sizeof(*s));
	for (unsigned d = 0; d < 2; d++) {
		s->is_rev[s->n] = (uint8_t)d;
		s->len[s->n++] = 1448; /* a full segment each way */
		for (unsigned i = 0; i < n_distinct; i++) {
			s->len[s->n] = (uint16_t)(100 + 37 * i + 500 * d);
			if (i == 0)
				s->len[s->n] = shared;
			s->is_rev[s->n++] = (uint8_t)d;
		}
	}
}

static uint32_t xorshift32(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* n segments alternating full ones and sizes from draw(), directions at random. */
static void fill_drawn(
    struct tt_pt_shape *s, unsigned n, uint32_t seed, uint16_t (*draw)(uint32_t *x))
{
	uint32_t x = seed;

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < n; i++) {
		s->is_rev[i] = (uint8_t)(xorshift32(&x) & 1);
		s->len[i] = i % 2 ? draw(&x) : 1448;
	}
	s->n = (uint16_t)n;
}

static uint16_t draw_uniform(uint32_t *x)
{
	return (uint16_t)(1 + xorshift32(x) % 1447);
}

/* obfs4's probdist: a few values of [0, 1448], each with a random weight; here 40 values
 * with weights 1..4. */
static uint16_t draw_obfs4_like(uint32_t *x)
{
	uint32_t pick = xorshift32(x) % 100, acc = 0;

	for (uint16_t v = 0; v < 40; v++) {
		acc += 1 + v % 4;
		if (pick < acc)
			return (uint16_t)(17 + 35 * v);
	}
	return 17;
}

Test(workers, repeat_tail_is_the_birthday_problem)
{
	cr_expect_float_eq(tt_pt_repeat_tail(2, 1000, 1), 0.001, 1e-12);
	cr_expect_float_eq(tt_pt_repeat_tail(5, 10, 0), 1.0, 1e-12);
	/* 23 people, 365 days: a shared birthday with probability 0.5073 */
	cr_expect_float_eq(tt_pt_repeat_tail(23, 365, 1), 0.507297, 1e-6);
	/* more draws than values: repeats are certain */
	cr_expect_float_eq(tt_pt_repeat_tail(12, 10, 2), 1.0, 1e-12);
	cr_expect_float_eq(tt_pt_repeat_tail(3, 10, 3), 0.0, 1e-12);
}

/* fill_shape's sizes, each sent `times` times in its direction. */
static void repeat_shape(struct tt_pt_shape *s, unsigned times)
{
	unsigned n = s->n;

	for (unsigned k = 1; k < times; k++)
		for (unsigned i = 0; i < n; i++) {
			s->len[s->n] = s->len[i];
			s->is_rev[s->n++] = s->is_rev[i];
		}
}

Test(workers, pt_shape_needs_distinct_and_shared_sizes)
{
	struct tt_pt_shape s;

	fill_shape(&s, 8, 300); /* 300 both ways */
	repeat_shape(&s, 4);
	cr_expect(tt_pt_shape_is_obfs4(&s));
	fill_shape(&s, 8, 300); /* each size once: no repeats beyond chance */
	cr_expect_not(tt_pt_shape_is_obfs4(&s));
	fill_shape(&s, 7, 300); /* a protocol's few fixed sizes, however often */
	repeat_shape(&s, 8);
	cr_expect_not(tt_pt_shape_is_obfs4(&s));
	fill_shape(&s, 8, 90); /* no size seen both ways */
	s.len[10] = 95;        /* the responder's first size below its full one */
	repeat_shape(&s, 4);
	cr_expect_not(tt_pt_shape_is_obfs4(&s));
}

/* Before the coincidence test, G1 fired when two sizes below the largest recurred: on
 * 64-segment flows of uniformly random sizes built like these, 10 of 200 seeds did (28,
 * 54, 67, ... 146). Uniform sizes repeat only as often as the birthday problem says, which
 * stays below TT_PT_ALPHA's bar. */
Test(workers, pt_shape_rejects_uniformly_random_sizes)
{
	struct tt_pt_shape s;
	unsigned n_fire = 0;

	for (uint32_t seed = 1; seed <= 200; seed++) {
		fill_drawn(&s, 256, seed, draw_uniform);
		n_fire += tt_pt_shape_is_obfs4(&s);
	}
	cr_expect_eq(n_fire, 0);
	for (uint32_t seed = 1; seed <= 200; seed++) {
		fill_drawn(&s, 64, seed, draw_uniform);
		n_fire += tt_pt_shape_is_obfs4(&s);
	}
	cr_expect_eq(n_fire, 0, "seed 28 fired the old rule");
}

Test(workers, pt_shape_fires_on_few_weighted_sizes)
{
	struct tt_pt_shape s;
	unsigned n_fire = 0;

	for (uint32_t seed = 1; seed <= 200; seed++) {
		fill_drawn(&s, 256, seed, draw_obfs4_like);
		n_fire += tt_pt_shape_is_obfs4(&s);
	}
	cr_expect_eq(n_fire, 200);
}

/* ---- orientation of a flow whose SYN was not captured ------------------------------ */

struct orient_case {
	uint16_t sport, dport;
	unsigned want;
};

ParameterizedTestParameters(workers, orientation_from_ports)
{
	static struct orient_case cases[] = {
	    {443, 51000, TT_INIT_GUESSED_PORT},   /* a server's reply: swap */
	    {9001, 40000, TT_INIT_GUESSED_PORT},  /* tor's ORPort default */
	    {8443, 33000, TT_INIT_GUESSED_PORT},  /* a known service port above 1024 */
	    {51000, 443, TT_INIT_FIRST_PACKET},   /* the client's packet: keep */
	    {9001, 9030, TT_INIT_FIRST_PACKET},   /* service to service: no hint */
	    {22, 80, TT_INIT_FIRST_PACKET},       /* both below 1024: no hint */
	    {40000, 50000, TT_INIT_FIRST_PACKET}, /* both ephemeral: no hint */
	};
	return cr_make_param_array(struct orient_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct orient_case *c, workers, orientation_from_ports)
{
	const uint8_t src[4] = {192, 0, 2, 1};

	cr_expect_eq(tt_worker_orient(NULL, 4, src, c->sport, c->dport, 1715967000ull * 1000000000),
	    c->want, "%u -> %u", c->sport, c->dport);
}

/* A relay listed 17:00-20:00 on 2024-05-17 with ORPort 9100, which is no service port: the
 * relay data alone says who initiated. */
Test(workers, orientation_from_a_listed_relay_port)
{
	static const char doc[] =
	    "@type network-status-microdesc-consensus-3 1.0\n"
	    "network-status-version 3 microdesc\nvote-status consensus\nconsensus-method 33\n"
	    "valid-after 2024-05-17 17:00:00\nfresh-until 2024-05-17 18:00:00\n"
	    "valid-until 2024-05-17 20:00:00\nvoting-delay 300 300\n"
	    "known-flags Exit Fast Guard Running Stable Valid\n"
	    "dir-source a 0232AF901C31A04EE9848595AF9BB7620D4C5B2E a 193.23.244.244 80 443\n"
	    "r relay1 BAAAAAAAAAAAAAAAAAAAAAAAAAA 2038-01-01 00:00:00 192.0.2.7 9100 0\n"
	    "m RZaTxnTsuxvtIPnrUILHzSVMdX2jcK4K8u0uJu3Ex50\n"
	    "s Fast Guard Running Stable Valid\nv Tor 0.4.8.11\nw Bandwidth=100\n"
	    "directory-footer\nbandwidth-weights Wbd=0\n"
	    "directory-signature 0232AF901C31A04EE9848595AF9BB7620D4C5B2E X\n"
	    "-----BEGIN SIGNATURE-----\nr not a router line\n-----END SIGNATURE-----\n";
	char *dir = tt_test_tmpdir();
	char *path = tt_test_write(dir, "consensus", doc, sizeof(doc) - 1);
	const char *paths[1] = {path};
	struct tt_relays *idx = NULL;
	const uint8_t relay[4] = {192, 0, 2, 7}, other[4] = {192, 0, 2, 8};
	uint64_t t = 1715967000ull * 1000000000; /* 17:30 */

	cr_assert_eq(tt_relays_build(paths, 1, &idx), 0);
	cr_expect_eq(tt_worker_orient(idx, 4, relay, 9100, 45000, t), TT_INIT_GUESSED_RELAY);
	/* The relay's address on another port, or another address on its port: no hint. */
	cr_expect_eq(tt_worker_orient(idx, 4, relay, 9101, 45000, t), TT_INIT_FIRST_PACKET);
	cr_expect_eq(tt_worker_orient(idx, 4, other, 9100, 45000, t), TT_INIT_FIRST_PACKET);
	/* From the client to the relay: the sender initiated. */
	cr_expect_eq(tt_worker_orient(idx, 4, other, 45000, 9100, t), TT_INIT_FIRST_PACKET);
	/* Without relay data the port rule still applies. */
	cr_expect_eq(tt_worker_orient(NULL, 4, relay, 9100, 45000, t), TT_INIT_FIRST_PACKET);
	tt_relays_free(idx);
	tt_test_rmrf(dir);
	free(dir);
	free(path);
}

/* ---- the fully-encrypted test behind F1 ---------------------------------------------- */

/* 600 random-looking bytes (no printable run anywhere near 20, popcount ~4 a byte). */
static void random_flight(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(xorshift32(&x) >> 24);
}

/* The GFW exempts a flight whose first 6 bytes are printable; random bytes do that with
 * probability 0.26 %, and an obfs4 server flight in the accuracy set did. tortrace wants
 * a protocol start: 12 printable bytes. */
Test(workers, six_printable_bytes_do_not_exempt_a_random_flight)
{
	uint8_t p[600];

	random_flight(p, sizeof(p), 99);
	for (unsigned i = 0; i < 12; i++) /* no printable start of its own */
		p[i] = (uint8_t)(0x80 + i * 7);
	cr_expect(tt_inspect_is_fully_encrypted(p, sizeof(p)));
	memcpy(p, "q#Zk-8", 6);
	cr_expect(tt_inspect_is_fully_encrypted(p, sizeof(p)));
	memcpy(p, "q#Zk-8 w~Lm0", 12); /* a 12-byte token: a protocol start */
	cr_expect_not(tt_inspect_is_fully_encrypted(p, sizeof(p)));
}
