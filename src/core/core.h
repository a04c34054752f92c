/* Pieces every stage of the pipeline uses: the SPSC ring, the wait policy, reference-
 * counted packet buffers, logging and small helpers. Internal to tortrace. */
#ifndef TT_SRC_CORE_CORE_H
#define TT_SRC_CORE_CORE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <msgpack.h>

#include "tortrace/record.h"

/* ---- invariants -------------------------------------------------------------------- */

void tt_bug(const char *file, int line, const char *cond) __attribute__((noreturn));
#define TT_BUG_ON(cond)                                                                            \
	do {                                                                                       \
		if (__builtin_expect(!!(cond), 0))                                                 \
			tt_bug(__FILE__, __LINE__, #cond);                                         \
	} while (0)

/* ---- logging ------------------------------------------------------------------------ */

enum tt_log_level {
	TT_LOG_ERROR = 0,
	TT_LOG_WARN,
	TT_LOG_INFO,
	TT_LOG_DEBUG,
};

/* Set the level once, before threads start (from -q/-v or TT_LOG_LEVEL). */
void tt_log_set_level(int level);
/* While a progress bar is drawn on stderr, log lines first clear it. */
void tt_log_set_progress(bool is_drawn);
/* One line on stderr: "tortrace: <level>: message". Any thread; never per packet. */
void tt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the wait policy ----------------------------------------------------------------
 * How long a ring's consumer has waited; see tt_ring_wait_pop(). Spinning alone
 * collapses when producer and consumer share one CPU (CONVENTIONS.md §3), so waiters
 * spin briefly and then sleep on a futex. */
struct tt_backoff {
	unsigned n; /* the caller resets it to 0 after progress */
};

/* ---- tt_ring: bounded single-producer / single-consumer ring ------------------------
 * push: the producer thread only. pop: the consumer thread only. init/fini: before the
 * threads start or after they are joined. A side that finds the ring empty (consumer) or
 * full (producer) spins briefly and then sleeps on a futex until the other side moves
 * (tt_ring_wait_pop/tt_ring_wait_push): an idle worker costs no CPU, which on a small
 * machine is CPU the reader needs. The waiting flags and a full fence on each side
 * (Dekker's pattern) make sure a wake-up is never lost; waits also time out after 10 ms. Capacity
 * is a power of two; indices run free and are masked on use. The producer publishes slots with a
 * release store of head; the consumer observes them with an acquire load, and hands slots back with
 * a release store of tail. Each side caches the other's index to touch the shared line rarely. */

#define TT_CACHELINE 64

struct tt_ring {
	/* written by the producer */
	alignas(TT_CACHELINE) _Atomic uint32_t head;
	uint32_t tail_cache;
	_Atomic uint32_t is_prod_waiting; /* the producer sleeps on tail */
	/* written by the consumer */
	alignas(TT_CACHELINE) _Atomic uint32_t tail;
	uint32_t head_cache;
	_Atomic uint32_t is_cons_waiting; /* the consumer sleeps on head */
	/* set by init, read-only afterwards */
	alignas(TT_CACHELINE) uint32_t mask;
	uint32_t slot_size;
	uint8_t *slots;
};

/* Returns 0, -EINVAL (capacity not a power of two, or 0), or -ENOMEM. */
int tt_ring_init(struct tt_ring *r, uint32_t capacity, uint32_t slot_size);
void tt_ring_fini(struct tt_ring *r);

/* n slots between the ring at index idx and a flat array: at most two memcpy calls (the
 * run may wrap), rather than one call per slot. */
static inline void tt_ring_copy_in(struct tt_ring *r, uint32_t idx, const void *src, uint32_t n)
{
	uint32_t at = idx & r->mask, first = r->mask + 1 - at;

	if (first > n)
		first = n;
	memcpy(r->slots + (size_t)at * r->slot_size, src, (size_t)first * r->slot_size);
	if (n > first)
		memcpy(r->slots, (const uint8_t *)src + (size_t)first * r->slot_size,
		    (size_t)(n - first) * r->slot_size);
}

static inline void tt_ring_copy_out(const struct tt_ring *r, uint32_t idx, void *dst, uint32_t n)
{
	uint32_t at = idx & r->mask, first = r->mask + 1 - at;

	if (first > n)
		first = n;
	memcpy(dst, r->slots + (size_t)at * r->slot_size, (size_t)first * r->slot_size);
	if (n > first)
		memcpy((uint8_t *)dst + (size_t)first * r->slot_size, r->slots,
		    (size_t)(n - first) * r->slot_size);
}

/* Wake the other side if it sleeps (after head or tail moved). */
void tt_ring_wake(_Atomic uint32_t *word);

/* Copy up to n slots in; returns how many went in (0 when full). Producer only. */
static inline uint32_t tt_ring_push(struct tt_ring *r, const void *src, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t cap = r->mask + 1;
	uint32_t free_slots = cap - (head - r->tail_cache);

	if (free_slots < n) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		free_slots = cap - (head - r->tail_cache);
		if (free_slots < n)
			n = free_slots;
	}
	if (n == 0)
		return 0;
	tt_ring_copy_in(r, head, src, n);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->is_cons_waiting, memory_order_relaxed))
		tt_ring_wake(&r->head);
	return n;
}

