/* Scoring a finished flow against the evidence table (src/core/evidence.c, the weights
 * and reasons; TOR-DETECTION.md §6).
 *
 * logit p = logit prior + Σ over groups (the strongest item of the group + half of each
 * other item of the group), clamped to ±12. Items of one group are correlated (three
 * traits of one ClientHello are not three independent witnesses), hence the damping.
 * The weights are the brief's engineering estimates, checked on the tornet captures
 * (bench/accuracy); they are ln likelihood ratios. */
#include "workers.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "tortrace/tortrace.h"
#include "tls.h"
#include "relays.h"

#define PRIOR_LOGIT (-6.9) /* π = 1e-3 */
#define CLAMP       12.0

static void relay_of(const struct tt_relay_match *m, bool is_src, struct tt_flow_relay *out)
{
	memset(out, 0, sizeof(*out));
	out->from_ns = m->from_ns;
	out->to_ns = m->to_ns;
	out->flags = m->flags;
	out->port = m->port;
	out->kind = m->kind;
	out->is_src = is_src;
	memcpy(out->fingerprint, m->fingerprint, sizeof(out->fingerprint));
	memcpy(out->nickname, m->nickname, sizeof(out->nickname));
}

/* Relay evidence for the responder; the exit-side label for the initiator. */
static uint32_t relay_evidence(
    struct tt_flow_record *r, const struct tt_relays *idx, struct tt_flow_relay *relay)
{
	struct tt_relay_match m[4];
	/* A1 needs a conversation on the relay's port, not just packets to it. Either both
	 * directions' first payloads were seen (a handshake), or, for a flow caught without
	 * its start, the mid-stream inspection resynchronised on TLS record headers in some
	 * direction (it keeps records only after a chain of headers settles a boundary;
	 * tls.h tt_tls_resync): tor's link is TLS on exactly that address and port at that
	 * time. The risk is the one A1 already takes: another TLS service on the relay's
	 * address and port during the listing (address reuse, shared hosting). The resync
	 * proves TLS framing only, not tor, so it is no stronger than a handshake. */
	bool has_midstream_tls = r->tls && r->tls->is_midstream && r->tls->n_records > 0;
	bool has_handshake =
	    (r->app[0] != TT_APP_NONE && r->app[1] != TT_APP_NONE) || has_midstream_tls;
	uint32_t ev = 0;
	size_t n = tt_relays_lookup_range(
	    idx, r->dst_ip, r->ip_version, r->dst_port, r->first_ts_ns, r->last_ts_ns + 1, m, 4);

	if (n > 0) {
		switch (m[0].kind) {
		case TT_RELAY_MATCH_ORPORT:
		case TT_RELAY_MATCH_DIRPORT:
			ev |= 1u << (has_handshake ? TT_EV_A1 : TT_EV_A2);
			break;
		case TT_RELAY_MATCH_ORPORT_NEAR:
		case TT_RELAY_MATCH_DIRPORT_NEAR:
			ev |= 1u << TT_EV_A2;
			break;
		case TT_RELAY_MATCH_IP_ONLY:
			ev |= 1u << TT_EV_A3;
			break;
		default: /* an exit address or an undated list: says nothing of this port */
			break;
		}
		if (ev) {
			relay_of(&m[0], false, relay);
			r->relay = relay;
		}
	}
	/* Exit side: the initiator was an exit, on any port. */
	n = tt_relays_lookup_range(
	    idx, r->src_ip, r->ip_version, 0, r->first_ts_ns, r->last_ts_ns + 1, m, 4);
	for (size_t i = 0; i < n && i < 4; i++) {
		/* Any listing of the address within a day with the Exit flag counts. */
		bool is_exit = m[i].kind == TT_RELAY_MATCH_EXIT ||
			       (m[i].kind != TT_RELAY_MATCH_LISTED_UNDATED &&
				   (m[i].flags & TT_RELAY_FLAG_EXIT));

		if (is_exit) {
			ev |= 1u << TT_EV_X1;
			if (!r->relay) {
				relay_of(&m[i], true, relay);
				r->relay = relay;
			}
			break;
		}
	}
	return ev;
}

