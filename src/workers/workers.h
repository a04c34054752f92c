/* Workers: each owns a flow table and turns packet descriptors into flow records.
 * Internal to src/workers and to the code that starts the pipeline (src/lib). */
#ifndef TT_SRC_WORKERS_WORKERS_H
#define TT_SRC_WORKERS_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "tortrace/record.h"
#include "core.h"

struct tt_config;

/* ---- the flow table: open addressing, linear probing, backward-shift deletion ------
 * Owned by one worker thread; no locking. Flows live in a slab indexed by uint32_t and
 * are chained in least-recently-used order, one list per partition (core.h
 * tt_partition_of), for idle expiry and for evictions that depend only on the
 * partition's own packets. */
struct tt_tunnel;

struct tt_flow {
	struct tt_flow_key key;
	struct tt_flow_record rec; /* initiator-oriented counters */
	uint32_t hash;
	uint32_t lru_prev, lru_next; /* slab indices + 1; 0 ends the partition's list */
	uint8_t part;                /* tt_partition_of(hash) */
	uint8_t tls_slot;            /* while tls is set: its place in the partition's list */
	bool is_init_a;              /* the initiator is key.a */
	bool has_isn;                /* isn holds the sequence number of the first SYN */
	uint32_t isn;
	struct tt_tls_flow *tls; /* the TLS inspector's state while it inspects, or NULL */
	uint32_t flight[2];      /* bytes of the first flight and of the reply flight */
	uint8_t flight_phase;    /* 0 none yet, 1 first flight, 2 reply, 3 done */
	uint8_t first_dir;       /* direction of the first flight */
	uint8_t fet[2];          /* per flight: 1 when its first segment looks fully encrypted */
	uint8_t is_split[2];     /* per flight: not one write (a segment other than the last
				  * differs from the first, or the last is longer) */
	uint16_t seg_first[2], seg_prev[2]; /* per flight: its first and latest segment */
	/* The segments after the first flights, for evidence G1: allocated when both first
	 * flights look fully encrypted, freed when the flow ends. */
	struct tt_pt_shape *pt;
	/* The client's record headers after the TLS inspection closed (meek, WebTunnel:
	 * tls.h tt_tunnel), or NULL; freed when the flow ends. */
	struct tt_tunnel *tun;
};

/* Payload segment sizes after a flow's first two flights (evidence G1). 256 segments: the
 * coincidence test of tt_pt_shape_is_obfs4 gains power with the number of padded sizes
 * (about half the segments of a Tor flow are full ones). ~770 bytes, allocated only for
 * flows whose first flights both look fully encrypted. */
#define TT_PT_SEGS 256
struct tt_pt_shape {
	uint16_t len[TT_PT_SEGS];
	uint8_t is_rev[TT_PT_SEGS]; /* 1: segment i went from the responder */
	uint16_t n;
};

/* G1's false-fire bound: the largest probability, under sizes drawn uniformly from their
 * observed range, of as many repeated sizes as the flow shows. */
#define TT_PT_ALPHA 1e-4

/* P(n - distinct >= c) when n sizes are drawn uniformly from r values (the birthday
 * problem's tail), exactly, by the occupancy recursion. Pure; n <= TT_PT_SEGS. */
double tt_pt_repeat_tail(unsigned n, unsigned r, unsigned c);

/* True when the segments in s have obfs4's padded shape (TT_FLOW_PT_SHAPE). Pure. */
bool tt_pt_shape_is_obfs4(const struct tt_pt_shape *s);

/* What one flow costs in the table, counted against --flow-memory: the flow in the slab
 * and up to 4 slots (the load factor stays between 1/4 and 1/2). A constant rather than
 * sizeof, so that the flow caps, which decide evictions, are the same on every machine
 * and build. */
#define TT_FLOW_COST_BYTES 320u

struct tt_flow_table {
	uint64_t *slots; /* hash << 32 | (slab index + 1); 0 = empty. The hash in the slot
			  * lets probes and deletions skip the flows themselves. */
	uint32_t mask;
	struct tt_flow *flows;
	uint32_t n_flows, cap_flows;
	uint32_t max_flows; /* set before the first insert: the slab is reserved for this
			     * many flows at once and never grows (0: it grows by doubling) */
	bool is_slab_mapped;
	uint32_t free_head; /* free slab entries chained through lru_next */
	uint32_t lru_head[TT_N_PARTITIONS], lru_tail[TT_N_PARTITIONS];
	uint32_t n_live[TT_N_PARTITIONS]; /* live flows per partition */
	/* Allocation functions: zeroed memory released with munmap (slots, and the slab when
	 * max_flows is set), and realloc (the slab otherwise). Tests replace them to inject
	 * failures. */
	void *(*map_fn)(size_t bytes);
	void *(*realloc_fn)(void *p, size_t size);
};

int tt_flow_table_init(struct tt_flow_table *t);
void tt_flow_table_fini(struct tt_flow_table *t);
/* The flow with key k, or NULL. */
struct tt_flow *tt_flow_table_find(
    struct tt_flow_table *t, const struct tt_flow_key *k, uint32_t hash);
/* A new zeroed flow with key k (not already present), at the tail of its partition's LRU
 * list; NULL on -ENOMEM, and then the table is as it was. */
struct tt_flow *tt_flow_table_insert(
    struct tt_flow_table *t, const struct tt_flow_key *k, uint32_t hash);
void tt_flow_table_remove(struct tt_flow_table *t, struct tt_flow *f);
/* Start loading the slot a lookup of hash will read (the worker does this for a whole
 * burst before processing it, to overlap the cache misses). */