/* Slots a push could fill now (at least that many: the consumer may free more).
 * Producer only. */
static inline uint32_t tt_ring_room(struct tt_ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	return r->mask + 1 - (head - r->tail_cache);
}

/* Copy up to max slots out; returns how many came out (0 when empty). Consumer only. */
static inline uint32_t tt_ring_pop(struct tt_ring *r, void *dst, uint32_t max)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t n = r->head_cache - tail;

	if (n == 0) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		n = r->head_cache - tail;
		if (n == 0)
			return 0;
	}
	if (n > max)
		n = max;
	tt_ring_copy_out(r, tail, dst, n);
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->is_prod_waiting, memory_order_relaxed))
		tt_ring_wake(&r->tail);
	return n;
}

/* After tt_ring_pop() returned 0: spin a little, then sleep until the producer pushes
 * (or 10 ms pass). The caller resets b->n = 0 after progress. Consumer only. */
void tt_ring_wait_pop(struct tt_ring *r, struct tt_backoff *b);

/* Push all n slots, waiting while the ring is full (offline input never drops).
 * Producer only. */
void tt_ring_push_all(struct tt_ring *r, const void *src, uint32_t n);

/* ---- reference-counted buffers that packet descriptors point into ------------------
 * The reader creates a chunk (a file mapping or a block of decompressed bytes) with
 * refs = number of workers, sends descriptors that point into it, then sends one
 * TT_PKT_RELEASE for it through every worker ring. Each worker drops its reference
 * when it pops that marker; the one that drops the last frees the chunk. */
struct tt_chunk {
	_Atomic uint32_t refs;
	bool is_mmap;
	bool is_borrowed; /* base belongs to the caller: only the chunk itself is freed */
	uint8_t *base;
	size_t len;
};

/* A heap chunk of len bytes with refs = 1. NULL on -ENOMEM. */
struct tt_chunk *tt_chunk_new(size_t len);
/* A chunk wrapping a mapping, with refs = 1; munmap()ed on the last put. */
struct tt_chunk *tt_chunk_wrap_mmap(uint8_t *base, size_t len);
/* A chunk over the caller's memory (which must outlive the chunk), with refs = 1. */
struct tt_chunk *tt_chunk_wrap_borrowed(const uint8_t *base, size_t len);
/* Drop one reference; frees on the last. Any thread. */
void tt_chunk_put(struct tt_chunk *c);

/* ---- virtual partitions of the flow-hash space -------------------------------------
 * The flow hashes are split into TT_N_PARTITIONS partitions, a number that does not
 * depend on -j; each worker owns whole partitions. Every cap and eviction a worker applies
 * (flow memory, TLS inspections) is counted per partition, and a partition receives the
 * same packets in the same order, with the same TICKs, for any number of workers: so its
 * results do not depend on -j. The reader and the workers both use these functions. */
#define TT_N_PARTITIONS 256u

/* The partition of a flow hash: the top 8 bits of murmur3's finaliser over all 32 bits
 * (workers index their tables with the low bits of the hash itself, so each worker's
 * share of the hashes is still spread over its whole table). */
static inline unsigned tt_partition_of(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h >> 24;
}

/* The worker (0..n_workers-1) that owns partition part. */
static inline unsigned tt_worker_of_partition(unsigned part, unsigned n_workers)
{
	return part * n_workers / TT_N_PARTITIONS;
}

/* ---- packet descriptors: reader → worker ------------------------------------------- */

