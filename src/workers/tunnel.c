/* Tor inside another TLS connection: meek and WebTunnel (docs/research/
 * transports-2026-12-01.md §2-4; evidence M1, M2, W1, W2).
 *
 * Both transports carry Tor's own TLS 1.3 records unchanged inside an outer HTTPS
 * connection: WebTunnel as the raw stream after a WebSocket upgrade, meek as the bodies of
 * HTTP POSTs. The outer records' lengths therefore still show Tor's cells, offset by a
 * constant: a record of k cells is 514 k + 5 + 17 bytes inside, plus the outer overhead
 * (17 under TLS 1.3), plus for meek the POST's headers. The client direction is the
 * reliable one: servers write bulk data in their own chunks, which cut the cells.
 *
 * After the TLS inspector has read a flow's handshake and first records (its 35 KiB state
 * is then given back), a follower of about 230 bytes goes on reading the client's
 * record headers, only their 5 bytes, with the time of each, for up to TT_TUN_MAX_RECS
 * records. It keeps the first TT_TUN_LENS lengths (W1, W2, M2) and, per record length, the
 * wait between the server's last payload and the client's next record of that length
 * (M1: meek's empty polls back off by x1.5 from 100 ms while the bridge has nothing to
 * send). Per-flow state only, so the result does not depend on which worker sees it. */
#include <stdlib.h>
#include <string.h>

#include "tls.h"

void tt_tunnel_start(struct tt_tunnel *t, const struct tt_tls_flow *f, unsigned overhead)
{
	const struct tt_tls_stream *s = &f->st[0];

	memset(t, 0, sizeof(*t));
	t->base_seq = s->base_seq;
	t->fol = s->fol;
	t->overhead = (uint8_t)overhead;
	t->n_lens = f->n_app[0] < TT_TUN_LENS ? f->n_app[0] : TT_TUN_LENS;
	memcpy(t->lens, f->app_lens[0], t->n_lens * sizeof(t->lens[0]));
	t->n_recs = f->n_app[0];
}

/* The slot of record length len: its own, else the one seen least (the first of equals),
 * emptied for it. */
static struct tt_tun_slot *slot_of(struct tt_tunnel *t, uint16_t len)
{
	struct tt_tun_slot *least = &t->slot[0];

	for (unsigned i = 0; i < TT_TUN_SLOTS; i++) {
		if (t->slot[i].n > 0 && t->slot[i].len == len)
			return &t->slot[i];
		if (t->slot[i].n < least->n)
			least = &t->slot[i];
	}
	memset(least, 0, sizeof(*least));
	least->len = len;
	return least;
}

/* Microseconds from the follower's time origin (set by its first packet), at least 1 so
 * that 0 means "none", saturating. */
