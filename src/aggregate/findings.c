/* Findings: what the flows with a verdict say about hosts and relays, and how sure each
 * file's answer is. The aggregator feeds every flow with a verdict or a candidate to
 * tt_findings_add() (in whatever order the sets complete); report.c writes the result.
 * Everything here is a sum, a minimum/maximum or a sorted set, so the result does not
 * depend on the order of the flows, and so not on -j. Used by the aggregator thread only.
 *
 * Who is a host (docs/report-schema.md, "hosts"): the near side of a finding. The
 * initiator of a Tor link (tor, tor-bridge, tor-pt, tor-dir, tor-meek, tor-webtunnel) is a
 * client, or a relay when relay data lists its own address at the flow's time (relays open
 * links to relays). The responder of a tor-exit-side flow was reached from a Tor exit
 * (exit-side). A responder of a Tor link is a relay or bridge of the relays table (a
 * WebTunnel server is a bridge), and also a host (role relay or bridge) when its address is
 * private (RFC 1918, CGNAT, ULA, link-local, loopback): a capture rarely holds the far side
 * of the Internet, but a relay or bridge on the lab's own network is one of its hosts. The
 * far side of tor-snowflake (a proxy) and tor-meek (a front: a web server that forwards)
 * is neither. */
#include "aggregate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "relays.h"
#include "tortrace/tortrace.h"

/* Intervals of Tor activity closer than this merge into one period. */
#define PERIOD_GAP_NS (300ull * 1000000000ull)
/* Compact (sort and merge) a growing list when it doubles past this. */
#define COMPACT_MIN   1024
/* Peers and hosts named per entry in report.json (all are counted). */
#define NAMES_MAX     20
/* The finest time bucket of the activity chart, and the most bars it is drawn with. */
#define BUCKET_NS     (60ull * 1000000000ull)
#define BARS_MAX      120

/* Roles are enum tt_host_role bits, kinds enum tt_relay_finding_kind (tortrace.h). */
static const char *const kind_names[] = {"relay", "bridge", "exit"};

struct ival {
	uint64_t from, to;
};

struct best {
	float score;
	uint8_t verdict, candidate;
	uint32_t evidence;
	uint64_t first_ts_ns;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t proto, ver;
	bool is_set;
};

struct host {
	uint8_t ip[16];
	uint8_t ver;
	uint8_t roles;
	uint64_t flows, bytes, candidates;
	uint64_t first_ns, last_ns;
	uint64_t verdicts[TT_VERDICT_COUNT];
	struct best best;
	struct ival *iv;
	size_t n_iv, cap_iv, compact_at;
};

struct relay {
	uint8_t ip[16];
	uint8_t ver;
	uint8_t kind;
	uint16_t port;
	uint64_t flows, bytes;
	uint64_t first_ns, last_ns;
	uint64_t verdicts[TT_VERDICT_COUNT];
	bool has_id;
	struct tt_flow_relay id; /* the listing of the first flow that matched it */
};

struct edge {
	uint32_t host, relay;
};

struct map {
	uint32_t *slot; /* entry index + 1; 0 empty */
	size_t cap;     /* a power of two */
};

struct bucket {
	uint64_t minute;
	double bytes;
};

/* A UDP flow with STUN or DTLS (record webrtc facts), and a TCP flow to port 443: the
 * pieces a Snowflake session is assembled from when the report is written. */
struct wflow {
	uint64_t first, last, bytes;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t ver, verdict, candidate;
	uint32_t webrtc, evidence, ice;
	float score;
};

struct tflow {
	uint64_t first, last;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

/* A TCP flow of a meek or WebTunnel session: an anchor (tor-meek or tor-webtunnel, or a
 * candidate for one), or, once the flows file is read, any TCP flow from an anchor's host
 * to its server's address and port. */
struct xflow {
	uint64_t first, last;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t ver, verdict, candidate;
	bool has_hello; /* a ClientHello was seen: sni is its server name ("" without one) */
	uint32_t evidence;
	float score;
	char sni[64];
};

/* A meek or WebTunnel session: its host's TCP flows to one server address and port with
 * one SNI, which are runs of the sorted f->xf (see transport_assemble). */
struct xsession {
	const struct xflow *key; /* the first flow of its SNI's run: host, server, port, SNI */
	size_t run, n_run;       /* f->xf[run ..]: the flows with its SNI */
	size_t bare, n_bare;     /* f->xf[bare ..]: those without a ClientHello (when the
				  * session has an SNI; else n_bare is 0) */
	size_t best;             /* its strongest evidence flow */
	uint64_t from, to;       /* the span of its evidence flows */
	uint64_t first, last;    /* the span of its members */
	uint8_t transport;       /* TT_VERDICT_TOR_MEEK or TT_VERDICT_TOR_WEBTUNNEL */
};

struct tt_findings {
	const struct tt_relays *relays;
	struct wflow *wf;
	size_t n_wf, cap_wf;
	struct tflow *tf;
	size_t n_tf, cap_tf;
	struct xflow *xf;
	size_t n_xf, cap_xf;
	struct xsession *xs; /* made by transport_assemble */
	size_t n_xs;
	char *flows_path;  /* tt_findings_set_flows */
	bool is_assembled; /* the sessions are assembled (Snowflake's roles counted on the
			    * hosts, meek's and WebTunnel's sessions made) */
	struct host *hosts;
	size_t n_hosts, cap_hosts;
	struct map host_map;
	struct relay *relay_v;
	size_t n_relays, cap_relays;
	struct map relay_map;
	struct edge *edges;
	size_t n_edges, cap_edges, edges_compact_at;
	struct bucket *buckets; /* open addressing by minute; minute + 1, 0 empty */
	size_t n_buckets, cap_buckets;
	struct best *file_best; /* per file */
	size_t n_files;
	int rc;
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

/* ---- hash maps over the entry arrays ------------------------------------------------ */

static uint64_t host_hash(const uint8_t ip[16], uint8_t ver)
{
	uint8_t k[17];

	memcpy(k, ip, 16);
	k[16] = ver;
	return XXH3_64bits(k, sizeof(k));
}

static uint64_t relay_hash(const uint8_t ip[16], uint8_t ver, uint16_t port, uint8_t kind)
{
	uint8_t k[20];

	memcpy(k, ip, 16);
	k[16] = ver;
	k[17] = kind;
	memcpy(k + 18, &port, 2);
	return XXH3_64bits(k, sizeof(k));
}

/* Rebuild m for n entries whose hashes hash(i) gives. */
static int map_rehash(
    struct map *m, size_t n, uint64_t (*hash)(const void *, size_t), const void *v)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint32_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t s = hash(v, i) & (cap - 1);

		while (slot[s])
			s = (s + 1) & (cap - 1);
		slot[s] = (uint32_t)i + 1;
	}
	free(m->slot);
	m->slot = slot;
	m->cap = cap;
	return 0;
}

static uint64_t host_hash_at(const void *v, size_t i)
{
	const struct host *h = (const struct host *)v + i;

	return host_hash(h->ip, h->ver);
}

static uint64_t relay_hash_at(const void *v, size_t i)
{
	const struct relay *r = (const struct relay *)v + i;

	return relay_hash(r->ip, r->ver, r->port, r->kind);
}

/* The host of ip, made when new; NULL without memory. */
static struct host *host_of(struct tt_findings *f, const uint8_t ip[16], uint8_t ver, uint32_t *id)
{
	uint64_t h = host_hash(ip, ver);
	size_t s;
	struct host *e;

	if (f->n_hosts + 1 > f->host_map.cap / 2 &&
	    map_rehash(&f->host_map, f->n_hosts, host_hash_at, f->hosts) < 0)
		return NULL;
	for (s = h & (f->host_map.cap - 1); f->host_map.slot[s];
	     s = (s + 1) & (f->host_map.cap - 1)) {
		e = &f->hosts[f->host_map.slot[s] - 1];
		if (e->ver == ver && memcmp(e->ip, ip, 16) == 0) {
			*id = f->host_map.slot[s] - 1;
			return e;
		}
	}
	if (f->n_hosts >= UINT32_MAX - 1 ||
	    grow((void **)&f->hosts, &f->cap_hosts, f->n_hosts + 1, sizeof(*f->hosts)) < 0)
		return NULL;
	e = &f->hosts[f->n_hosts];
	memset(e, 0, sizeof(*e));
	memcpy(e->ip, ip, 16);
	e->ver = ver;
	e->first_ns = UINT64_MAX;
	e->compact_at = COMPACT_MIN;
	f->host_map.slot[s] = (uint32_t)++f->n_hosts;
	*id = (uint32_t)(f->n_hosts - 1);
	return e;
}