enum tt_pkt_kind {
	TT_PKT_DATA = 0,   /* a TCP/UDP packet (or a fragment of one) */
	TT_PKT_RELEASE,    /* l3 is a struct tt_chunk * this worker is done with */
	TT_PKT_TICK,       /* ts_ns is the set's packet clock: expire idle flows */
	TT_PKT_FILE_END,   /* hash is the set id (its first file's id): the set of files ends,
			    * flush its flows, answer TT_REC_FILE_DONE; proto is 1 when the
			    * reader stopped early (the run was interrupted): the set's flows
			    * then end as TT_END_STOP */
	TT_PKT_STREAM_END, /* no more input: flush and answer TT_REC_WORKER_DONE */
	TT_PKT_FILE_NEXT,  /* hash is a file id: its packets follow. proto is 1 when the file
			    * starts a new set (hash is then the set id), 0 when it continues
			    * the current set (rotated captures: one timeline, flows and the
			    * packet clock carry on). Sent before a file's first packet. */
};

#define TT_NO_L4 0xffffu

/* 40 bytes, copied by value into ring slots. Written by the reader only. */
struct tt_pkt {
	const uint8_t *l3; /* DATA: the IP header, borrowed from a chunk (see above) */
	uint64_t ts_ns;    /* Unix time of the packet, nanoseconds */
	uint32_t hash;     /* XXH3 of the canonical flow key (low 32 bits); set id for FILE_END,
			    * file id for FILE_NEXT */
	uint32_t caplen;   /* captured bytes from l3 on */
	uint32_t wirelen;  /* length of the whole frame on the wire */
	uint16_t l4_off;   /* offset of the TCP/UDP header from l3, or TT_NO_L4 (fragment) */
	uint8_t kind;      /* enum tt_pkt_kind */
	uint8_t proto;     /* 6 or 17 */
	uint16_t sport, dport;
	uint32_t l4_len; /* TCP/UDP bytes (header + payload) per the IP header */
};
_Static_assert(sizeof(struct tt_pkt) == 40, "descriptor is 40 bytes");

/* ---- the flow key ------------------------------------------------------------------ */

/* Canonical bidirectional key (lower endpoint first) and its hash. */
struct tt_flow_key {
	uint8_t a[16], b[16]; /* a: the lower (address, port) */
	uint16_t port_a, port_b;
	uint8_t proto, ip_version;
	uint8_t pad[2];
};
_Static_assert(sizeof(struct tt_flow_key) == 40, "flow key is 40 bytes");

/* Build the canonical key; returns true when the source is the lower endpoint. */
bool tt_flow_key_make(struct tt_flow_key *k, uint8_t ip_version, uint8_t proto, const uint8_t *src,
    const uint8_t *dst, uint16_t sport, uint16_t dport);
uint64_t tt_flow_key_hash(const struct tt_flow_key *k);

/* ---- record messages: worker → aggregator ------------------------------------------- */

enum tt_rec_kind {
	TT_REC_BLOCK = 0,   /* buf/len: msgpack records; ownership of buf moves */
	TT_REC_FILE_DONE,   /* file_id: this worker has sent every record of the set whose
			     * first file is file_id; last_file_id is its last file;
			     * n_flows_evicted, n_tls_evicted: its evictions in last_file_id */
	TT_REC_WORKER_DONE, /* the worker has finished */
	TT_REC_EVICTIONS,   /* n_flows_evicted, n_tls_evicted: this worker's evictions in
			     * file_id, a file of a set that goes on (sent at FILE_NEXT when
			     * not zero) */
};

/* Where one record sits in a block, with the fields that order records in the output:
 * the aggregator sorts these and copies the msgpack bytes as they are, without decoding
 * or encoding them again. Written by the worker. */
struct tt_rec_ref {
	uint64_t first_ts_ns, last_ts_ns;
	uint8_t src_ip[16], dst_ip[16];
	uint16_t src_port, dst_port;
	uint8_t proto;
	/* enum tt_verdict, for the per-file counts; a candidate's hypothesis, else none (one
	 * byte for both keeps the spilled header at 64 bytes) */
	uint8_t verdict : 4, candidate : 4;
	/* The file the flow started in, minus the set id (the block's file_id); 0xffff when
	 * that does not fit (the aggregator then reads the record's "file" key). */
	uint16_t file_delta;
	uint32_t off, len;   /* the record's msgpack bytes in the block */
	const uint8_t *data; /* set by the aggregator: block + off */
};

/* Block messages carry every record of one set of files (rotated captures that continue
 * each other; a file on its own is a set of one) that the worker finished since its last
 * block: all of them belong to the set whose first file is file_id. */
