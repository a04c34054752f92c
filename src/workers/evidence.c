/* Evidence and scores: the one table of what counts as evidence of Tor, with the weight
 * and the reason for each, and the scoring of a finished flow (TOR-DETECTION.md §6).
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

#include "tls.h"
#include "../relays/relays.h"

#define PRIOR_LOGIT (-6.9) /* π = 1e-3 */
#define CLAMP       12.0

enum {
	E_A1 = 0,
	E_A2,
	E_A3,
	E_A4,
	E_B1,
	E_B2,
	E_BNEG,
	E_C1,
	E_D1,
	E_D2,
	E_H1,
	E_F1,
	E_B3,
	E_X1,
	E_COUNT,
};

static const struct tt_evidence_item table[E_COUNT] = {
    [E_A1] = {"A1", 'A', 9.0,
	"responder is a relay's ORPort or DirPort in relay data valid during the flow, with a "
	"handshake: tor binds that port"},
    [E_A2] = {"A2", 'A', 5.0,
	"responder is a relay's ORPort or DirPort listed within a day of the flow (address "
	"churn), or valid but no handshake was seen"},
    [E_A3] = {"A3", 'A', 2.0,
	"responder address is a relay's, on another port: hosts run other services beside a "
	"relay"},
    [E_A4] = {"A4", 'A', 1.0, "responder port 9001 or 9030, tor's defaults: weak alone"},
    [E_B1] = {"B1", 'B', 4.0,
	"ClientHello SNI is tor's random www.<base32>.com name (tor never resolves it)"},
    [E_B2] = {"B2", 'B', 5.0,
	"ClientHello offers no ALPN and P-224 among only tor's groups: browsers do not"},
    [E_B3] = {"B3", 'B', 5.0,
	"ClientHello JA3 or JA4 is in tortrace's versioned table of tor fingerprints "
	"(data/tor-fingerprints.tsv): a hint, brittle across OpenSSL versions"},
    [E_BNEG] = {"B-", 'B', -5.0, "ClientHello offers ALPN (h2, http/1.1): tor's never does"},
    [E_C1] = {"C1", 'C', 9.0,
	"certificate is tor's link certificate: random www.<base32>.net subject, .com "
	"issuer, no extensions, midnight validity, 8-byte serial; no CA issues such"},
    [E_D1] = {"D1", 'D', 5.0,
	"client's first record is a VERSIONS cell and the server answers with tor's ~2 KB "
	"VERSIONS+CERTS+AUTH_CHALLENGE+NETINFO bundle"},
    [E_D2] = {"D2", 'D', 6.0,
	"at least 80% of the records after the handshake carry whole 514-byte cells"},
    [E_H1] = {"H1", 'H', 9.0,
	"plain HTTP request for a Tor directory document (GET /tor/), or a relay publishing "
	"its descriptor (POST /tor/)"},
    [E_F1] = {"F1", 'F', 3.5,
	"both first flights look like nothing (random bytes, no protocol start) with the "
	"lengths of obfs4's handshake: the fully-encrypted-proxy class, obfs4 among them"},
    [E_X1] = {"X1", 'X', 0.0,
	"initiator is a Tor exit at the flow's time (exit list or Exit flag): traffic leaving "
	"the Tor network, not Tor's protocol"},
};

static const char *const verdict_names[TT_VERDICT_COUNT] = {
    [TT_VERDICT_NONE] = "none",
    [TT_VERDICT_TOR] = "tor",
    [TT_VERDICT_TOR_BRIDGE] = "tor-bridge",
    [TT_VERDICT_TOR_PT] = "tor-pt",
    [TT_VERDICT_TOR_DIR] = "tor-dir",
    [TT_VERDICT_TOR_EXIT_SIDE] = "tor-exit-side",
};

const struct tt_evidence_item *tt_evidence_table(unsigned *n)
{
	*n = E_COUNT;
	return table;
}