static struct relay *relay_of(struct tt_findings *f, const uint8_t ip[16], uint8_t ver,
    uint16_t port, uint8_t kind, uint32_t *id)
{
	uint64_t h = relay_hash(ip, ver, port, kind);
	size_t s;
	struct relay *e;

	if (f->n_relays + 1 > f->relay_map.cap / 2 &&
	    map_rehash(&f->relay_map, f->n_relays, relay_hash_at, f->relay_v) < 0)
		return NULL;
	for (s = h & (f->relay_map.cap - 1); f->relay_map.slot[s];
	     s = (s + 1) & (f->relay_map.cap - 1)) {
		e = &f->relay_v[f->relay_map.slot[s] - 1];
		if (e->ver == ver && e->port == port && e->kind == kind &&
		    memcmp(e->ip, ip, 16) == 0) {
			*id = f->relay_map.slot[s] - 1;
			return e;
		}
	}
	if (f->n_relays >= UINT32_MAX - 1 ||
	    grow((void **)&f->relay_v, &f->cap_relays, f->n_relays + 1, sizeof(*f->relay_v)) < 0)
		return NULL;
	e = &f->relay_v[f->n_relays];
	memset(e, 0, sizeof(*e));
	memcpy(e->ip, ip, 16);
	e->ver = ver;
	e->port = port;
	e->kind = kind;
	e->first_ns = UINT64_MAX;
	f->relay_map.slot[s] = (uint32_t)++f->n_relays;
	*id = (uint32_t)(f->n_relays - 1);
	return e;
}

/* ---- sorted sets kept small -------------------------------------------------------- */

static int ival_cmp(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

/* Sort and merge intervals closer than PERIOD_GAP_NS; returns the new count. */
static size_t merge_ivals(struct ival *v, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), ival_cmp);
	for (size_t i = 1; i < n; i++) {
		if (v[i].from <= v[k].to || v[i].from - v[k].to <= PERIOD_GAP_NS) {
			if (v[i].to > v[k].to)
				v[k].to = v[i].to;
		} else {
			v[++k] = v[i];
		}
	}
	return k + 1;
}

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return x->relay < y->relay ? -1 : x->relay > y->relay;
}

static size_t dedup_edges(struct edge *v, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), edge_cmp);
	for (size_t i = 1; i < n; i++)
		if (edge_cmp(&v[i], &v[k]) != 0)
			v[++k] = v[i];
	return k + 1;
}

/* ---- adding a flow ------------------------------------------------------------------ */

/* Is a's record a stronger witness than b's? Higher score, then earlier, then by key: a
 * total order, so the best flow does not depend on the order flows arrive in. */
static bool is_better(const struct best *a, const struct best *b)
{
	int c;

	if (!b->is_set)
		return true;
	if (a->score != b->score)
		return a->score > b->score;
	if (a->first_ts_ns != b->first_ts_ns)
		return a->first_ts_ns < b->first_ts_ns;
	if ((c = memcmp(a->src, b->src, 16)) != 0)
		return c < 0;
	if ((c = memcmp(a->dst, b->dst, 16)) != 0)
		return c < 0;
	if (a->sport != b->sport)
		return a->sport < b->sport;
	if (a->dport != b->dport)
		return a->dport < b->dport;
	return a->proto < b->proto;
}

static void best_of(const struct tt_flow_record *r, struct best *b)
{
	memset(b, 0, sizeof(*b));
	b->score = r->score;
	b->verdict = r->verdict;
	b->candidate = r->candidate;
	b->evidence = r->evidence;
	b->first_ts_ns = r->first_ts_ns;
	memcpy(b->src, r->src_ip, 16);
	memcpy(b->dst, r->dst_ip, 16);
	b->sport = r->src_port;
	b->dport = r->dst_port;
	b->proto = r->proto;
	b->ver = r->ip_version;
	b->is_set = true;
}

static bool is_private(const uint8_t ip[16], uint8_t ver)
{
	if (ver == 4)
		return ip[0] == 10 || ip[0] == 127 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
		       (ip[0] == 192 && ip[1] == 168) || (ip[0] == 169 && ip[1] == 254) ||
		       (ip[0] == 100 && (ip[1] & 0xc0) == 64);
	return (ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||
	       (memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);
}

/* Relay data lists the address itself (any port) during the flow: it is a relay. */
static bool is_listed(const struct tt_findings *f, const struct tt_flow_record *r)
{
	struct tt_relay_match m[4];
	size_t n;

	if (!f->relays)
		return false;
	n = tt_relays_lookup_range(
	    f->relays, r->src_ip, r->ip_version, 0, r->first_ts_ns, r->last_ts_ns + 1, m, 4);
	for (size_t i = 0; i < n && i < 4; i++)
		if (m[i].kind == TT_RELAY_MATCH_ORPORT || m[i].kind == TT_RELAY_MATCH_DIRPORT ||
		    m[i].kind == TT_RELAY_MATCH_IP_ONLY)
			return true;
	return false;
}

static int add_ival(struct host *h, uint64_t from, uint64_t to)
{
	if (grow((void **)&h->iv, &h->cap_iv, h->n_iv + 1, sizeof(*h->iv)) < 0)
		return -ENOMEM;
	h->iv[h->n_iv++] = (struct ival){from, to};
	if (h->n_iv >= h->compact_at) {
		h->n_iv = merge_ivals(h->iv, h->n_iv);
		h->compact_at = h->n_iv * 2 > COMPACT_MIN ? h->n_iv * 2 : COMPACT_MIN;
	}
	return 0;
}

static int add_edge(struct tt_findings *f, uint32_t host, uint32_t relay)
{
	if (grow((void **)&f->edges, &f->cap_edges, f->n_edges + 1, sizeof(*f->edges)) < 0)
		return -ENOMEM;
	f->edges[f->n_edges++] = (struct edge){host, relay};
	if (f->n_edges >= f->edges_compact_at) {
		f->n_edges = dedup_edges(f->edges, f->n_edges);
		f->edges_compact_at = f->n_edges * 2 > COMPACT_MIN ? f->n_edges * 2 : COMPACT_MIN;
	}
	return 0;
}

/* Spread the flow's bytes over the minutes it lasted. */
static int add_bytes(struct tt_findings *f, uint64_t from, uint64_t to, uint64_t bytes)
{
	uint64_t m0 = from / BUCKET_NS, m1 = to / BUCKET_NS;
	double span = (double)(to - from) + 1;

	if (m1 - m0 > 100000) /* a flow of months: its share per minute is noise */
		m0 = m1 - 100000;
	for (uint64_t m = m0; m <= m1; m++) {
		uint64_t lo = m == m0 ? from : m * BUCKET_NS;
		uint64_t hi = m == m1 ? to + 1 : (m + 1) * BUCKET_NS;
		double share = m0 == m1 ? (double)bytes : (double)bytes * (double)(hi - lo) / span;
		size_t s;

		if (f->n_buckets + 1 > f->cap_buckets / 2) {
			size_t cap = f->cap_buckets ? f->cap_buckets * 2 : 256;
			struct bucket *nb = calloc(cap, sizeof(*nb));

			if (!nb)
				return -ENOMEM;
			for (size_t i = 0; i < f->cap_buckets; i++) {
				if (!f->buckets[i].minute)
					continue;
				s = XXH3_64bits(&f->buckets[i].minute, 8) & (cap - 1);
				while (nb[s].minute)
					s = (s + 1) & (cap - 1);
				nb[s] = f->buckets[i];
			}
			free(f->buckets);
			f->buckets = nb;
			f->cap_buckets = cap;
		}
		uint64_t key = m + 1;

		s = XXH3_64bits(&key, 8) & (f->cap_buckets - 1);
		while (f->buckets[s].minute && f->buckets[s].minute != key)
			s = (s + 1) & (f->cap_buckets - 1);
		if (!f->buckets[s].minute) {
			f->buckets[s].minute = key;
			f->n_buckets++;
		}
		f->buckets[s].bytes += share;
	}
	return 0;
}

struct tt_findings *tt_findings_new(const struct tt_relays *relays, size_t n_files)
{
	struct tt_findings *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->relays = relays;
	f->n_files = n_files;
	f->file_best = calloc(n_files ? n_files : 1, sizeof(*f->file_best));
	f->edges_compact_at = COMPACT_MIN;
	if (!f->file_best) {
		free(f);
		return NULL;
	}
	return f;
}

void tt_findings_free(struct tt_findings *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_hosts; i++)
		free(f->hosts[i].iv);
	free(f->hosts);
	free(f->host_map.slot);
	free(f->relay_v);
	free(f->relay_map.slot);
	free(f->edges);
	free(f->wf);
	free(f->tf);
	free(f->xf);
	free(f->xs);
	free(f->flows_path);
	free(f->buckets);
	free(f->file_best);
	free(f);
}

static void host_count(struct host *h, const struct tt_flow_record *r, uint8_t role)
{
	struct best b;
	uint64_t bytes = r->bytes[0] + r->bytes[1];

	best_of(r, &b);
	if (is_better(&b, &h->best))
		h->best = b;
	if (r->verdict == TT_VERDICT_NONE) {
		h->candidates++;
		return;
	}
	h->roles |= role;
	h->flows++;
	h->bytes += bytes;
	h->verdicts[r->verdict % TT_VERDICT_COUNT]++;
	if (r->first_ts_ns < h->first_ns)
		h->first_ns = r->first_ts_ns;
	if (r->last_ts_ns > h->last_ns)
		h->last_ns = r->last_ts_ns;
}

/* The Snowflake client of a DTLS flow is its DTLS server: the ServerHello's sender, or
 * else the end that did not send the ClientHello. True when that is the responder. */
static bool snowflake_host_is_dst(uint32_t webrtc)
{
	if (webrtc & (TT_WRTC_SH_FWD | TT_WRTC_SH_REV))
		return (webrtc & TT_WRTC_SH_REV) != 0;
	return (webrtc & TT_WRTC_CH_FWD) != 0;
}