/* A record block the worker fills in place: TT_REC_BLOCK_MAP bytes mapped and advised as
 * huge pages (a fault per 4 KiB of records, a trap to the hypervisor on a VM, cost more
 * than encoding them). NULL without memory. Free with tt_rec_buf_free(buf, true). */
#define TT_REC_BLOCK_MAP (2u << 20)
uint8_t *tt_rec_block_map(void);
/* The same, with its memory already faulted in and zeroed (the aggregator makes these
 * ahead of the workers, on a core with time to spare). NULL without memory. */
uint8_t *tt_rec_block_map_populated(void);
/* The records held for sorting when tt_config.sort_budget_bytes is 0. */
#define TT_SORT_BUDGET_DEFAULT (128u << 20)
/* Blocks made ahead per worker: the capacity of its block ring (a power of two). */
#define TT_REC_BLOCKS_AHEAD    2
/* Free a block's buffer: a TT_REC_BLOCK_MAP mapping when is_mapped, else malloc()ed. */
void tt_rec_buf_free(uint8_t *buf, bool is_mapped);

struct tt_rec_msg {
	uint8_t *buf;            /* msgpack records; ownership moves (tt_rec_buf_free) */
	struct tt_rec_ref *refs; /* n_records entries, malloc()ed; ownership moves */
	uint32_t len;
	uint32_t file_id; /* the set id: the index of the set's first file */
	uint32_t kind;    /* enum tt_rec_kind */
	uint32_t n_records;
	uint32_t last_file_id; /* TT_REC_FILE_DONE: the set's last file */
	bool is_mapped;        /* buf is a tt_rec_block_map() mapping, else malloc()ed */
	/* TT_REC_FILE_DONE: what the worker evicted in the file (summed by the aggregator) */
	uint64_t n_flows_evicted, n_tls_evicted;
};

/* The output order of records (see tt_record_cmp): first timestamp, protocol, 5-tuple,
 * last timestamp, then the bytes themselves, so that it is total. */
int tt_rec_ref_cmp(const void *a, const void *b);

/* ---- per-file results ---------------------------------------------------------------
 * One per input file. The reader writes it while it reads the file and is done with it
 * before it sends the TT_PKT_FILE_END of the file's set; the aggregator writes its own
 * fields (flow counts, evictions) and reads the file only after every worker has answered
 * TT_REC_FILE_DONE for that set (the ring handoffs order the two), or, for evictions, when
 * a TT_REC_EVICTIONS arrives, which the reader's fields do not share. Main reads it all
 * after the threads are joined. */
#define TT_MAX_LINKTYPES 8
#define TT_MAX_IP_PROTOS 16

/* Packets by IP protocol number, for the few protocols a capture holds: a per-file
 * array of 256 counters would cost 2 KiB a file in an archive of a million files. */
struct tt_proto_counts {
	uint8_t n;
	uint8_t proto[TT_MAX_IP_PROTOS];
	uint64_t count[TT_MAX_IP_PROTOS];
	uint64_t n_other; /* protocols beyond the first TT_MAX_IP_PROTOS */
};

static inline void tt_proto_count(struct tt_proto_counts *c, uint8_t proto, uint64_t n)
{
	for (uint8_t i = 0; i < c->n; i++) {
		if (c->proto[i] == proto) {
			c->count[i] += n;
			return;
		}
	}
	if (c->n < TT_MAX_IP_PROTOS) {
		c->proto[c->n] = proto;
		c->count[c->n++] = n;
	} else {
		c->n_other += n;
	}
}

#define TT_NO_SET UINT32_MAX

/* Why a file was or was not read as the continuation of the previous file with packets. */
enum tt_chain {
	TT_CHAIN_FIRST = 0,  /* no previous file with packets: a new set */
	TT_CHAIN_YES,        /* chained: starts chain_ns after the previous file ends */
	TT_CHAIN_DISABLED,   /* not chained: --no-chain */
	TT_CHAIN_LINKTYPE,   /* not chained: the link types differ */
	TT_CHAIN_OVERLAP,    /* not chained: starts chain_ns before the previous file ends */
	TT_CHAIN_GAP,        /* not chained: the gap chain_ns exceeds the TCP idle timeout */
	TT_CHAIN_NO_PACKETS, /* the file has no packets: it joins no set */
};