extern const char tt_tor_fingerprints_tsv[];
static struct tt_tls_fp_table fingerprints;
static pthread_once_t fingerprints_once = PTHREAD_ONCE_INIT;

static void load_fingerprints(void)
{
	unsigned bad = 0;

	if (tt_tls_fp_table_parse(&fingerprints, tt_tor_fingerprints_tsv,
		strlen(tt_tor_fingerprints_tsv), &bad) < 0) {
		tt_log(TT_LOG_ERROR, "built-in tor fingerprint table: bad line %u", bad);
		fingerprints.n = 0;
	}
}

static bool is_known_fingerprint(const struct tt_flow_tls *t)
{
	pthread_once(&fingerprints_once, load_fingerprints);
	return (t->ja3[0] && tt_tls_fp_table_find(&fingerprints, "ja3", t->ja3)) ||
	       (t->ja4[0] && tt_tls_fp_table_find(&fingerprints, "ja4", t->ja4));
}

static uint32_t tls_evidence(const struct tt_flow_tls *t)
{
	uint32_t ev = 0;
	const unsigned hello_tor = TT_TLS_CH_NO_ALPN | TT_TLS_CH_P224 | TT_TLS_CH_TOR_GROUPS;

	if (t->has_ch) {
		if ((t->ch_traits & (TT_TLS_CH_SNI_SHAPE | TT_TLS_CH_SNI_RANDOM)) ==
		    (TT_TLS_CH_SNI_SHAPE | TT_TLS_CH_SNI_RANDOM))
			ev |= 1u << TT_EV_B1;
		if ((t->ch_traits & hello_tor) == hello_tor)
			ev |= 1u << TT_EV_B2;
		if (!(t->ch_traits & TT_TLS_CH_NO_ALPN))
			ev |= 1u << TT_EV_BNEG;
		if (is_known_fingerprint(t))
			ev |= 1u << TT_EV_B3;
	}
	if (t->has_cert && (t->cert_traits & TT_TLS_CERT_ALL) == TT_TLS_CERT_ALL)
		ev |= 1u << TT_EV_C1;
	if (t->is_d1)
		ev |= 1u << TT_EV_D1;
	if (t->is_d2)
		ev |= 1u << TT_EV_D2;
	if (t->is_d3)
		ev |= 1u << TT_EV_D3;
	if (t->is_d4)
		ev |= 1u << TT_EV_D4;
	return ev;
}

/* Snowflake's items (research §1.7), from the UDP inspector's facts (webrtc.c). S1: one
 * 5-tuple carries ICE checks and a DTLS handshake followed by application data, and no
 * RTP/SRTP: a data channel, not a call. S2: that with Snowflake's volume. S3/S4: pion's
 * ServerHello/ClientHello. S-: media beside the DTLS handshake. */
#define WEBRTC_HELLO (TT_WRTC_CH_FWD | TT_WRTC_CH_REV | TT_WRTC_SH_FWD | TT_WRTC_SH_REV)
#define S2_RECORDS   1000u
#define S2_BYTES     500000u
#define S5_RECORDS   50u

static uint32_t webrtc_evidence(const struct tt_flow_record *r)
{
	uint32_t ev = 0;
	bool is_channel = (r->webrtc & TT_WRTC_ICE) && (r->webrtc & WEBRTC_HELLO) &&
			  r->dtls_app > 0 && r->rtp == 0;

	if (is_channel) {
		ev |= 1u << TT_EV_S1;
		if (r->dtls_app >= S2_RECORDS &&
		    r->payload_bytes[0] + r->payload_bytes[1] >= S2_BYTES)
			ev |= 1u << TT_EV_S2;
	}
	if (r->webrtc & TT_WRTC_PION_SH)
		ev |= 1u << TT_EV_S3;
	if (r->webrtc & TT_WRTC_PION_CH)
		ev |= 1u << TT_EV_S4;
	if (r->rtp > 0)
		ev |= 1u << TT_EV_SNEG;
	/* A quarter of at least 50 (Snowflake: 51-60 % of 285-427; random lengths from 100 to
	 * 1264 bytes hit the 4 lengths 0.3 % of the time); set well below, not fitted. */
	if (r->up_big >= S5_RECORDS && 4u * r->up_quantum >= r->up_big)
		ev |= 1u << TT_EV_S5;
	return ev;
}