/* A UDP flow with STUN/DTLS facts into f->wf. */
static int add_wflow(struct tt_findings *f, const struct tt_flow_record *r)
{
	struct wflow *w;

	if (grow((void **)&f->wf, &f->cap_wf, f->n_wf + 1, sizeof(*f->wf)) < 0)
		return f->rc = -ENOMEM;
	w = &f->wf[f->n_wf++];
	*w = (struct wflow){.first = r->first_ts_ns,
	    .last = r->last_ts_ns,
	    .bytes = r->bytes[0] + r->bytes[1],
	    .ice = r->ice,
	    .sport = r->src_port,
	    .dport = r->dst_port,
	    .ver = r->ip_version,
	    .verdict = r->verdict,
	    .candidate = r->candidate,
	    .webrtc = r->webrtc,
	    .evidence = r->evidence,
	    .score = r->score};
	memcpy(w->src, r->src_ip, 16);
	memcpy(w->dst, r->dst_ip, 16);
	return 0;
}

/* A TCP flow to port 443 into f->tf. */
static int add_tflow(struct tt_findings *f, const struct tt_flow_record *r)
{
	struct tflow *t;

	if (grow((void **)&f->tf, &f->cap_tf, f->n_tf + 1, sizeof(*f->tf)) < 0)
		return f->rc = -ENOMEM;
	t = &f->tf[f->n_tf++];
	*t = (struct tflow){.first = r->first_ts_ns,
	    .last = r->last_ts_ns,
	    .sport = r->src_port,
	    .dport = r->dst_port};
	memcpy(t->src, r->src_ip, 16);
	memcpy(t->dst, r->dst_ip, 16);
	return 0;
}

/* A TCP flow of a meek or WebTunnel session into f->xf. */
static int add_xflow(struct tt_findings *f, const struct tt_flow_record *r)
{
	struct xflow *x;

	if (grow((void **)&f->xf, &f->cap_xf, f->n_xf + 1, sizeof(*f->xf)) < 0)
		return f->rc = -ENOMEM;
	x = &f->xf[f->n_xf++];
	*x = (struct xflow){.first = r->first_ts_ns,
	    .last = r->last_ts_ns,
	    .sport = r->src_port,
	    .dport = r->dst_port,
	    .ver = r->ip_version,
	    .verdict = r->verdict,
	    .candidate = r->candidate,
	    .has_hello = r->tls && r->tls->has_ch,
	    .evidence = r->evidence,
	    .score = r->score};
	memcpy(x->src, r->src_ip, 16);
	memcpy(x->dst, r->dst_ip, 16);
	if (x->has_hello) {
		memcpy(x->sni, r->tls->sni, sizeof(x->sni));
		x->sni[sizeof(x->sni) - 1] = 0;
	}
	return 0;
}

int tt_findings_set_flows(struct tt_findings *f, const char *path)
{
	free(f->flows_path);
	f->flows_path = path ? strdup(path) : NULL;
	return path && !f->flows_path ? -ENOMEM : 0;
}