struct tt_file_stats {
	char *path;          /* owned */
	char *error;         /* NULL, or "message at byte offset N" (owned) */
	char sha256[65];     /* hex digest of the file as stored, written by the hasher
			      * thread only ("" when not computed) */
	bool is_partial;     /* the file was not read to its end */
	bool is_read;        /* the reader has finished with it */
	int format;          /* enum tt_format, -1 when unknown */
	int comp;            /* enum tt_comp */
	uint64_t size_bytes; /* on disk */
	uint32_t linktypes[TT_MAX_LINKTYPES];
	uint32_t n_linktypes;
	uint64_t first_ts_ns, last_ts_ns;
	uint64_t n_pkts, n_bytes, n_cap_bytes; /* frames; wire and captured bytes */
	uint64_t n_ipv4, n_ipv6, n_non_ip, n_truncated, n_bad_link;
	uint64_t n_tcp, n_udp, n_frags, n_frags_orphan, n_filtered;
	uint64_t n_tunnelled; /* packets also counted in a flow inside a UDP tunnel */
	uint64_t n_caplen_over_snaplen;
	bool has_sub_us_ts; /* some timestamp unit is finer than 1 us (tt_capture's flag) */
	struct tt_proto_counts ip_protos; /* IP packets that are not TCP/UDP */
	/* Capture sets, written by the reader before the set's TT_PKT_FILE_END (so before
	 * the aggregator reads them): the set the file belongs to (the index of its first
	 * file; TT_NO_SET for a file without packets, which joins no set and does not
	 * break a chain), and why it was or was not chained to the previous file with
	 * packets (enum tt_chain, with the gap or overlap and the link types it names). */
	uint32_t set_id;
	uint8_t chain;              /* enum tt_chain */
	uint64_t chain_ns;          /* TT_CHAIN_YES/GAP: the gap; TT_CHAIN_OVERLAP: the overlap */
	uint32_t chain_linktype[2]; /* TT_CHAIN_LINKTYPE: this file's and the previous one's */
	/* written by the aggregator; flows are counted in the file where they started */
	uint64_t n_flows, n_flows_tcp, n_flows_udp;
	uint64_t n_verdict[TT_VERDICT_COUNT];   /* flows by enum tt_verdict */
	uint64_t n_candidate[TT_VERDICT_COUNT]; /* below --min-score, by their hypothesis */
	/* The file as the reader opened [0] and finished [1] it (written by the reader) and
	 * as the hasher did (by the hasher); compared by main after both are joined, which
	 * sets is_changed (tt_files_check_changed). */
	struct tt_file_id {
		uint64_t dev, ino, size, mtime_ns;
		bool is_set;
	} id_read[2], id_hash[2];
	bool is_changed; /* changed while it was read: the SHA-256, if any, is dropped */
	/* summed by the aggregator from the workers' TT_REC_FILE_DONE */
	uint64_t n_flows_evicted; /* flows ended early (TT_END_EVICT) */
	uint64_t n_tls_evicted;   /* TLS inspections closed early to make room */
};

/* ---- the evidence table (src/core/evidence.c) --------------------------------------
 * Item i of the table (tt_evidence_table() in <tortrace/record.h>: weights and reasons)
 * is bit i of a record's evidence. */
enum tt_evidence_id {
	TT_EV_A1 = 0,
	TT_EV_A2,
	TT_EV_A3,
	TT_EV_A4,
	TT_EV_B1,
	TT_EV_B2,
	TT_EV_BNEG,
	TT_EV_C1,
	TT_EV_D1,
	TT_EV_D2,
	TT_EV_H1,
	TT_EV_F1,
	TT_EV_B3,
	TT_EV_X1,
	TT_EV_D3,   /* appended: the bit numbers of the items above stay as they were */
	TT_EV_G1,   /* obfs4's padded segment sizes after the handshake (appended too) */
	TT_EV_FNEG, /* the first flights are not obfs4's handshake (several writes, ...) */
	TT_EV_D4,   /* mid-stream cell bursts (appended) */
	TT_EV_S1,   /* Snowflake: a WebRTC data channel without media (appended) */
	TT_EV_S2,   /* Snowflake: the data channel's volume */
	TT_EV_S3,   /* Snowflake: pion's DTLS ServerHello */
	TT_EV_S4,   /* Snowflake: pion's DTLS ClientHello */
	TT_EV_SNEG, /* media (RTP/SRTP) beside the DTLS handshake */
	TT_EV_S5,   /* Snowflake: Tor's TLS records through Turbo Tunnel, upstream lengths */
	TT_EV_W1,   /* Tor's records of whole cells inside another TLS connection */
	TT_EV_W2,   /* Tor's ClientHello, then its VERSIONS, inside another TLS connection */
	TT_EV_M1,   /* meek: empty polls backing off x1.5 */
	TT_EV_M2,   /* meek: POST bodies that are Tor records of whole cells */
	TT_EV_COUNT,
};