/* Tor inside another TLS connection, from the follower's counts (tunnel.c). W1: at least
 * half of at least TT_TUN_W1_MIN client records are Tor records of whole cells one layer
 * down. W2: Tor's ClientHello and VERSIONS, nested. M1: a chain of 3 or more poll waits
 * growing x1.5 (100, 150, 225, 338 ms: meek's back-off). M2: at least half of at least
 * TT_TUN_M2_MIN_BODIES POSTs carry one Tor record of whole cells. */
#define M1_RUN 3u

static uint32_t tunnel_evidence(const struct tt_flow_tls *t)
{
	uint32_t ev = 0;

	if (t->nest_app >= TT_TUN_W1_MIN && 2u * t->nest_fit >= t->nest_app)
		ev |= 1u << TT_EV_W1;
	if (t->is_nest_hello)
		ev |= 1u << TT_EV_W2;
	if (t->poll_backoff >= M1_RUN)
		ev |= 1u << TT_EV_M1;
	if (t->poll_bodies >= TT_TUN_M2_MIN_BODIES && 2u * t->poll_cell >= t->poll_bodies)
		ev |= 1u << TT_EV_M2;
	return ev;
}

static double score_of(uint32_t ev)
{
	static const double prior_p = 1.0 / (1.0 + 992.27471560502658); /* 1/(1+e^6.9) */
	double x = PRIOR_LOGIT;
	double best[26] = {0}, rest[26] = {0};
	uint32_t groups = 0;
	unsigned n_items;
	const struct tt_evidence_item *items = tt_evidence_table(&n_items);

	if (ev == 0) /* most flows: the prior, without the loops and an exp() */
		return prior_p;

	/* One pass over the items that fired, in table order, keeping each group's strongest
	 * item and the sum of the others; then the groups in order A..Z. The additions are
	 * the ones a loop over groups, then items, would make, in the same order. */
	for (uint32_t left = ev; left; left &= left - 1) {
		unsigned i = (unsigned)__builtin_ctz(left), g;
		double w;

		if (i >= n_items || items[i].group < 'A' || items[i].group > 'Z')
			continue;
		/* An item measured to add nothing beside another is not counted
		 * (evidence.c not_beside, e.g. D3 beside D4); the record still lists it. */
		if (ev & items[i].not_beside)
			continue;
		g = (unsigned)(items[i].group - 'A');
		w = items[i].weight;
		groups |= 1u << g;
		if (fabs(w) > fabs(best[g])) {
			rest[g] += best[g];
			best[g] = w;
		} else {
			rest[g] += w;
		}
	}
	for (uint32_t left = groups; left; left &= left - 1) {
		unsigned g = (unsigned)__builtin_ctz(left);

		x += best[g] + 0.5 * rest[g];
	}
	if (x > CLAMP)
		x = CLAMP;
	if (x < -CLAMP)
		x = -CLAMP;
	return 1.0 / (1.0 + exp(-x));
}

/* The Tor-protocol items of a TLS link (ClientHello, certificate, cell framing). */
#define TLS_LINK_EV                                                                                \
	((1u << TT_EV_B1) | (1u << TT_EV_B2) | (1u << TT_EV_B3) | (1u << TT_EV_C1) |               \
	    (1u << TT_EV_D1) | (1u << TT_EV_D2) | (1u << TT_EV_D3))

/* Snowflake's positive items. */
#define SNOWFLAKE_EV                                                                               \
	((1u << TT_EV_S1) | (1u << TT_EV_S2) | (1u << TT_EV_S3) | (1u << TT_EV_S4) |               \
	    (1u << TT_EV_S5))

/* What the evidence points at: the verdict the flow gets at or above the threshold, or
 * the hypothesis it is a candidate for below it. */