int tt_findings_add(struct tt_findings *f, const struct tt_flow_record *r)
{
	uint8_t v = r->verdict != TT_VERDICT_NONE ? r->verdict : r->candidate;
	bool is_exit_side = v == TT_VERDICT_TOR_EXIT_SIDE;
	/* Snowflake: the host is the DTLS server (its client answers the proxy's
	 * ClientHello), whoever sent the first datagram. */
	bool is_snowflake = v == TT_VERDICT_TOR_SNOWFLAKE;
	/* meek and WebTunnel: the host is the initiator. A meek front is a web server that
	 * forwards (no relay, like Snowflake's proxy); a WebTunnel server is a bridge. */
	bool is_meek = v == TT_VERDICT_TOR_MEEK;
	bool is_transport = is_meek || v == TT_VERDICT_TOR_WEBTUNNEL;
	bool is_near_dst = is_exit_side || (is_snowflake && snowflake_host_is_dst(r->webrtc));
	const uint8_t *near = is_near_dst ? r->dst_ip : r->src_ip;
	const uint8_t *far = is_near_dst ? r->src_ip : r->dst_ip;
	uint8_t role, kind;
	uint16_t port;
	uint32_t hid, rid;
	struct host *h;
	struct relay *rl;
	struct best b;

	if (f->rc)
		return f->rc;
	if (r->file_id < f->n_files) {
		best_of(r, &b);
		if (is_better(&b, &f->file_best[r->file_id]))
			f->file_best[r->file_id] = b;
	}
	if (v == TT_VERDICT_NONE)
		return 0;
	if (is_exit_side) {
		role = TT_ROLE_EXIT_SIDE;
		kind = TT_RELAY_FINDING_EXIT;
		port = 0;
	} else {
		role = r->verdict != TT_VERDICT_NONE && is_listed(f, r) ? TT_ROLE_RELAY
									: TT_ROLE_CLIENT;
		kind = v == TT_VERDICT_TOR_BRIDGE || v == TT_VERDICT_TOR_PT ||
			       v == TT_VERDICT_TOR_WEBTUNNEL
			   ? TT_RELAY_FINDING_BRIDGE
			   : TT_RELAY_FINDING_RELAY;
		port = r->dst_port;
	}
	if (is_snowflake && add_wflow(f, r) < 0) /* a session's anchor */
		return f->rc;
	if (is_transport && r->proto == 6 && add_xflow(f, r) < 0) /* the same */
		return f->rc;
	if (!(h = host_of(f, near, r->ip_version, &hid)))
		return f->rc = -ENOMEM;
	host_count(h, r, role);
	if (r->verdict == TT_VERDICT_NONE)
		return 0; /* a candidate: counted on its host, never a relay's use */
	if (add_ival(h, r->first_ts_ns, r->last_ts_ns) < 0 ||
	    add_bytes(f, r->first_ts_ns, r->last_ts_ns, r->bytes[0] + r->bytes[1]) < 0)
		return f->rc = -ENOMEM;
	if (is_snowflake || is_meek)
		return 0; /* its peer is a proxy or a front, no relay: see sessions_assemble */
	if (!(rl = relay_of(f, far, r->ip_version, port, kind, &rid)))
		return f->rc = -ENOMEM;
	rl->flows++;
	rl->bytes += r->bytes[0] + r->bytes[1];
	rl->verdicts[r->verdict % TT_VERDICT_COUNT]++;
	if (r->first_ts_ns < rl->first_ns)
		rl->first_ns = r->first_ts_ns;
	if (r->last_ts_ns > rl->last_ns)
		rl->last_ns = r->last_ts_ns;
	/* The identity of the earliest listing seen (flows arrive in any order: keep the one
	 * whose validity starts first, a total order). */
	if (r->relay && (!rl->has_id || r->relay->from_ns < rl->id.from_ns)) {
		rl->id = *r->relay;
		rl->has_id = true;
	}
	if (add_edge(f, hid, rid) < 0)
		return f->rc = -ENOMEM;
	/* A relay or bridge on a private address is one of the capture's hosts too. */
	if (!is_exit_side && is_private(far, r->ip_version)) {
		uint32_t fid;
		struct host *fh = host_of(f, far, r->ip_version, &fid);

		if (!fh)
			return f->rc = -ENOMEM;
		host_count(fh, r, kind == TT_RELAY_FINDING_BRIDGE ? TT_ROLE_BRIDGE : TT_ROLE_RELAY);
		if (add_ival(fh, r->first_ts_ns, r->last_ts_ns) < 0)
			return f->rc = -ENOMEM;
	}
	return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

static void ip_str(const uint8_t ip[16], uint8_t ver, char *buf, size_t len)
{
	if (!inet_ntop(ver == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static int ip_cmp(const uint8_t a[16], uint8_t va, const uint8_t b[16], uint8_t vb)
{
	if (va != vb)
		return va < vb ? -1 : 1;
	return memcmp(a, b, 16);
}

/* Sort keys, so that qsort needs no context: hosts with most Tor flows first, then most
 * bytes, then by address; relays the same, then by port and kind. */
struct order_key {
	uint64_t flows, bytes;
	uint8_t ip[16];
	uint8_t ver, kind;
	uint16_t port;
	uint32_t idx;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order_key *x = a, *y = b;
	int c;

	if (x->flows != y->flows)
		return x->flows > y->flows ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if ((c = ip_cmp(x->ip, x->ver, y->ip, y->ver)) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

/* Host ids by address. */
static int addr_cmp(const void *a, const void *b)
{
	const struct order_key *x = a, *y = b;

	return ip_cmp(x->ip, x->ver, y->ip, y->ver);
}

static void ts_pair(struct tt_json *j, const char *ts_key, const char *time_key, uint64_t ns)
{
	char when[40];

	tt_json_key(j, ts_key);
	tt_json_ts(j, ns);
	tt_fmt_time(ns, when, sizeof(when));
	tt_json_kv_str(j, time_key, when);
}

static void verdict_counts(struct tt_json *j, const uint64_t n[TT_VERDICT_COUNT])
{
	tt_json_key(j, "verdicts");
	tt_json_obj(j);
	for (unsigned v = 1; v < TT_VERDICT_COUNT; v++)
		if (n[v])
			tt_json_kv_u64(j, tt_verdict_name(v), n[v]);
	tt_json_obj_end(j);
}

static void evidence_ids(struct tt_json *j, uint32_t ev)
{
	unsigned n;
	const struct tt_evidence_item *items = tt_evidence_table(&n);

	tt_json_key(j, "evidence");
	tt_json_arr(j);
	for (unsigned i = 0; i < n; i++)
		if (ev & (1u << i))
			tt_json_str(j, items[i].id);
	tt_json_arr_end(j);
}

/* "A1 B1 D1" into buf. */
static void evidence_words(uint32_t ev, char *buf, size_t len)
{
	unsigned n;
	const struct tt_evidence_item *items = tt_evidence_table(&n);
	size_t k = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < n && k + 4 < len; i++)
		if (ev & (1u << i))
			k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? " " : "", items[i].id);
}

static void best_json(struct tt_json *j, const char *key, const struct best *b)
{
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	tt_json_key(j, key);
	if (!b->is_set) {
		tt_json_null(j);
		return;
	}
	ip_str(b->src, b->ver, a, sizeof(a));
	ip_str(b->dst, b->ver, d, sizeof(d));
	tt_json_obj(j);
	tt_json_key(j, "score");
	tt_json_num(j, (double)b->score, 6);
	tt_json_kv_str(j, "verdict", tt_verdict_name(b->verdict));
	tt_json_kv_str(j, "candidate", tt_verdict_name(b->candidate));
	evidence_ids(j, b->evidence);
	tt_json_kv_str(j, "proto", tt_proto_name(b->proto));
	tt_json_kv_str(j, "src_ip", a);
	tt_json_kv_u64(j, "src_port", b->sport);
	tt_json_kv_str(j, "dst_ip", d);
	tt_json_kv_u64(j, "dst_port", b->dport);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, b->first_ts_ns);
	tt_json_obj_end(j);
}

static void relay_name(const struct relay *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	ip_str(r->ip, r->ver, a, sizeof(a));
	if (r->kind == TT_RELAY_FINDING_EXIT)
		snprintf(buf, len, "%s", a);
	else if (r->ver == 6)
		snprintf(buf, len, "[%s]:%u", a, r->port);
	else
		snprintf(buf, len, "%s:%u", a, r->port);
}

static void host_json(struct tt_json *j, const struct tt_findings *f, const struct host *h,
    const struct edge *e, size_t n_e)
{
	static const char *const role_names[] = {
	    "client", "relay", "bridge", "exit-side", "snowflake-proxy"};
	char a[INET6_ADDRSTRLEN], name[INET6_ADDRSTRLEN + 16];
	uint64_t active = 0;

	ip_str(h->ip, h->ver, a, sizeof(a));
	tt_json_obj(j);
	tt_json_kv_str(j, "address", a);
	tt_json_key(j, "roles");
	tt_json_arr(j);
	for (unsigned i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (h->roles & (1u << i))
			tt_json_str(j, role_names[i]);
	tt_json_arr_end(j);
	tt_json_kv_u64(j, "tor_flows", h->flows);
	tt_json_kv_u64(j, "tor_bytes", h->bytes);
	tt_json_kv_u64(j, "candidates", h->candidates);
	verdict_counts(j, h->verdicts);
	ts_pair(j, "first_ts", "first_time", h->first_ns);
	ts_pair(j, "last_ts", "last_time", h->last_ns);
	tt_json_key(j, "active_periods");
	tt_json_arr(j);
	for (size_t i = 0; i < h->n_iv; i++) {
		tt_json_arr(j);
		tt_json_ts(j, h->iv[i].from);
		tt_json_ts(j, h->iv[i].to);
		tt_json_arr_end(j);
		active += h->iv[i].to - h->iv[i].from;
	}
	tt_json_arr_end(j);
	tt_json_key(j, "active_s");
	tt_json_num(j, (double)active / 1e9, 3);
	/* The relays and bridges it used, in address order (the first NAMES_MAX named). */
	tt_json_kv_u64(j, "relays_contacted", n_e);
	tt_json_key(j, "relays");
	tt_json_arr(j);
	struct order_key *k = calloc(n_e + 1, sizeof(*k));

	for (size_t i = 0; k && i < n_e; i++) {
		const struct relay *r = &f->relay_v[e[i].relay];

		k[i] = (struct order_key){
		    .ver = r->ver, .kind = r->kind, .port = r->port, .idx = e[i].relay};
		memcpy(k[i].ip, r->ip, 16);
	}
	if (k)
		qsort(k, n_e, sizeof(*k), order_cmp);
	for (size_t i = 0; k && i < n_e && i < NAMES_MAX; i++) {
		const struct relay *r = &f->relay_v[k[i].idx];

		relay_name(r, name, sizeof(name));
		tt_json_obj(j);
		tt_json_kv_str(j, "endpoint", name);
		tt_json_kv_str(j, "kind", kind_names[r->kind]);
		tt_json_kv_str(
		    j, "nickname", r->has_id && r->id.nickname[0] ? r->id.nickname : NULL);
		tt_json_obj_end(j);
	}
	free(k);
	tt_json_arr_end(j);
	best_json(j, "strongest", &h->best);
	tt_json_obj_end(j);
}

static void relay_json(
    struct tt_json *j, const struct relay *r, const struct order_key *hosts, size_t n_h)
{
	char a[INET6_ADDRSTRLEN], flags[200], when[40];

	ip_str(r->ip, r->ver, a, sizeof(a));
	tt_json_obj(j);
	tt_json_kv_str(j, "address", a);
	tt_json_key(j, "port");
	if (r->kind == TT_RELAY_FINDING_EXIT)
		tt_json_null(j);
	else
		tt_json_u64(j, r->port);
	tt_json_kv_str(j, "kind", kind_names[r->kind]);
	tt_json_key(j, "listing");
	if (r->has_id) {
		tt_json_obj(j);
		tt_json_kv_str(j, "match", tt_relay_match_kind_name(r->id.kind));
		tt_json_kv_str(j, "fingerprint", r->id.fingerprint[0] ? r->id.fingerprint : NULL);
		tt_json_kv_str(j, "nickname", r->id.nickname[0] ? r->id.nickname : NULL);
		tt_relay_flags_format(r->id.flags, flags, sizeof(flags));
		tt_json_kv_str(j, "flags", flags);
		tt_fmt_time(r->id.from_ns, when, sizeof(when));
		tt_json_kv_str(j, "valid_from", when);
		tt_fmt_time(r->id.to_ns, when, sizeof(when));
		tt_json_kv_str(j, "valid_until", when);
		tt_json_obj_end(j);
	} else {
		tt_json_null(j);
	}
	tt_json_kv_u64(j, "tor_flows", r->flows);
	tt_json_kv_u64(j, "tor_bytes", r->bytes);
	verdict_counts(j, r->verdicts);
	ts_pair(j, "first_ts", "first_time", r->first_ns);
	ts_pair(j, "last_ts", "last_time", r->last_ns);
	tt_json_kv_u64(j, "hosts_total", n_h);
	tt_json_key(j, "hosts");
	tt_json_arr(j);
	for (size_t i = 0; i < n_h && i < NAMES_MAX; i++) {
		ip_str(hosts[i].ip, hosts[i].ver, a, sizeof(a));
		tt_json_str(j, a);
	}
	tt_json_arr_end(j);
	tt_json_obj_end(j);
}

static int bucket_cmp(const void *a, const void *b)
{
	const struct bucket *x = a, *y = b;

	return x->minute < y->minute ? -1 : x->minute > y->minute;
}

/* Tor bytes over time: the minutes with Tor traffic, drawn as at most BARS_MAX bars of a
 * round width (1, 5, 15, 60 minutes, 6 hours, a day, a week, 30 days). */
static int activity(struct tt_json *j, const struct tt_findings *f)
{
	static const uint64_t widths[] = {1, 5, 15, 60, 360, 1440, 10080, 43200};
	struct bucket *v = malloc((f->n_buckets ? f->n_buckets : 1) * sizeof(*v));
	size_t n = 0;
	uint64_t width = widths[0];

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap_buckets; i++)
		if (f->buckets[i].minute)
			v[n++] = f->buckets[i];
	qsort(v, n, sizeof(*v), bucket_cmp);
	if (n) {
		uint64_t span = v[n - 1].minute - v[0].minute + 1;

		for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
			width = widths[i];
			if (span / width < BARS_MAX)
				break;
		}
	}
	tt_json_key(j, "activity");
	tt_json_obj(j);
	tt_json_kv_u64(j, "bar_s", width * 60);
	tt_json_key(j, "bars");
	tt_json_arr(j);
	for (size_t i = 0; i < n;) {
		uint64_t bar = (v[i].minute - 1) / width;
		double bytes = 0;

		for (; i < n && (v[i].minute - 1) / width == bar; i++)
			bytes += v[i].bytes;
		tt_json_arr(j);
		tt_json_ts(j, bar * width * BUCKET_NS);
		tt_json_u64(j, (uint64_t)(bytes + 0.5));
		tt_json_arr_end(j);
	}
	tt_json_arr_end(j);
	tt_json_obj_end(j);
	free(v);
	return 0;
}

/* The edges of host h: a binary search in the edges sorted by host. */
static const struct edge *host_edges(const struct tt_findings *f, uint32_t h, size_t *n)
{
	size_t lo = 0, hi = f->n_edges, e;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->edges[mid].host < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (e = lo; e < f->n_edges && f->edges[e].host == h; e++)
		;
	*n = e - lo;
	return f->edges + lo;
}

/* Hosts (is_relays false) or relays in report order: a malloc()ed array of indexes into
 * f->hosts / f->relay_v (hosts with a verdict only), *n of them; NULL without memory. */
static uint32_t *sorted(const struct tt_findings *f, bool is_relays, size_t *n)
{
	size_t cap = is_relays ? f->n_relays : f->n_hosts;
	struct order_key *keys = calloc(cap + 1, sizeof(*keys));
	uint32_t *idx = calloc(cap + 1, sizeof(*idx));

	*n = 0;
	if (!keys || !idx) {
		free(keys);
		free(idx);
		return NULL;
	}
	for (size_t i = 0; i < cap; i++) {
		struct order_key *k = &keys[*n];

		if (is_relays) {
			const struct relay *r = &f->relay_v[i];

			*k = (struct order_key){.flows = r->flows,
			    .bytes = r->bytes,
			    .ver = r->ver,
			    .kind = r->kind,
			    .port = r->port,
			    .idx = (uint32_t)i};
			memcpy(k->ip, r->ip, 16);
		} else {
			const struct host *h = &f->hosts[i];

			if (!h->flows)
				continue;
			*k = (struct order_key){.flows = h->flows,
			    .bytes = h->bytes,
			    .ver = h->ver,
			    .idx = (uint32_t)i};
			memcpy(k->ip, h->ip, 16);
		}
		(*n)++;
	}
	qsort(keys, *n, sizeof(*keys), order_cmp);
	for (size_t i = 0; i < *n; i++)
		idx[i] = keys[i].idx;
	free(keys);
	return idx;
}

/* ---- Snowflake sessions (research §1.8) ----------------------------------------------
 * Assembled when the report is written, from every UDP flow with STUN/DTLS facts and
 * every TCP flow to port 443, both sorted into a total order first: the result depends
 * on neither the order the flows arrived in nor -j. A session is anchored on a DTLS flow
 * with the tor-snowflake verdict or candidate; its members inherit the label, never the
 * score:
 *   data        the anchor (and other anchors of the same host and ICE ufrag pair);
 *   ice-pair    UDP flows whose ICE checks carry the same ufrag pair (link "ice");
 *   stun        STUN-only flows of the host from a port of the session's flows (link
 *               "port": pion gathers server-reflexive candidates on the ICE socket), and
 *               bare STUN requests of the host within 100 ms of those (link "time", the
 *               RFC 5780 NAT test);
 *   rendezvous  the host's most recently opened TCP flow to port 443 still open when the
 *               session's first datagram came (link "time": probable, no weight);
 *   proxy-relay the proxy's TCP flow to port 443 opened within 1 s after the anchor began
 *               (seen only in a proxy's capture; its host gets role snowflake-proxy). */
#define SF_NAT_TEST_NS (100ull * 1000000ull)
#define SF_RELAY_NS    (1000ull * 1000000ull)

enum sf_role { SF_DATA, SF_ICE, SF_STUN, SF_STUN_TIME, SF_RENDEZVOUS, SF_RELAY };

static int wflow_cmp(const void *a, const void *b)
{
	const struct wflow *x = a, *y = b;
	int c;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if ((c = memcmp(x->src, y->src, 16)) != 0 || (c = memcmp(x->dst, y->dst, 16)) != 0)
		return c;
	if (x->sport != y->sport)
		return x->sport < y->sport ? -1 : 1;
	return x->dport < y->dport ? -1 : x->dport > y->dport;
}

static int tflow_cmp(const void *a, const void *b)
{
	const struct tflow *x = a, *y = b;
	int c;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if ((c = memcmp(x->src, y->src, 16)) != 0 || (c = memcmp(x->dst, y->dst, 16)) != 0)
		return c;
	if (x->sport != y->sport)
		return x->sport < y->sport ? -1 : 1;
	return x->dport < y->dport ? -1 : x->dport > y->dport;
}

static bool is_anchor(const struct wflow *w)
{
	return w->verdict == TT_VERDICT_TOR_SNOWFLAKE || w->candidate == TT_VERDICT_TOR_SNOWFLAKE;
}

/* The host's end of w (its address and port), or false when the host is not in w. */
static bool host_end(const struct wflow *w, const uint8_t host[16], uint16_t *port)
{
	if (memcmp(w->src, host, 16) == 0) {
		*port = w->sport;
		return true;
	}
	if (memcmp(w->dst, host, 16) == 0) {
		*port = w->dport;
		return true;
	}
	return false;
}

/* Is w one of the session of anchor a: the same ICE ufrag pair, with the host in it? */
static bool in_session(const struct wflow *a, const uint8_t host[16], const struct wflow *w)
{
	uint16_t p;

	return a->ice && w->ice == a->ice && host_end(w, host, &p);
}

/* The anchor's Snowflake client (the DTLS server) and its proxy. */
static void sf_ends(const struct wflow *a, const uint8_t **host, const uint8_t **proxy)
{
	bool is_dst = snowflake_host_is_dst(a->webrtc);

	*host = is_dst ? a->dst : a->src;
	*proxy = is_dst ? a->src : a->dst;
}

/* The proxy's relay leg of anchor a, or NULL. */
static const struct tflow *sf_relay(const struct tt_findings *f, const struct wflow *a)
{
	const uint8_t *host, *proxy;

	sf_ends(a, &host, &proxy);
	for (size_t i = 0; i < f->n_tf; i++) {
		const struct tflow *t = &f->tf[i];

		if (t->first >= a->first && t->first <= a->first + SF_RELAY_NS &&
		    memcmp(t->src, proxy, 16) == 0 && memcmp(t->dst, host, 16) != 0)
			return t;
	}
	return NULL;
}

/* The first anchor of a's session (same host and ufrag pair), so each is written once. */
static bool is_session_first(const struct tt_findings *f, size_t ai)
{
	const struct wflow *a = &f->wf[ai];
	const uint8_t *host, *proxy, *h2, *p2;

	if (!a->ice)
		return true;
	sf_ends(a, &host, &proxy);
	for (size_t i = 0; i < ai; i++) {
		if (!is_anchor(&f->wf[i]) || f->wf[i].ice != a->ice)
			continue;
		sf_ends(&f->wf[i], &h2, &p2);
		if (memcmp(h2, host, 16) == 0)
			return false;
	}
	return true;
}

static int addr_cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* meek / WebTunnel: a flow's server key (address, port, host, IP version) for a search
 * among the anchors' keys. */
#define XKEY_BYTES 36

static void xkey_of(uint8_t k[XKEY_BYTES], const uint8_t src[16], const uint8_t dst[16],
    uint16_t dport, uint8_t ver)
{
	memcpy(k, dst, 16);
	k[16] = (uint8_t)(dport >> 8);
	k[17] = (uint8_t)dport;
	memcpy(k + 18, src, 16);
	k[34] = ver;
	k[35] = 0;
}

static int xkey_cmp(const void *a, const void *b)
{
	return memcmp(a, b, XKEY_BYTES);
}

/* Read the flows file once for the pieces of the sessions anchored in f->wf and f->xf.
 * Snowflake: the UDP flows with STUN/DTLS facts and the TCP flows to port 443 of their
 * hosts and proxies. meek and WebTunnel: every TCP flow from an anchor's host to its
 * server's address and port. The anchors themselves come back from the file; when it
 * cannot be read, the sessions are made of their anchors alone. */
static int sessions_read(struct tt_findings *f)
{
	uint8_t(*ends)[16] = calloc(2 * f->n_wf + 1, 16);
	uint8_t(*keys)[XKEY_BYTES] = calloc(f->n_xf + 1, XKEY_BYTES);
	uint8_t k[XKEY_BYTES];
	struct tt_flows *it = NULL;
	const struct tt_flow_record *r;
	size_t n_ends = 0, n_anchors = f->n_wf, n_xanchors = f->n_xf;
	struct wflow *anchors = f->wf;
	struct xflow *xanchors = f->xf;
	int rc;

	if (!ends || !keys) {
		free(ends);
		free(keys);
		return f->rc = -ENOMEM;
	}
	for (size_t i = 0; i < f->n_wf; i++) {
		memcpy(ends[n_ends++], f->wf[i].src, 16);
		memcpy(ends[n_ends++], f->wf[i].dst, 16);
	}
	qsort(ends, n_ends, 16, addr_cmp16);
	for (size_t i = 0; i < f->n_xf; i++)
		xkey_of(keys[i], f->xf[i].src, f->xf[i].dst, f->xf[i].dport, f->xf[i].ver);
	qsort(keys, f->n_xf, XKEY_BYTES, xkey_cmp);
	if ((rc = tt_flows_open(f->flows_path, &it)) < 0) {
		tt_log(TT_LOG_WARN, "sessions: cannot read %s: %s", f->flows_path,
		    it ? tt_flows_error(it) : strerror(-rc));
		tt_flows_close(it);
		free(ends);
		free(keys);
		return 0; /* the sessions list their anchors only */
	}
	f->wf = NULL;
	f->n_wf = f->cap_wf = 0;
	f->xf = NULL;
	f->n_xf = f->cap_xf = 0;
	while ((rc = tt_flows_next(it, &r)) > 0 && f->rc == 0) {
		bool is_src = bsearch(r->src_ip, ends, n_ends, 16, addr_cmp16) != NULL;

		if (r->proto == 17 && r->webrtc &&
		    (is_src || bsearch(r->dst_ip, ends, n_ends, 16, addr_cmp16)))
			add_wflow(f, r);
		else if (r->proto == 6 && r->dst_port == 443 && is_src)
			add_tflow(f, r);
		if (r->proto == 6 && n_xanchors) {
			xkey_of(k, r->src_ip, r->dst_ip, r->dst_port, r->ip_version);
			if (bsearch(k, keys, n_xanchors, XKEY_BYTES, xkey_cmp))
				add_xflow(f, r);
		}
	}
	if (rc < 0 || f->rc) {
		if (rc < 0)
			tt_log(TT_LOG_WARN, "sessions: %s", tt_flows_error(it));
		free(f->wf);
		f->wf = anchors; /* back to the anchors alone */
		f->n_wf = f->cap_wf = n_anchors;
		free(f->xf);
		f->xf = xanchors;
		f->n_xf = f->cap_xf = n_xanchors;
		f->n_tf = 0;
	} else {
		free(anchors);
		free(xanchors);
	}
	tt_flows_close(it);
	free(ends);
	free(keys);
	return f->rc;
}

/* Sort the Snowflake pieces (read by sessions_read) and count each proxy with a relay
 * leg on its host (once). */
static int snowflake_assemble(struct tt_findings *f)
{
	if (f->n_wf)
		qsort(f->wf, f->n_wf, sizeof(*f->wf), wflow_cmp);
	if (f->n_tf)
		qsort(f->tf, f->n_tf, sizeof(*f->tf), tflow_cmp);
	for (size_t i = 0; i < f->n_wf; i++) {
		const struct wflow *a = &f->wf[i];
		const uint8_t *host, *proxy;
		struct host *ph;
		uint32_t id;

		if (a->verdict != TT_VERDICT_TOR_SNOWFLAKE || !sf_relay(f, a))
			continue;
		sf_ends(a, &host, &proxy);
		if (!(ph = host_of(f, proxy, a->ver, &id)))
			return f->rc = -ENOMEM;
		ph->roles |= TT_ROLE_SNOWFLAKE_PROXY;
		ph->flows++;
		ph->bytes += a->bytes;
		ph->verdicts[TT_VERDICT_TOR_SNOWFLAKE]++;
		if (a->first < ph->first_ns)
			ph->first_ns = a->first;
		if (a->last > ph->last_ns)
			ph->last_ns = a->last;
		if (add_ival(ph, a->first, a->last) < 0)
			return f->rc = -ENOMEM;
	}
	return 0;
}

static void sf_member(struct tt_json *j, const char *role, const char *link, const char *label,
    uint8_t ver, const uint8_t src[16], uint16_t sport, const uint8_t dst[16], uint16_t dport,
    const char *proto, uint64_t first, uint64_t last)
{
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	ip_str(src, ver, a, sizeof(a));
	ip_str(dst, ver, d, sizeof(d));
	tt_json_obj(j);
	tt_json_kv_str(j, "role", role);
	tt_json_kv_str(j, "link", link);
	tt_json_kv_str(j, "label", label);
	tt_json_kv_str(j, "proto", proto);
	tt_json_kv_str(j, "src_ip", a);
	tt_json_kv_u64(j, "src_port", sport);
	tt_json_kv_str(j, "dst_ip", d);
	tt_json_kv_u64(j, "dst_port", dport);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, first);
	tt_json_key(j, "last_ts");
	tt_json_ts(j, last);
	tt_json_obj_end(j);
}

static void sf_wmember(
    struct tt_json *j, const char *role, const char *link, const char *label, const struct wflow *w)
{
	sf_member(j, role, link, label, w->ver, w->src, w->sport, w->dst, w->dport, "udp", w->first,
	    w->last);
}

/* Is port p one of the host's ports in the session's UDP flows (the anchors and ICE pairs
 * with ufrag pair ice)? */
static bool sf_has_port(
    const struct tt_findings *f, const struct wflow *a, const uint8_t *host, uint16_t p)
{
	for (size_t i = 0; i < f->n_wf; i++) {
		const struct wflow *w = &f->wf[i];
		uint16_t hp;

		if ((w == a || in_session(a, host, w)) && host_end(w, host, &hp) && hp == p)
			return true;
	}
	return false;
}

/* Is w a STUN-only flow of the host linked to the session by port? */
static bool sf_is_stun_port(
    const struct tt_findings *f, const struct wflow *a, const uint8_t *host, const struct wflow *w)
{
	uint16_t hp;

	return (w->webrtc & TT_WRTC_STUN) && !(w->webrtc & (TT_WRTC_ICE | TT_WRTC_DTLS)) &&
	       !in_session(a, host, w) && host_end(w, host, &hp) && sf_has_port(f, a, host, hp);
}

static void sf_session(struct tt_json *j, const struct tt_findings *f, size_t ai)
{
	const struct wflow *a = &f->wf[ai];
	const uint8_t *host, *proxy;
	const char *label =
	    a->verdict == TT_VERDICT_TOR_SNOWFLAKE ? "tor-snowflake" : "candidate: tor-snowflake";
	const struct tflow *rv = NULL, *relay = sf_relay(f, a);
	char h[INET6_ADDRSTRLEN], p[INET6_ADDRSTRLEN], ice[9];
	uint64_t t0 = a->first, last = a->last;

	sf_ends(a, &host, &proxy);
	ip_str(host, a->ver, h, sizeof(h));
	ip_str(proxy, a->ver, p, sizeof(p));
	for (size_t i = 0; i < f->n_wf; i++) /* the session's first datagram */
		if (in_session(a, host, &f->wf[i]) && f->wf[i].first < t0)
			t0 = f->wf[i].first;
	for (size_t i = 0; i < f->n_tf; i++) {
		const struct tflow *t = &f->tf[i];

		if (memcmp(t->src, host, 16) == 0 && t->first <= t0 && t->last >= t0)
			rv = t; /* sorted by first: the last one found began last */
	}
	tt_json_obj(j);
	tt_json_kv_str(j, "host", h);
	tt_json_kv_str(j, "proxy", p);
	tt_json_kv_str(j, "verdict", tt_verdict_name(a->verdict));
	tt_json_kv_str(j, "candidate", tt_verdict_name(a->candidate));
	tt_json_key(j, "score");
	tt_json_num(j, (double)a->score, 6);
	evidence_ids(j, a->evidence);
	snprintf(ice, sizeof(ice), "%08x", (unsigned)a->ice);
	tt_json_kv_str(j, "ice_id", a->ice ? ice : "");
	tt_json_kv_str(j, "proxy_role", relay ? "snowflake-proxy" : "");
	tt_json_key(j, "flows");
	tt_json_arr(j);
	sf_wmember(j, "data", "anchor", label, a);
	for (size_t i = 0; i < f->n_wf; i++) {
		const struct wflow *w = &f->wf[i];
		uint16_t hp;

		if (w == a)
			continue;
		if (in_session(a, host, w)) {
			sf_wmember(j, is_anchor(w) ? "data" : "ice-pair", "ice", label, w);
		} else if (sf_is_stun_port(f, a, host, w)) {
			sf_wmember(j, "stun", "port", label, w);
		} else if ((w->webrtc & TT_WRTC_STUN_BARE) &&
			   !(w->webrtc & (TT_WRTC_ICE | TT_WRTC_DTLS)) && host_end(w, host, &hp)) {
			/* a NAT-behaviour test beside a port-linked STUN flow */
			for (size_t k = 0; k < f->n_wf; k++) {
				const struct wflow *s = &f->wf[k];

				if (s != w && sf_is_stun_port(f, a, host, s) &&
				    (s->first > w->first ? s->first - w->first
							 : w->first - s->first) <= SF_NAT_TEST_NS) {
					sf_wmember(j, "stun", "time", label, w);
					break;
				}
			}
		}
		if (in_session(a, host, w) && w->last > last)
			last = w->last;
	}
	/* the proxy's own STUN flows from its ports in the session (its capture) */
	for (size_t i = 0; i < f->n_wf; i++)
		if (sf_is_stun_port(f, a, proxy, &f->wf[i]))
			sf_wmember(j, "proxy-stun", "port", "snowflake-proxy", &f->wf[i]);
	if (rv)
		sf_member(j, "rendezvous", "time (probable)", label, a->ver, rv->src, rv->sport,
		    rv->dst, rv->dport, "tcp", rv->first, rv->last);
	if (relay)
		sf_member(j, "proxy-relay", "time", "snowflake-proxy", a->ver, relay->src,
		    relay->sport, relay->dst, relay->dport, "tcp", relay->first, relay->last);
	tt_json_arr_end(j);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, t0);
	tt_json_key(j, "last_ts");
	tt_json_ts(j, last);
	tt_json_obj_end(j);
}