/* ---- helpers ----------------------------------------------------------------------- */

/* Monotonic clock in nanoseconds. */
uint64_t tt_now_ns(void);
/* Format Unix nanoseconds as ISO 8601 UTC with microseconds into buf (>= 32 bytes). */
void tt_fmt_time(uint64_t ts_ns, char *buf, size_t len);
/* Anonymous (private) resident memory of this process in bytes, from /proc; 0 if unknown. */
uint64_t tt_rss_anon_bytes(void);

/* ---- SIGBUS on shrinking file mappings (mapguard.c) -------------------------------- */

/* Install (reference-counted; any thread) the SIGBUS handler that replaces a faulting
 * page of a registered mapping with a zero page and counts it; other SIGBUS still crash.
 * Returns 0 or -errno. */
int tt_mapguard_install(void);
void tt_mapguard_uninstall(void);
/* Register a file mapping (tt_chunk_wrap_mmap does) / forget it before munmap. Any
 * thread; false when the registry is full (the mapping is then not guarded). */
bool tt_mapguard_add(const void *base, size_t len);
void tt_mapguard_remove(const void *base);
/* Pages replaced so far, in the whole process (relaxed load: the reader polls it). */
extern _Atomic uint64_t tt_mapguard_n_faults_;
static inline uint64_t tt_mapguard_faults(void)
{
	return atomic_load_explicit(&tt_mapguard_n_faults_, memory_order_relaxed);
}

/* ---- the record codec (record.c): flow records as msgpack maps -------------------------
 * Internal: the public headers carry no msgpack types. */
/* Encode r as one msgpack map into buf (at least TT_RECORD_MAX_BYTES); returns the
 * length. Any thread. */
size_t tt_record_encode(const struct tt_flow_record *r, uint8_t *buf);

/* Append r to pk as one msgpack map. Returns 0 or -ENOMEM. Any thread. */
int tt_record_pack(msgpack_packer *pk, const struct tt_flow_record *r);

/* Decode one msgpack map into *r (unknown keys are skipped). A "tls" entry is decoded into
 * *tls and r->tls points to it (when tls is NULL it is skipped). Returns 0, or -EBADMSG
 * when obj is not a record. Any thread. */
int tt_record_unpack(const msgpack_object *obj, struct tt_flow_record *r, struct tt_flow_tls *tls,
    struct tt_flow_relay *relay);

/* Like tt_record_unpack; on -EBADMSG, why (if not NULL) says what is wrong: 'key "tls.sni"
 * is an unsigned integer, expected a string', 'no key "ipv"'. */
int tt_record_unpack_why(const msgpack_object *obj, struct tt_flow_record *r,
    struct tt_flow_tls *tls, struct tt_flow_relay *relay, char *why, size_t why_len);

/* What tt_record_skim found wrong. */
enum tt_skim_fault_kind {
	TT_SKIM_OK = 0,
	TT_SKIM_TRUNCATED, /* the data ends inside the object */
	TT_SKIM_BAD_BYTE,  /* 0xc1 or another byte that starts no msgpack value */
	TT_SKIM_TOO_DEEP,  /* containers nested deeper than msgpack-c accepts */
	TT_SKIM_OVERSIZE,  /* a string or bin longer than its key allows (n, max) */
};

struct tt_skim_fault {
	int kind;   /* enum tt_skim_fault_kind */
	size_t off; /* offset in p of the value at fault */
	uint64_t n; /* TT_SKIM_OVERSIZE: the string's length, and the most the key allows */
	uint64_t max;
	char key[40]; /* the schema key being read ("tls.sni"), or "" */
};

/* Walk the one msgpack object at p (n bytes available) without allocating: returns 0 and
 * its length in *end; -EAGAIN when p ends inside it (f says where); -EBADMSG when it is
 * not msgpack msgpack-c would read, or (is_record) a string is longer than its schema
 * key allows. After 0, msgpack_unpack_next on those bytes allocates at most about 16 times
 * their length. Any thread. */
int tt_record_skim(
    const uint8_t *p, size_t n, bool is_record, size_t *end, struct tt_skim_fault *f);

#endif /* TT_SRC_CORE_CORE_H */
