/* The follower of a TLS flow's client records (src/workers/tunnel.c) on crafted record
 * streams: WebTunnel's nested cells and handshake (W1, W2), meek's POST bodies and poll
 * back-off (M2, M1), against near misses; and the verdicts the items lead to (score.c). */
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/workers/tls.h"
#include "../../src/workers/workers.h"

TestSuite(tunnel, .timeout = 30);

#define MS 1000000ull

/* A flow whose inspection closed with the client following headers at stream offset 0
 * (sequence number 1000), after the given application-data records. */
static void start(struct tt_tunnel *t, const uint16_t *lens, unsigned n, unsigned overhead)
{
	static struct tt_tls_flow f;

	tt_tls_flow_init(&f);
	f.st[0].base_seq = 1000;
	f.st[0].flags |= TT_TLS_STREAM_FOLLOW;
	f.st[0].fol.hdr_off = 0;
	f.st[0].fol.hdr_mask = 0;
	for (unsigned i = 0; i < n && i < TT_TLS_FOLLOW_RECS; i++)
		f.app_lens[0][i] = lens[i];
	f.n_app[0] = (uint16_t)n;
	tt_tunnel_start(t, &f, overhead);
}

/* One client segment holding one whole record of len bytes (type 23) at offset *off. */
static void record(struct tt_tunnel *t, uint32_t *off, uint16_t len, uint64_t ts_ns)
{
	static uint8_t seg[5 + 18432];

	seg[0] = 23;
	seg[1] = 3;
	seg[2] = 3;
	seg[3] = (uint8_t)(len >> 8);
	seg[4] = (uint8_t)len;
	tt_tunnel_client(t, 1000 + *off, seg, 5u + len, ts_ns);
	*off += 5u + len;
}

static struct tt_tunnel_stats stats_of(const struct tt_tunnel *t)
{
	struct tt_tunnel_stats s;

	tt_tunnel_stats(t, &s);
	return s;
}

/* WebTunnel (corpus transports/webtunnel-s1): the client's Finished, the upgrade request,
 * then Tor's ClientHello (517 + 17), CCS+Finished, VERSIONS (33 + 17), NETINFO+CREATE,
 * and cells as 514 k + 39. */
Test(tunnel, webtunnel_nested_cells_and_hello)
{
	static const uint16_t lens[] = {
	    74, 152, 534, 97, 50, 1067, 553, 553, 1067, 553, 2095, 553, 553, 1581, 553, 553};
	static struct tt_tunnel t;
	struct tt_tunnel_stats s;

	start(&t, lens, sizeof(lens) / sizeof(lens[0]), 17);
	s = stats_of(&t);
	/* 65-8192 bytes: all but the 50 */
	cr_assert_eq(s.w1_elig, 15);
	cr_assert_eq(s.w1_fit, 11, "%u", s.w1_fit);
	cr_assert(s.is_w2);

	/* under a TLS 1.2 GCM outer suite (24) the same lengths are no cells */
	start(&t, lens, sizeof(lens) / sizeof(lens[0]), 24);
	s = stats_of(&t);
	cr_assert_eq(s.w1_fit, 0);
	cr_assert_not(s.is_w2);
}

Test(tunnel, nested_hello_needs_versions_close_after)
{
	static const uint16_t near[] = {74, 152, 534, 97, 60, 1067};
	static const uint16_t far[] = {74, 152, 534, 97, 553, 553, 553, 50};
	static struct tt_tunnel t;

	start(&t, near, 6, 17);
	cr_assert_not(stats_of(&t).is_w2, "no VERSIONS record");
	start(&t, far, 8, 17);
	cr_assert_not(stats_of(&t).is_w2, "VERSIONS 5 records after the hello");
}

/* The follower keeps reading after the inspection: records go into the W1 window. */
Test(tunnel, follows_records_after_start)
{
	static const uint16_t first[] = {74, 152};
	static struct tt_tunnel t;
	uint32_t off = 0;
	struct tt_tunnel_stats s;

	start(&t, first, 2, 17);
	for (unsigned i = 0; i < 10; i++)
		record(&t, &off, (uint16_t)(514u * (1 + i % 3) + 39u), (1 + i) * MS);
	s = stats_of(&t);
	cr_assert_eq(s.n_recs, 12);
	cr_assert_eq(s.w1_elig, 12); /* 74 and 152 too */
	cr_assert_eq(s.w1_fit, 10);

	/* a malformed header stops it for good */
	{
		uint8_t bad[5] = {0x99, 3, 3, 0, 10};

		tt_tunnel_client(&t, 1000 + off, bad, 5, 20 * MS);
		cr_assert(tt_tunnel_is_done(&t));
		record(&t, &off, 553, 21 * MS);
		cr_assert_eq(stats_of(&t).n_recs, 12);
	}
}

/* A header split over two segments is gathered byte by byte. */
Test(tunnel, header_split_over_segments)
{
	static struct tt_tunnel t;
	uint8_t a[3] = {23, 3, 3}, b[2 + 553];

	start(&t, NULL, 0, 17);
	b[0] = 553 >> 8;
	b[1] = 553 & 0xff;
	tt_tunnel_client(&t, 1000, a, 3, MS);
	cr_assert_eq(stats_of(&t).n_recs, 0);
	tt_tunnel_client(&t, 1003, b, sizeof(b), 2 * MS);
	cr_assert_eq(stats_of(&t).n_recs, 1);
	cr_assert_eq(t.lens[0], 553);
}

/* meek (corpus transports/meek-s1): empty polls of 199 bytes, POSTs of 199 + extra
 * Content-Length digits + one Tor record of k cells (514 k + 22). */