const char *tt_verdict_name(unsigned verdict)
{
	return verdict < TT_VERDICT_COUNT ? verdict_names[verdict] : "none";
}

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
	bool has_handshake = r->app[0] != TT_APP_NONE && r->app[1] != TT_APP_NONE;
	uint32_t ev = 0;
	size_t n = tt_relays_lookup_range(
	    idx, r->dst_ip, r->ip_version, r->dst_port, r->first_ts_ns, r->last_ts_ns + 1, m, 4);

	if (n > 0) {
		switch (m[0].kind) {
		case TT_RELAY_MATCH_ORPORT:
		case TT_RELAY_MATCH_DIRPORT:
			ev |= 1u << (has_handshake ? E_A1 : E_A2);
			break;
		case TT_RELAY_MATCH_ORPORT_NEAR:
		case TT_RELAY_MATCH_DIRPORT_NEAR:
			ev |= 1u << E_A2;
			break;
		case TT_RELAY_MATCH_IP_ONLY:
			ev |= 1u << E_A3;
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
			ev |= 1u << E_X1;
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
			ev |= 1u << E_B1;
		if ((t->ch_traits & hello_tor) == hello_tor)
			ev |= 1u << E_B2;
		if (!(t->ch_traits & TT_TLS_CH_NO_ALPN))
			ev |= 1u << E_BNEG;
		if (is_known_fingerprint(t))
			ev |= 1u << E_B3;
	}
	if (t->has_cert && (t->cert_traits & TT_TLS_CERT_ALL) == TT_TLS_CERT_ALL)
		ev |= 1u << E_C1;
	if (t->is_d1)
		ev |= 1u << E_D1;
	if (t->is_d2)
		ev |= 1u << E_D2;
	return ev;
}

static double score_of(uint32_t ev)
{
	static const double prior_p = 1.0 / (1.0 + 992.27471560502658); /* 1/(1+e^6.9) */
	double x = PRIOR_LOGIT;

	if (ev == 0) /* most flows: the prior, without 300 steps and an exp() */
		return prior_p;

	for (char g = 'A'; g <= 'Z'; g++) {
		double best = 0, rest = 0;

		for (unsigned i = 0; i < E_COUNT; i++) {
			double w = table[i].weight;

			if (!(ev & (1u << i)) || table[i].group != g)
				continue;
			if (fabs(w) > fabs(best)) {
				rest += best;
				best = w;
			} else {
				rest += w;
			}
		}
		x += best + 0.5 * rest;
	}
	if (x > CLAMP)
		x = CLAMP;
	if (x < -CLAMP)
		x = -CLAMP;
	return 1.0 / (1.0 + exp(-x));
}

void tt_evidence_score(
    struct tt_flow_record *r, const struct tt_relays *idx, struct tt_flow_relay *relay)
{
	uint32_t ev = 0;
	double p;

	r->relay = NULL;
	if (idx)
		ev |= relay_evidence(r, idx, relay);
	if (r->proto == 6 && (r->dst_port == 9001 || r->dst_port == 9030))
		ev |= 1u << E_A4;
	if (r->tls)
		ev |= tls_evidence(r->tls);
	if (r->app[0] == TT_APP_TOR_DIR)
		ev |= 1u << E_H1;
	if (r->flags & TT_FLOW_FET_HANDSHAKE)
		ev |= 1u << E_F1;
	p = score_of(ev);
	r->evidence = ev;
	r->score = (float)p;
	if (p >= 0.5) {
		bool is_dirport = r->relay && !r->relay->is_src &&
				  (r->relay->kind == TT_RELAY_MATCH_DIRPORT ||
				      r->relay->kind == TT_RELAY_MATCH_DIRPORT_NEAR);

		if ((ev & (1u << E_H1)) || (is_dirport && r->app[0] == TT_APP_HTTP))
			r->verdict = TT_VERDICT_TOR_DIR;
		else if (ev & ((1u << E_A1) | (1u << E_A2)))
			r->verdict = TT_VERDICT_TOR;
		else
			r->verdict = TT_VERDICT_TOR_BRIDGE;
	} else if (ev & (1u << E_F1)) {
		/* A pluggable-transport shape is reported as such with its (low) confidence:
		 * the class is fully encrypted proxies, not obfs4 alone. */
		r->verdict = TT_VERDICT_TOR_PT;
	} else {
		r->verdict = ev & (1u << E_X1) ? TT_VERDICT_TOR_EXIT_SIDE : TT_VERDICT_NONE;
	}
}