static uint32_t us_of(struct tt_tunnel *t, uint64_t ts_ns)
{
	uint64_t us;

	if (t->t0_ns == 0)
		t->t0_ns = ts_ns;
	us = ts_ns > t->t0_ns ? (ts_ns - t->t0_ns) / 1000 + 1 : 1;
	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* M1's step: the wait before this record, from the server's last payload, when the
 * server answered since this length's previous record (else the chain breaks). Waits of
 * at least TT_TUN_M1_MIN_US growing x1.45-1.55 extend the chain: 100, 150, 225 ms, ...
 * Measured from the answer, the wait is meek's timer alone, without the round trip: the
 * corpus's 204 steps are x1.483-1.502. */
static void poll_timing(struct tt_tunnel *t, uint16_t len, uint32_t now)
{
	struct tt_tun_slot *sl = slot_of(t, len);
	uint32_t srv = t->srv_ns ? us_of(t, t->srv_ns) : 0;
	uint64_t wait = 0, prev = sl->wait_us;

	if (sl->n > 0 && srv > sl->last_us && now >= srv && now < UINT32_MAX)
		wait = now - srv;
	if (wait > 0 && prev >= TT_TUN_M1_MIN_US && 20 * wait >= 29 * prev &&
	    20 * wait <= 31 * prev) {
		if (++sl->run > sl->best)
			sl->best = sl->run;
	} else {
		sl->run = 0;
	}
	sl->wait_us = (uint32_t)wait;
	sl->last_us = now;
	if (sl->n < UINT16_MAX)
		sl->n++;
}

void tt_tunnel_client(
    struct tt_tunnel *t, uint32_t seq, const uint8_t *payload, uint32_t len, uint64_t ts_ns)
{
	struct tt_tls_record r;
	int rc;

	while (!tt_tunnel_is_done(t) &&
	       (rc = tt_tls_follow_next(&t->fol, seq - t->base_seq, payload, len, &r)) != 0) {
		if (rc < 0) {
			t->is_lost = true;
			return;
		}
		if (r.type != 23)
			continue;
		if (t->n_lens < TT_TUN_LENS)
			t->lens[t->n_lens++] = r.length;
		t->n_recs++;
		poll_timing(t, r.length, us_of(t, ts_ns));
	}
}

/* On every server segment of a download: only a store (its microseconds are worked out
 * when a client record needs them). */
void tt_tunnel_server(struct tt_tunnel *t, uint64_t ts_ns)
{
	if (t->t0_ns == 0)
		t->t0_ns = ts_ns;
	if (ts_ns > t->srv_ns)
		t->srv_ns = ts_ns;
}

bool tt_tunnel_is_done(const struct tt_tunnel *t)
{
	return t->is_lost || t->n_recs >= TT_TUN_MAX_RECS;
}

/* Decimal digits of n > 0. */
static unsigned digits(uint32_t n)
{
	unsigned d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* M2: a POST whose body is one Tor TLS record of k cells (514 k + 22 bytes) is the empty
 * poll's record (length H) plus the body plus the Content-Length digits beyond the empty
 * poll's one "0". */
static bool is_poll_body(uint32_t len, uint32_t h)
{
	for (uint32_t e = 1; e <= 4; e++) {
		uint32_t b;

		if (len <= h + e)
			break;
		b = len - h - e;
		if (digits(b) - 1 == e && b % TT_TLS_CELL_LEN == TT_TUN_INNER)
			return true;
	}
	return false;
}

void tt_tunnel_stats(const struct tt_tunnel *t, struct tt_tunnel_stats *out)
{
	unsigned o = t->overhead + TT_TUN_INNER, n = t->n_lens, mode_n = 0;
	uint16_t mode = 0, sorted[TT_TUN_LENS];

	memset(out, 0, sizeof(*out));
	out->n_recs = t->n_recs;
	/* W1: the first TT_TUN_W1_WINDOW records, those of 65-8192 bytes (the Finished and
	 * other short records say nothing; bulk writes are not cells). */
	for (unsigned i = 0; i < n && i < TT_TUN_W1_WINDOW; i++) {
		uint16_t len = t->lens[i];

		if (len < 65 || len > 8192)
			continue;
		out->w1_elig++;
		if (len >= o + TT_TLS_CELL_LEN && (len - o) % TT_TLS_CELL_LEN == 0)
			out->w1_fit++;
	}
	/* W2: Tor's ClientHello record (512 bytes + header) and, within the next 4 records,
	 * its VERSIONS cell's record (11 bytes + TLS 1.3's 17 + header), each in one outer
	 * record: D1's landmark, one layer down. */
	for (unsigned i = 0; i < n && i < TT_TUN_W2_WINDOW && !out->is_w2; i++) {
		if (t->lens[i] != t->overhead + 517u)
			continue;
		for (unsigned j = i + 1; j < n && j <= i + 4; j++)
			if (t->lens[j] == t->overhead + 33u)
				out->is_w2 = true;
	}
	/* M2: the mode H of the lengths (the empty poll; the shortest of equals), then the
	 * records over H + 64. */
	memcpy(sorted, t->lens, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), tt_cmp_u16);
	for (unsigned i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && sorted[j] == sorted[i]; j++)
			;
		if (j - i > mode_n) {
			mode_n = j - i;
			mode = sorted[i];
		}
	}
	if (mode_n >= TT_TUN_M2_MIN_MODE) {
		out->m2_mode = mode;
		for (unsigned i = 0; i < n; i++) {
			if (t->lens[i] <= mode + 64u)
				continue;
			if (out->m2_elig < UINT8_MAX)
				out->m2_elig++;
			if (is_poll_body(t->lens[i], mode) && out->m2_fit < UINT8_MAX)
				out->m2_fit++;
		}
	}
	/* M1: the longest x1.5 chain among lengths seen at least TT_TUN_M2_MIN_MODE times. */
	for (unsigned i = 0; i < TT_TUN_SLOTS; i++)
		if (t->slot[i].n >= TT_TUN_M2_MIN_MODE && t->slot[i].best > out->m1_run)
			out->m1_run = t->slot[i].best;
}