/* report.json "snowflake_sessions", written only when there is one. */
static void snowflake_write(struct tt_json *j, const struct tt_findings *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_wf; i++)
		n += is_anchor(&f->wf[i]) && is_session_first(f, i);
	if (!n)
		return;
	tt_json_kv_u64(j, "snowflake_sessions_total", n);
	tt_json_key(j, "snowflake_sessions");
	tt_json_arr(j);
	for (size_t i = 0, k = 0; i < f->n_wf && k < TT_REPORT_HOSTS_MAX; i++)
		if (is_anchor(&f->wf[i]) && is_session_first(f, i)) {
			sf_session(j, f, i);
			k++;
		}
	tt_json_arr_end(j);
}

/* ---- meek and WebTunnel sessions ---------------------------------------------------
 * Assembled when the report is written, like Snowflake's, from the TCP flows of each
 * anchor's host to its server's address and port (read once from the flows file), sorted
 * into a total order first: the result depends on neither the order the flows arrived in
 * nor -j. A session is one (transport, host, server, port, SNI) with at least one flow
 * with the transport's verdict or a candidate for it; its members inherit its label,
 * never a score:
 *   evidence     a flow with the verdict or the candidate;
 *   same-server  another TCP flow of the host to the same server address and port with
 *                the same SNI (or without a ClientHello) that overlaps the evidence
 *                flows' span widened by XS_NEAR_NS either side: meek opens many short
 *                connections to its front, each carrying one response. */