Test(tunnel, meek_post_bodies)
{
	static uint16_t lens[40];
	static struct tt_tunnel t;
	struct tt_tunnel_stats s;
	unsigned n = 0;

	for (unsigned i = 0; i < 20; i++)
		lens[n++] = 199;
	lens[n++] = 737;  /* 199 + 2 + 536 */
	lens[n++] = 1252; /* 199 + 3 + 1050 */
	lens[n++] = 1766; /* 199 + 3 + 1564 */
	lens[n++] = 737;
	lens[n++] = 737;
	start(&t, lens, n, 17);
	s = stats_of(&t);
	cr_assert_eq(s.m2_mode, 199);
	cr_assert_eq(s.m2_elig, 5);
	cr_assert_eq(s.m2_fit, 5);

	/* one byte more in each body: no Tor record */
	for (unsigned i = 20; i < n; i++)
		lens[i]++;
	start(&t, lens, n, 17);
	s = stats_of(&t);
	cr_assert_eq(s.m2_elig, 5);
	cr_assert_eq(s.m2_fit, 0);

	/* a body of 10 cells (5162 bytes: 4 digits, 3 more than "0") */
	lens[20] = (uint16_t)(199 + 3 + 5162);
	start(&t, lens, n, 17);
	cr_assert_eq(stats_of(&t).m2_fit, 1);
	lens[20] = (uint16_t)(199 + 2 + 5162);
	start(&t, lens, n, 17);
	cr_assert_eq(stats_of(&t).m2_fit, 0, "the digit count must match the body");
}

/* Empty polls answered at once, the next one after the client's timer: ts of the answer
 * plus wait. */
static void polls(
    struct tt_tunnel *t, uint32_t *off, uint64_t *now, const double *wait_ms, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		record(t, off, 199, *now);
		*now += 11 * MS; /* the round trip */
		tt_tunnel_server(t, *now);
		*now += (uint64_t)(wait_ms[i] * MS);
	}
}

Test(tunnel, meek_poll_backoff)
{
	static const double meek[] = {100, 150, 225, 337.5, 506.25, 100, 100};
	static const double doubling[] = {100, 200, 400, 800, 1600, 100};
	static const double fast[] = {20, 30, 45, 67.5, 101.25};
	static struct tt_tunnel t;
	uint32_t off = 0;
	uint64_t now = 1000 * MS;

	start(&t, NULL, 0, 17);
	polls(&t, &off, &now, meek, 7);
	/* waits before polls 2..6: 100, 150, 225, 337.5, 506 ms: 4 steps of x1.5 */
	cr_assert_eq(stats_of(&t).m1_run, 4, "%u", stats_of(&t).m1_run);

	start(&t, NULL, 0, 17);
	off = 0;
	polls(&t, &off, &now, doubling, 6);
	cr_assert_eq(stats_of(&t).m1_run, 0, "x2 is not meek's back-off");

	start(&t, NULL, 0, 17);
	off = 0;
	polls(&t, &off, &now, fast, 5);
	cr_assert_eq(stats_of(&t).m1_run, 0, "waits under 80 ms start no chain");
}

/* The wait counts from the server's answer: without one in between, the chain breaks. */
Test(tunnel, meek_backoff_needs_answers)
{
	static struct tt_tunnel t;
	uint32_t off = 0;
	uint64_t now = 1000 * MS;
	double w = 100;

	start(&t, NULL, 0, 17);
	for (unsigned i = 0; i < 6; i++) {
		record(&t, &off, 199, now);
		now += (uint64_t)(w * MS);
		w *= 1.5;
	}
	cr_assert_eq(stats_of(&t).m1_run, 0);
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

Test(tunnel, items_and_verdicts)
{
	struct tt_flow_tls tls = {.has_ch = true, .has_sh = true, .version = 0x0304};
	struct tt_flow_record r = {.proto = 6, .ip_version = 4, .tls = &tls};
	struct tt_flow_relay relay;

	/* WebTunnel: W1 and W2 */
	tls.nest_app = 62;
	tls.nest_fit = 58;
	tls.is_nest_hello = 1;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "W1") && fired(&r, "W2"));
	cr_assert_eq(r.verdict, TT_VERDICT_TOR_WEBTUNNEL);
	cr_assert_str_eq(tt_verdict_name(TT_VERDICT_TOR_WEBTUNNEL), "tor-webtunnel");

	/* W1 needs half of at least 8 */
	tls.is_nest_hello = 0;
	tls.nest_app = 7;
	tls.nest_fit = 7;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "W1"));
	tls.nest_app = 20;
	tls.nest_fit = 9;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "W1"));
	tls.nest_fit = 10;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "W1"));
	cr_assert_eq(r.verdict, TT_VERDICT_NONE, "W1 alone stays below the threshold");
	cr_assert_eq(r.candidate, TT_VERDICT_TOR_WEBTUNNEL);

	/* meek: M1 and M2, with a browser's ALPN (B-, not counted beside them) */
	memset(&tls, 0, sizeof(tls));
	tls.has_ch = tls.has_sh = true;
	tls.poll_backoff = 3;
	tls.poll_mode = 199;
	tls.poll_bodies = 48;
	tls.poll_cell = 44;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert(fired(&r, "M1") && fired(&r, "M2") && fired(&r, "B-"));
	cr_assert_eq(r.verdict, TT_VERDICT_TOR_MEEK);
	cr_assert_gt(r.score, 0.98);
	tls.poll_backoff = 2;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "M1"));
	cr_assert_eq(r.verdict, TT_VERDICT_NONE, "M2 alone is a candidate");
	cr_assert_eq(r.candidate, TT_VERDICT_TOR_MEEK);
	tls.poll_backoff = 3;
	tls.poll_cell = 23;
	tt_evidence_score(&r, NULL, NULL, &relay);
	cr_assert_not(fired(&r, "M2"), "23 of 48 is under half");
}