static inline void tt_flow_table_prefetch(const struct tt_flow_table *t, uint32_t hash)
{
	__builtin_prefetch(&t->slots[hash & t->mask]);
}
/* Move f to its partition's LRU tail (most recent). */
void tt_flow_table_touch(struct tt_flow_table *t, struct tt_flow *f);
/* Remove every flow (allocations are kept for reuse). */
void tt_flow_table_clear(struct tt_flow_table *t);
/* Slab entries below n_flows are live flows or free; removal zeroes the key's version. */
static inline bool tt_flow_is_live(const struct tt_flow *f)
{
	return f->key.ip_version != 0;
}
/* The least recently used flow of partition part, or NULL when it has none. */
struct tt_flow *tt_flow_table_oldest(struct tt_flow_table *t, unsigned part);

/* ---- first-payload inspector --------------------------------------------------------
 * The place where protocol inspectors plug in: called with the first payload bytes of
 * each direction of a flow. Returns an enum tt_app. */
unsigned tt_inspect_first_payload(
    uint8_t proto, uint16_t sport, uint16_t dport, const uint8_t *payload, uint32_t len);

struct tt_tls_flow;

struct tt_relays;

/* Score a finished flow: evidence bits, confidence, verdict and candidate into *r. relays
 * may be NULL (no relay data); a relay match is written to *relay and r->relay points to
 * it. cfg gives min_score and evidence_off; NULL means the defaults. */
void tt_evidence_score(struct tt_flow_record *r, const struct tt_relays *relays,
    const struct tt_config *cfg, struct tt_flow_relay *relay);

/* How to orient a TCP flow whose first packet (src:sport -> dport at ts_ns) is neither a
 * SYN nor a SYN-ACK: TT_INIT_GUESSED_RELAY when src:sport is a relay's ORPort or DirPort
 * listed at ts_ns, or within a day of it, in relays (may be NULL), else TT_INIT_GUESSED_PORT when
 * sport is a service port (below 1024, or a known one such as 443's kin 8443, tor's 9001/9030/9050)
 * and dport is not; in both cases the receiver initiated. Else TT_INIT_FIRST_PACKET (the
 * sender initiated). src holds 4 or 16 bytes by ip_version. Pure; any thread. */
unsigned tt_worker_orient(const struct tt_relays *relays, uint8_t ip_version, const uint8_t *src,
    uint16_t sport, uint16_t dport, uint64_t ts_ns);

/* The JA3 and JA4 of recently seen ClientHello shapes, one cache per worker: the same
 * client software opens thousands of connections, and building, sorting and hashing the
 * fingerprint strings cost more than the rest of a flow's summary. An entry holds the
 * exact bytes every fingerprint input was made from (versions, the cipher, extension,
 * group, signature-algorithm and point-format lists without their GREASE values, which
 * neither fingerprint reads; the first ALPN name's ends), compared in full on a hit, so a cached
 * fingerprint is the one the functions would compute. Hellos whose inputs take more than
 * TT_FP_KEY_MAX bytes are computed each time. */
#define TT_FP_CACHE_N 512
#define TT_FP_KEY_MAX 496
struct tt_fp_cache {
	struct tt_fp_entry {
		uint16_t key_len; /* 0: empty */
		char ja3[33];
		char ja4[37];
		uint8_t key[TT_FP_KEY_MAX];
	} e[TT_FP_CACHE_N];
	uint64_t n_hits, n_misses;
};

/* Summarise what the TLS inspector saw into the record's tls fields. is_syn_less: the
 * flow's start was not captured (no SYN or SYN-ACK first); its records are then scored
 * for mid-stream framing (D3) when no hello was seen. cache may be NULL (fingerprints are
 * then computed every time); the summary is the same either way. */
void tt_inspect_tls_summary(const struct tt_tls_flow *t, bool is_syn_less,
    struct tt_fp_cache *cache, struct tt_flow_tls *out);

/* The fully-encrypted-traffic test of Wu et al. (USENIX Security 2023) on a first
 * payload: true when it is none of the exemptions (popcount per byte outside 3.4-4.6,
 * printable start, mostly printable, a printable run over 20, a TLS or HTTP start). */
bool tt_inspect_is_fully_encrypted(const uint8_t *p, uint32_t len);

/* The UDP inspector (webrtc.c): one datagram's first n captured payload bytes, from the
 * initiator (dir 0) or the responder (1), into r's webrtc facts, DTLS and RTP counts and
 * ICE id (RFC 7983 demultiplexing, STUN, DTLS hellos). */
void tt_webrtc_datagram(struct tt_flow_record *r, unsigned dir, const uint8_t *p, uint32_t n);
/* The ICE id of a STUN USERNAME ("ufrag:ufrag"): the same whichever end sent it. */
uint32_t tt_webrtc_ice_id(const uint8_t *user, size_t len);

/* ---- the worker thread ---------------------------------------------------------------- */

struct tt_worker {
	/* set before start */
	const struct tt_config *cfg;
	unsigned id;
	unsigned n_workers;  /* the worker owns partitions p with tt_worker_of_partition(p) == id */
	struct tt_ring *in;  /* consumer side: from the reader */
	struct tt_ring *out; /* producer side: to the aggregator */
	struct tt_ring *blocks;         /* consumer side, or NULL: empty record blocks made ahead by
					 * the aggregator (struct tt_aggregator.blocks) */
	const struct tt_relays *relays; /* read-only relay index, or NULL */
	/* written by the worker, read by main after join */
	uint64_t n_pkts, n_records, n_max_flows, n_idle_waits;
	int rc;
};

/* Thread entry: until TT_PKT_STREAM_END. */
void *tt_worker_main(void *arg);

#endif /* TT_SRC_WORKERS_WORKERS_H */