#define XS_NEAR_NS (60ull * 1000000000ull)

/* The transport whose anchor x is, or TT_VERDICT_NONE. */
static uint8_t xf_transport(const struct xflow *x)
{
	uint8_t v = x->verdict != TT_VERDICT_NONE ? x->verdict : x->candidate;

	return v == TT_VERDICT_TOR_MEEK || v == TT_VERDICT_TOR_WEBTUNNEL ? v : TT_VERDICT_NONE;
}

/* Same host, server address and port? */
static bool xf_same_server(const struct xflow *a, const struct xflow *b)
{
	return a->ver == b->ver && a->dport == b->dport && memcmp(a->src, b->src, 16) == 0 &&
	       memcmp(a->dst, b->dst, 16) == 0;
}

static bool xf_same_sni(const struct xflow *a, const struct xflow *b)
{
	return a->has_hello == b->has_hello && strcmp(a->sni, b->sni) == 0;
}

/* Within one server's flows: first packet, then source port, then the rest, a total
 * order for the members. */
static int xf_time_cmp(const struct xflow *x, const struct xflow *y)
{
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->sport != y->sport)
		return x->sport < y->sport ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	if (x->verdict != y->verdict)
		return x->verdict < y->verdict ? -1 : 1;
	if (x->candidate != y->candidate)
		return x->candidate < y->candidate ? -1 : 1;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return x->evidence < y->evidence ? -1 : x->evidence > y->evidence;
}