static unsigned hypothesis(const struct tt_flow_record *r, uint32_t ev)
{
	bool is_dirport = r->relay && !r->relay->is_src &&
			  (r->relay->kind == TT_RELAY_MATCH_DIRPORT ||
			      r->relay->kind == TT_RELAY_MATCH_DIRPORT_NEAR);

	if ((ev & (1u << TT_EV_H1)) || (is_dirport && r->app[0] == TT_APP_HTTP))
		return TT_VERDICT_TOR_DIR;
	if (r->proto == 17 && (ev & SNOWFLAKE_EV))
		return TT_VERDICT_TOR_SNOWFLAKE;
	if (ev & ((1u << TT_EV_M1) | (1u << TT_EV_M2)))
		return TT_VERDICT_TOR_MEEK;
	if (ev & ((1u << TT_EV_W1) | (1u << TT_EV_W2)))
		return TT_VERDICT_TOR_WEBTUNNEL;
	if (ev & ((1u << TT_EV_A1) | (1u << TT_EV_A2)))
		return TT_VERDICT_TOR;
	/* The obfs4 items (F1 and what rests on it) without any sign of tor's TLS link: the
	 * flow is fully encrypted from its first byte, so it is a pluggable transport's or
	 * nothing of Tor's. */
	if ((ev & (1u << TT_EV_F1)) && !(ev & TLS_LINK_EV))
		return TT_VERDICT_TOR_PT;
	return TT_VERDICT_TOR_BRIDGE;
}

void tt_evidence_score(struct tt_flow_record *r, const struct tt_relays *idx,
    const struct tt_config *cfg, struct tt_flow_relay *relay)
{
	static const double prior_p = 1.0 / (1.0 + 992.27471560502658); /* as score_of */
	double min_score = cfg && cfg->min_score > 0 ? cfg->min_score : TT_MIN_SCORE_DEFAULT;
	uint32_t ev = 0, positive = 0;
	unsigned n_items;
	const struct tt_evidence_item *items = tt_evidence_table(&n_items);
	double p;

	r->relay = NULL;
	if (idx)
		ev |= relay_evidence(r, idx, relay);
	if (r->proto == 6 && (r->dst_port == 9001 || r->dst_port == 9030))
		ev |= 1u << TT_EV_A4;
	if (r->tls)
		ev |= tls_evidence(r->tls) | tunnel_evidence(r->tls);
	if (r->app[0] == TT_APP_TOR_DIR)
		ev |= 1u << TT_EV_H1;
	if (r->flags & TT_FLOW_FET_HANDSHAKE) {
		ev |= 1u << TT_EV_F1;
		if (r->flags & TT_FLOW_PT_SHAPE)
			ev |= 1u << TT_EV_G1;
		if (r->flags & TT_FLOW_NOT_OBFS4_HS)
			ev |= 1u << TT_EV_FNEG;
	}
	if (r->webrtc)
		ev |= webrtc_evidence(r);
	if (cfg)
		ev &= ~cfg->evidence_off;
	if (r->relay &&
	    (ev & ((1u << TT_EV_A1) | (1u << TT_EV_A2) | (1u << TT_EV_A3) | (1u << TT_EV_X1))) == 0)
		r->relay = NULL; /* its only item was left out */
	p = score_of(ev);
	r->evidence = ev;
	r->score = (float)p;
	r->candidate = TT_VERDICT_NONE;
	for (uint32_t left = ev; left; left &= left - 1) {
		unsigned i = (unsigned)__builtin_ctz(left);

		if (i < n_items && items[i].weight > 0)
			positive |= 1u << i;
	}
	/* Judged on the score as recorded (a float), so that a report never shows a score at
	 * the threshold without its verdict (-6.9 + 5 + 1.9 is a hair below 0 in doubles). */
	if (r->score >= (float)min_score) {
		r->verdict = (uint8_t)hypothesis(r, ev);
		return;
	}
	/* Below the threshold: no Tor verdict. Evidence that on balance points towards Tor
	 * (a positive item fired and the score rose above the prior) makes a candidate,
	 * reported apart with its reasons. */
	if ((ev & positive) && p > prior_p)
		r->candidate = (uint8_t)hypothesis(r, ev);
	/* The exit side is a relay-data fact, not a score: the initiator's address was a Tor
	 * exit at the flow's time or it was not. It is exempt from the threshold (and never
	 * outranks a Tor-protocol verdict). */
	r->verdict = ev & (1u << TT_EV_X1) ? TT_VERDICT_TOR_EXIT_SIDE : TT_VERDICT_NONE;
}