/* By server key (IP version, host, server, port), then SNI (flows without a ClientHello
 * first), then time: each session's flows are one run, and its bare flows another. */
static int xflow_cmp(const void *a, const void *b)
{
	const struct xflow *x = a, *y = b;
	int c;

	if (x->ver != y->ver)
		return x->ver < y->ver ? -1 : 1;
	if ((c = memcmp(x->src, y->src, 16)) != 0 || (c = memcmp(x->dst, y->dst, 16)) != 0)
		return c;
	if (x->dport != y->dport)
		return x->dport < y->dport ? -1 : 1;
	if (x->has_hello != y->has_hello)
		return x->has_hello ? 1 : -1;
	if ((c = strcmp(x->sni, y->sni)) != 0)
		return c;
	return xf_time_cmp(x, y);
}

/* Is a a stronger witness of its session than b? A verdict before a candidate, then the
 * higher score, then the earlier: a total order, as is_better's. */
static bool xf_better(const struct xflow *a, const struct xflow *b)
{
	if ((a->verdict != TT_VERDICT_NONE) != (b->verdict != TT_VERDICT_NONE))
		return a->verdict != TT_VERDICT_NONE;
	if (a->score != b->score)
		return a->score > b->score;
	return xf_time_cmp(a, b) < 0;
}

/* Sessions by their members' first packet, then host, server, port, SNI and transport. */
static int xsession_cmp(const void *a, const void *b)
{
	const struct xsession *x = a, *y = b;
	int c;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if ((c = xflow_cmp(x->key, y->key)) != 0)
		return c;
	return x->transport < y->transport ? -1 : x->transport > y->transport;
}

/* The role of member x (in its SNI's run when is_run) in session s, or NULL when it is
 * none. */
static const char *xs_role(const struct xsession *s, const struct xflow *x, bool is_run)
{
	if (is_run && xf_transport(x) == s->transport)
		return "evidence";
	if (x->last + XS_NEAR_NS >= s->from && x->first <= s->to + XS_NEAR_NS)
		return "same-server";
	return NULL;
}

/* Make f->xs from the sorted f->xf: for each run of a server and SNI, one session per
 * transport with an anchor in it. */
static int transport_assemble(struct tt_findings *f)
{
	static const uint8_t transports[] = {TT_VERDICT_TOR_MEEK, TT_VERDICT_TOR_WEBTUNNEL};
	const struct xflow *xf = f->xf;

	if (!f->n_xf)
		return 0;
	qsort(f->xf, f->n_xf, sizeof(*f->xf), xflow_cmp);
	if (!(f->xs = calloc(f->n_xf, sizeof(*f->xs)))) /* at most one per anchor */
		return f->rc = -ENOMEM;
	for (size_t g = 0, ge; g < f->n_xf; g = ge) {
		size_t n_bare = 0;

		for (ge = g; ge < f->n_xf && xf_same_server(&xf[g], &xf[ge]); ge++)
			;
		while (g + n_bare < ge && !xf[g + n_bare].has_hello)
			n_bare++;
		for (size_t r = g, re; r < ge; r = re) {
			for (re = r; re < ge && xf_same_sni(&xf[r], &xf[re]); re++)
				;
			for (size_t t = 0; t < sizeof(transports); t++) {
				struct xsession s = {.key = &xf[r],
				    .run = r,
				    .n_run = re - r,
				    .bare = g,
				    .n_bare = xf[r].has_hello ? n_bare : 0,
				    .from = UINT64_MAX,
				    .first = UINT64_MAX,
				    .transport = transports[t]};
				bool has_anchor = false;

				for (size_t i = r; i < re; i++) {
					if (xf_transport(&xf[i]) != s.transport)
						continue;
					if (!has_anchor || xf_better(&xf[i], &xf[s.best]))
						s.best = i;
					has_anchor = true;
					if (xf[i].first < s.from)
						s.from = xf[i].first;
					if (xf[i].last > s.to)
						s.to = xf[i].last;
				}
				if (!has_anchor)
					continue;
				for (size_t i = 0; i < s.n_run + s.n_bare; i++) {
					bool is_run = i < s.n_run;
					const struct xflow *x =
					    &xf[is_run ? s.run + i : s.bare + i - s.n_run];

					if (!xs_role(&s, x, is_run))
						continue;
					if (x->first < s.first)
						s.first = x->first;
					if (x->last > s.last)
						s.last = x->last;
				}
				f->xs[f->n_xs++] = s;
			}
		}
	}
	qsort(f->xs, f->n_xs, sizeof(*f->xs), xsession_cmp);
	return 0;
}

/* Read the flows file for the sessions' pieces (once, only when there are anchors), then
 * assemble Snowflake's and meek's / WebTunnel's sessions. */
static int sessions_assemble(struct tt_findings *f)
{
	if (f->is_assembled)
		return 0;
	f->is_assembled = true;
	if ((f->n_wf || f->n_xf) && f->flows_path && sessions_read(f) < 0)
		return f->rc;
	if (snowflake_assemble(f) < 0)
		return f->rc;
	return transport_assemble(f);
}

static void xs_member(struct tt_json *j, const char *role, const char *label, const struct xflow *x)
{
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	ip_str(x->src, x->ver, a, sizeof(a));
	ip_str(x->dst, x->ver, d, sizeof(d));
	tt_json_obj(j);
	tt_json_kv_str(j, "role", role);
	tt_json_kv_str(j, "label", label);
	tt_json_kv_str(j, "proto", "tcp");
	tt_json_kv_str(j, "src_ip", a);
	tt_json_kv_u64(j, "src_port", x->sport);
	tt_json_kv_str(j, "dst_ip", d);
	tt_json_kv_u64(j, "dst_port", x->dport);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, x->first);
	tt_json_key(j, "last_ts");
	tt_json_ts(j, x->last);
	tt_json_kv_str(j, "verdict", tt_verdict_name(x->verdict));
	tt_json_kv_str(j, "candidate", tt_verdict_name(x->candidate));
	tt_json_key(j, "score");
	tt_json_num(j, (double)x->score, 6);
	tt_json_obj_end(j);
}

static void transport_session(
    struct tt_json *j, const struct tt_findings *f, const struct xsession *s)
{
	const struct xflow *b = &f->xf[s->best], *run = &f->xf[s->run], *bare = &f->xf[s->bare];
	char h[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], label[48];
	size_t i = 0, k = 0;

	ip_str(s->key->src, s->key->ver, h, sizeof(h));
	ip_str(s->key->dst, s->key->ver, d, sizeof(d));
	snprintf(label, sizeof(label), "%s%s",
	    b->verdict != TT_VERDICT_NONE ? "" : "candidate: ", tt_verdict_name(s->transport));
	tt_json_obj(j);
	tt_json_kv_str(j, "transport", s->transport == TT_VERDICT_TOR_MEEK ? "meek" : "webtunnel");
	tt_json_kv_str(j, "host", h);
	tt_json_kv_str(j, "server", d);
	tt_json_kv_u64(j, "server_port", s->key->dport);
	tt_json_kv_str(j, "sni", s->key->has_hello ? s->key->sni : NULL);
	tt_json_kv_str(j, "verdict", tt_verdict_name(b->verdict));
	tt_json_kv_str(j, "candidate", tt_verdict_name(b->candidate));
	tt_json_key(j, "score");
	tt_json_num(j, (double)b->score, 6);
	evidence_ids(j, b->evidence);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, s->first);
	tt_json_key(j, "last_ts");
	tt_json_ts(j, s->last);
	tt_json_key(j, "flows");
	tt_json_arr(j);
	/* the two runs merged in time order */
	while (i < s->n_run || k < s->n_bare) {
		bool is_run =
		    k >= s->n_bare || (i < s->n_run && xf_time_cmp(&run[i], &bare[k]) < 0);
		const struct xflow *x = is_run ? &run[i++] : &bare[k++];
		const char *role = xs_role(s, x, is_run);

		if (role)
			xs_member(j, role, label, x);
	}
	tt_json_arr_end(j);
	tt_json_obj_end(j);
}

/* report.json "transport_sessions", written only when there is one. */
static void transport_write(struct tt_json *j, const struct tt_findings *f)
{
	if (!f->n_xs)
		return;
	tt_json_kv_u64(j, "transport_sessions_total", f->n_xs);
	tt_json_key(j, "transport_sessions");
	tt_json_arr(j);
	for (size_t i = 0; i < f->n_xs && i < TT_REPORT_HOSTS_MAX; i++)
		transport_session(j, f, &f->xs[i]);
	tt_json_arr_end(j);
}

int tt_findings_write(struct tt_json *j, struct tt_findings *f)
{
	struct order_key *hk = calloc(f->n_edges + 1, sizeof(*hk));
	size_t n_listed = 0, n_relays = 0, *start = calloc(f->n_relays + 2, sizeof(*start));
	uint32_t *host_idx = NULL, *relay_idx = NULL;
	int rc = f->rc;

	if (rc || (rc = sessions_assemble(f)) < 0)
		goto out;
	for (size_t i = 0; i < f->n_hosts; i++)
		f->hosts[i].n_iv = merge_ivals(f->hosts[i].iv, f->hosts[i].n_iv);
	f->n_edges = dedup_edges(f->edges, f->n_edges);
	f->edges_compact_at = SIZE_MAX;
	/* hosts with a verdict; hosts with candidates only are counted apart */
	if (!hk || !start || !(host_idx = sorted(f, false, &n_listed)) ||
	    !(relay_idx = sorted(f, true, &n_relays))) {
		rc = -ENOMEM;
		goto out;
	}
	tt_json_kv_u64(j, "hosts_total", n_listed);
	tt_json_kv_u64(j, "candidate_only_hosts", f->n_hosts - n_listed);
	tt_json_key(j, "hosts");
	tt_json_arr(j);
	for (size_t i = 0; i < n_listed && i < TT_REPORT_HOSTS_MAX; i++) {
		size_t n_e;
		const struct edge *e = host_edges(f, host_idx[i], &n_e);

		host_json(j, f, &f->hosts[host_idx[i]], e, n_e);
	}
	tt_json_arr_end(j);

	/* relays, each with its hosts: the edges regrouped by relay (a counting sort), each
	 * relay's hosts in address order */
	for (size_t i = 0; i < f->n_edges; i++)
		start[f->edges[i].relay + 2]++;
	for (size_t r = 0; r < f->n_relays; r++)
		start[r + 2] += start[r + 1];
	for (size_t i = 0; i < f->n_edges; i++) {
		const struct host *h = &f->hosts[f->edges[i].host];
		struct order_key *k = &hk[start[f->edges[i].relay + 1]++];

		k->ver = h->ver;
		k->idx = f->edges[i].host;
		memcpy(k->ip, h->ip, 16);
	}
	/* start[r] .. start[r + 1] are now relay r's hosts */
	for (size_t r = 0; r < f->n_relays; r++)
		qsort(hk + start[r], start[r + 1] - start[r], sizeof(*hk), addr_cmp);
	tt_json_kv_u64(j, "relays_total", n_relays);
	tt_json_key(j, "relays");
	tt_json_arr(j);
	for (size_t i = 0; i < n_relays && i < TT_REPORT_RELAYS_MAX; i++) {
		uint32_t r = relay_idx[i];

		relay_json(j, &f->relay_v[r], hk + start[r], start[r + 1] - start[r]);
	}
	tt_json_arr_end(j);
	snowflake_write(j, f);
	transport_write(j, f);
	rc = activity(j, f);
out:
	free(host_idx);
	free(relay_idx);
	free(hk);
	free(start);
	return rc;
}

void tt_findings_file_confidence(const struct tt_findings *f, size_t file_id, uint64_t n_flows,
    double min_score, unsigned *confidence, char *reason, size_t len)
{
	const struct best *b = f && file_id < f->n_files ? &f->file_best[file_id] : NULL;
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], ev[96];

	if (!b || !b->is_set) {
		*confidence = 0;
		snprintf(reason, len, "no flow with evidence of Tor among %llu flows",
		    (unsigned long long)n_flows);
		return;
	}
	/* Rounded down, so that a candidate never reads as the threshold's percentage. */
	*confidence = (unsigned)(b->score * 100.0f);
	if (*confidence > 100)
		*confidence = 100;
	ip_str(b->src, b->ver, a, sizeof(a));
	ip_str(b->dst, b->ver, d, sizeof(d));
	evidence_words(b->evidence, ev, sizeof(ev));
	if (b->verdict != TT_VERDICT_NONE)
		snprintf(reason, len, "strongest flow %s:%u -> %s:%u is %s (score %.4f: %s)", a,
		    b->sport, d, b->dport, tt_verdict_name(b->verdict), (double)b->score, ev);
	else
		snprintf(reason, len,
		    "no verdict: the strongest flow %s:%u -> %s:%u is a %s candidate (score %.4f "
		    "< %.2f: %s)",
		    a, b->sport, d, b->dport, tt_verdict_name(b->candidate), (double)b->score,
		    min_score, ev);
}

size_t tt_findings_hosts(const struct tt_findings *f, struct tt_history_host *out, size_t max)
{
	static const char *const role_names[] = {
	    "client", "relay", "bridge", "exit-side", "snowflake-proxy"};
	uint32_t *idx;
	size_t n = 0;

	if (!f || !(idx = sorted(f, false, &n)))
		return 0;
	for (size_t k = 0; k < n && k < max; k++) {
		const struct host *h = &f->hosts[idx[k]];
		struct tt_history_host *o = &out[k];
		size_t len = 0;

		memset(o, 0, sizeof(*o));
		ip_str(h->ip, h->ver, o->address, sizeof(o->address));
		for (unsigned r = 0; r < sizeof(role_names) / sizeof(role_names[0]); r++)
			if (h->roles & (1u << r))
				len += (size_t)snprintf(o->roles + len, sizeof(o->roles) - len,
				    "%s%s", len ? "," : "", role_names[r]);
		o->tor_flows = h->flows;
		o->tor_bytes = h->bytes;
		o->first_ns = h->first_ns;
		o->last_ns = h->last_ns;
		o->best_score = h->best.score;
	}
	free(idx);
	return n;
}

int tt_findings_each(const struct tt_findings *f,
    void (*on_host)(const struct tt_host_finding *h, void *ctx),
    void (*on_relay)(const struct tt_relay_finding *r, void *ctx), void *ctx)
{
	char a[INET6_ADDRSTRLEN];
	uint32_t *idx;
	size_t n;

	if (on_host) {
		if (!(idx = sorted(f, false, &n)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct host *h = &f->hosts[idx[i]];
			struct tt_host_finding o = {.address = a,
			    .roles = h->roles,
			    .tor_flows = h->flows,
			    .tor_bytes = h->bytes,
			    .candidates = h->candidates,
			    .first_ns = h->first_ns,
			    .last_ns = h->last_ns,
			    .best_score = h->best.score,
			    .best_verdict = h->best.verdict,
			    .best_evidence = h->best.evidence};

			ip_str(h->ip, h->ver, a, sizeof(a));
			for (size_t k = 0; k < h->n_iv; k++)
				o.active_ns += h->iv[k].to - h->iv[k].from;
			host_edges(f, idx[i], &o.n_relays);
			on_host(&o, ctx);
		}
		free(idx);
	}
	if (on_relay) {
		size_t *n_hosts = calloc(f->n_relays + 1, sizeof(*n_hosts));

		if (!n_hosts || !(idx = sorted(f, true, &n))) {
			free(n_hosts);
			return -ENOMEM;
		}
		for (size_t e = 0; e < f->n_edges; e++)
			n_hosts[f->edges[e].relay]++;
		for (size_t i = 0; i < n; i++) {
			const struct relay *r = &f->relay_v[idx[i]];
			struct tt_relay_finding o = {.address = a,
			    .port = r->kind == TT_RELAY_FINDING_EXIT ? 0 : r->port,
			    .kind = r->kind,
			    .nickname = r->has_id && r->id.nickname[0] ? r->id.nickname : NULL,
			    .fingerprint =
				r->has_id && r->id.fingerprint[0] ? r->id.fingerprint : NULL,
			    .tor_flows = r->flows,
			    .tor_bytes = r->bytes,
			    .first_ns = r->first_ns,
			    .last_ns = r->last_ns,
			    .n_hosts = n_hosts[idx[i]]};

			ip_str(r->ip, r->ver, a, sizeof(a));
			on_relay(&o, ctx);
		}
		free(n_hosts);
		free(idx);
	}
	return 0;
}
