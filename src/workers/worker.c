/* The worker thread: pops bursts of descriptors, keeps per-flow state in its own table,
 * and sends finished flows to the aggregator as msgpack records, in blocks.
 *
 * Idle expiry is decided against the reader's TICK clock, which every worker receives at
 * the same point of the input: a flow ends as idle when its last packet is older than the
 * timeout at that clock, or when its next packet comes later than the timeout. Both rules
 * depend only on the input, never on which other flows share this worker, so the records
 * are the same for any -j. Sweeping the LRU list at a TICK only frees memory early (when
 * capture time runs backwards the list is not in time order, and the sweep stops at the
 * first flow that is not idle: memory comes back later, results are the same).
 *
 * Caps decide results too (which flow is evicted, which TLS flow is inspected), so they
 * are applied per partition of the hash space (core.h tt_partition_of), never per worker:
 * a partition's flows, their packets in order and the TICKs are the same for any -j, and
 * so are its LRU list, its idle sweep, its flow cap and its TLS inspections.
 */
#include "workers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tortrace/tortrace.h"
#include "tls.h"
#include "relays.h"

#define BURST            64
#define AHEAD            8 /* descriptors prefetched ahead of the one being handled */
/* TLS inspections at once per partition: 4096 in all (~140 MiB when one worker owns every
 * partition). */
#define TLS_PER_PART     16
/* Records are encoded into a TT_REC_BLOCK_MAP mapping (core.h), sent once it holds more
 * than BLOCK_BYTES: a record is far smaller than the slack left, so the buffer never
 * needs to grow. Without a mapping, a malloc()ed buffer of BLOCK_BYTES plus the slack. */
#define BLOCK_SLACK      (64u * 1024)
#define BLOCK_BYTES      (TT_REC_BLOCK_MAP - BLOCK_SLACK)
/* ... or sooner, at an eighth of a small --sort-budget (not below BLOCK_MIN), so that the
 * aggregator's memory stays near the budget and spills as often as before. */
#define BLOCK_MIN        (64u * 1024)
/* A block sent before it is full (a set ended) smaller than this is copied out to a
 * buffer of its size and the mapping kept, so that sets of a few flows do not each hold
 * 2 MiB in the aggregator. */
#define BLOCK_COPY_BELOW (TT_REC_BLOCK_MAP / 2)

/* The flows of one partition whose TLS is being inspected, and when each was last fed a
 * payload (wstate.n_seen): the one fed least recently gives way to a new TLS flow. */
struct tls_part {
	uint32_t flow[TLS_PER_PART]; /* slab index + 1 */
	uint64_t fed[TLS_PER_PART];
	uint32_t n;
};

/* Memory for TLS inspection states, record summaries and G1 records: carved from 2 MiB
 * mappings advised as huge pages (the aggregator's blocks made ahead, when the ring has
 * one: zeroed on its core) and returned only when the worker ends (the objects themselves
 * are reused through free lists). malloc gave them 4 KiB pages, and on a VM each first
 * touch of one is a trap to the hypervisor: with 150,000 TLS flows that cost more than
 * inspecting them. */
#define SLAB_MAP_BYTES TT_REC_BLOCK_MAP
struct slab {
	uint8_t *cur, *end; /* the unused rest of the newest mapping */
	void **maps;
	size_t n_maps, cap_maps;
};

/* A 2 MiB block: one the aggregator made ahead (ahead: the worker's ring, or NULL), else
 * a new mapping; NULL without memory. */
static uint8_t *block_take(struct tt_ring *ahead)
{
	uint8_t *m;

	if (ahead && tt_ring_pop(ahead, &m, 1) == 1)
		return m;
	return tt_rec_block_map();
}

/* size bytes (at most SLAB_MAP_BYTES), 64-byte aligned, or NULL without memory. ahead:
 * the worker's ring of blocks made ahead, or NULL. */
static void *slab_alloc(struct slab *sl, struct tt_ring *ahead, size_t size)
{
	void *p;

	size = (size + 63) & ~(size_t)63;
	if ((size_t)(sl->end - sl->cur) < size) {
		uint8_t *m;

		if (sl->n_maps == sl->cap_maps) {
			size_t cap = sl->cap_maps ? 2 * sl->cap_maps : 16;
			void **v = realloc(sl->maps, cap * sizeof(*v));

			if (!v)
				return NULL;
			sl->maps = v;
			sl->cap_maps = cap;
		}
		if (!(m = block_take(ahead)))
			return NULL;
		sl->maps[sl->n_maps++] = m;
		sl->cur = m;
		sl->end = sl->cur + SLAB_MAP_BYTES;
	}
	p = sl->cur;
	sl->cur += size;
	return p;
}

static void slab_free_all(struct slab *sl)
{
	for (size_t i = 0; i < sl->n_maps; i++)
		tt_rec_buf_free(sl->maps[i], true);
	free(sl->maps);
	memset(sl, 0, sizeof(*sl));
}

/* A flow's segment sizes for G1 (tt_flow.pt), or a link of the worker's free list. */
union pt_shape {
	struct tt_pt_shape s;
	union pt_shape *next;
};

/* A follower of a flow's client records, or a link of the worker's free list. */
union tunnel {
	struct tt_tunnel s;
	union tunnel *next;
};

/* A record's TLS summary (tt_flow_record.tls), or a link of the worker's free list. */
union tls_sum {
	struct tt_flow_tls s;
	union tls_sum *next;
};

struct wstate {
	struct tt_worker *w;
	struct tt_flow_table ft;
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	struct tt_rec_ref *refs; /* the records in sbuf */
	uint32_t n_in_block, cap_refs;
	uint32_t set_id;      /* the set being read (the id of its first file) */
	uint32_t cur_file;    /* the file being read, from FILE_NEXT */
	uint64_t clock_ns;    /* the last TICK's packet clock */
	uint64_t idle_ns[2];  /* [0] TCP, [1] UDP */
	uint64_t n_seen;      /* DATA descriptors handled: orders packets within a partition */
	uint32_t flow_cap;    /* live flows per partition (--flow-memory) */
	struct tls_part *tls; /* [TT_N_PARTITIONS]: the TLS inspections of each partition */
	/* evictions in the current file, sent with TT_REC_EVICTIONS or TT_REC_FILE_DONE */
	uint64_t n_flows_evicted, n_tls_evicted;
	/* Freed inspection states (from slab), kept for reuse until the worker ends: room for
	 * every inspection that can be open at once (TLS_PER_PART per partition). */
	struct tt_tls_flow **pool;
	unsigned n_pool;
	union tls_sum *sum_free; /* record TLS summaries kept for reuse, chained */
	union pt_shape *pt_free; /* G1 segment records kept for reuse, chained */
	union tunnel *tun_free;  /* client-record followers kept for reuse, chained */
	struct slab slab;        /* where the states, summaries and G1 records come from */
	bool is_block_mapped;    /* sbuf.data is a tt_rec_block_map() mapping */
	size_t block_bytes;      /* a block is sent once it holds this many bytes */
	struct tt_fp_cache *fp;  /* JA3/JA4 of recent hello shapes (NULL: none) */
};

static void send_msg(struct wstate *st, const struct tt_rec_msg *m)
{
	tt_ring_push_all(st->w->out, m, 1);
}

/* Give the empty block buffer its full size at once: grown from msgpack's 8 KiB by
 * doubling, every block was copied five times over into freshly faulted memory. Without
 * memory the sbuffer grows by itself as before. */
static void reserve_block(struct wstate *st)
{
	char *p;

	if (st->sbuf.data)
		return;
	if ((p = (char *)block_take(st->w->blocks)) != NULL) {
		st->is_block_mapped = true;
		st->sbuf.alloc = TT_REC_BLOCK_MAP;
	} else if ((p = malloc(BLOCK_BYTES + BLOCK_SLACK)) != NULL) {
		st->is_block_mapped = false;
		st->sbuf.alloc = BLOCK_BYTES + BLOCK_SLACK;
	} else {
		return;
	}
	st->sbuf.data = p;
}

static void send_block(struct wstate *st)
{
	struct tt_rec_msg m = {.kind = TT_REC_BLOCK, .file_id = st->set_id};

	if (st->n_in_block == 0)
		return;
	m.len = (uint32_t)st->sbuf.size;
	m.n_records = st->n_in_block;
	/* Ownership of both arrays moves to the aggregator. */
	if (st->is_block_mapped && m.len < BLOCK_COPY_BELOW && (m.buf = malloc(m.len)) != NULL) {
		memcpy(m.buf, st->sbuf.data, m.len);
		st->sbuf.size = 0; /* the mapping stays for the next block */
	} else {
		m.is_mapped = st->is_block_mapped;
		m.buf = (uint8_t *)msgpack_sbuffer_release(&st->sbuf);
	}
	m.refs = st->refs;
	st->refs = NULL;
	st->cap_refs = 0;
	send_msg(st, &m);
	st->n_in_block = 0;
	reserve_block(st);
}

static uint64_t idle_ns(const struct wstate *st, const struct tt_flow *f)
{
	return st->idle_ns[f->rec.proto != 6];
}

static bool is_expired(const struct wstate *st, const struct tt_flow *f)
{
	return f->rec.last_ts_ns + idle_ns(st, f) < st->clock_ns;
}

/* Pack f's record into the block and note where it went. 0 or -ENOMEM. */
static int emit(struct wstate *st, const struct tt_flow *f)
{
	size_t off = st->sbuf.size;
	struct tt_rec_ref *ref;

	if (st->n_in_block == st->cap_refs) {
		uint32_t cap = st->cap_refs ? 2 * st->cap_refs : 1024;
		struct tt_rec_ref *r = realloc(st->refs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		st->refs = r;
		st->cap_refs = cap;
	}
	/* A mapped block is never grown (msgpack would realloc() it): it is sent once past
	 * BLOCK_BYTES, and a record (fixed fields, strings of at most 255 bytes) is a few
	 * hundred bytes, far below BLOCK_SLACK. */
	TT_BUG_ON(st->sbuf.size > st->block_bytes);
	if (tt_record_pack(&st->pk, &f->rec) < 0)
		return -ENOMEM;
	ref = &st->refs[st->n_in_block++];
	TT_BUG_ON(f->rec.file_id < st->set_id);
	*ref = (struct tt_rec_ref){
	    .file_delta = f->rec.file_id - st->set_id < 0xffffu
			      ? (uint16_t)(f->rec.file_id - st->set_id)
			      : 0xffffu,
	    .first_ts_ns = f->rec.first_ts_ns,
	    .last_ts_ns = f->rec.last_ts_ns,
	    .src_port = f->rec.src_port,
	    .dst_port = f->rec.dst_port,
	    .proto = f->rec.proto,
	    .verdict = f->rec.verdict & 15u,
	    .candidate = f->rec.candidate & 15u,
	    .off = (uint32_t)off,
	    .len = (uint32_t)(st->sbuf.size - off),
	};
	memcpy(ref->src_ip, f->rec.src_ip, 16);
	memcpy(ref->dst_ip, f->rec.dst_ip, 16);
	return 0;
}

/* After the inspection of a TLS flow with its handshake, follow the client's record
 * headers on (meek and WebTunnel carry Tor's records inside: tls.h tt_tunnel). Not for a
 * Tor link (D1/D2 said so already), nor a suite whose overhead is not fixed (CBC), nor a
 * client direction that is not following headers. Without memory the items are not
 * tested. */
static void tunnel_open(struct wstate *st, struct tt_flow *f)
{
	const struct tt_tls_flow *t = f->tls;
	union tunnel *u;
	int overhead;

	if (!f->rec.tls || f->rec.tls->is_d1 || f->rec.tls->is_d2 || !t->has_ch || !t->has_sh ||
	    t->is_sh_bad ||
	    (t->st[0].flags & (TT_TLS_STREAM_FOLLOW | TT_TLS_STREAM_LOST)) != TT_TLS_STREAM_FOLLOW)
		return;
	overhead = tt_tls_cell_overhead(t->sh.version, t->sh.cipher);
	if (overhead < 0)
		return;
	if ((u = st->tun_free) != NULL)
		st->tun_free = u->next;
	else if (!(u = slab_alloc(&st->slab, st->w->blocks, sizeof(*u))))
		return;
	tt_tunnel_start(&u->s, t, (unsigned)overhead);
	f->tun = &u->s;
}

/* f ends, or its client closed: what its follower saw goes into the TLS summary. */
static void tunnel_close(struct wstate *st, struct tt_flow *f)
{
	union tunnel *u = (union tunnel *)f->tun;
	struct tt_tunnel_stats ts;
	struct tt_flow_tls *s = f->rec.tls;

	if (!u)
		return;
	tt_tunnel_stats(&u->s, &ts);
	if (s) {
		s->nest_app = ts.w1_elig;
		s->nest_fit = ts.w1_fit;
		s->is_nest_hello = ts.is_w2;
		s->poll_backoff = ts.m1_run;
		s->poll_mode = ts.m2_mode;
		s->poll_bodies = ts.m2_elig;
		s->poll_cell = ts.m2_fit;
	}
	u->next = st->tun_free;
	st->tun_free = u;
	f->tun = NULL;
}

/* Close the TLS inspection of f, if any, into its record. */
static void tls_close(struct wstate *st, struct tt_flow *f)
{
	struct tls_part *tp;

	if (!f->tls)
		return;
	tp = &st->tls[f->part];
	TT_BUG_ON(
	    f->tls_slot >= tp->n || tp->flow[f->tls_slot] != (uint32_t)(f - st->ft.flows) + 1);
	/* Take it out of the partition's list: the last entry moves into its place. */
	if (--tp->n != f->tls_slot) {
		tp->flow[f->tls_slot] = tp->flow[tp->n];
		tp->fed[f->tls_slot] = tp->fed[tp->n];
		st->ft.flows[tp->flow[tp->n] - 1].tls_slot = f->tls_slot;
	}
	if (st->sum_free) {
		f->rec.tls = &st->sum_free->s;
		st->sum_free = st->sum_free->next;
	} else {
		union tls_sum *u = slab_alloc(&st->slab, st->w->blocks, sizeof(*u));

		f->rec.tls = u ? &u->s : NULL;
	}
	if (f->rec.tls)
		tt_inspect_tls_summary(f->tls, f->rec.initiator != TT_INIT_SYN, st->fp, f->rec.tls);
	tunnel_open(st, f);
	TT_BUG_ON(st->n_pool >= TLS_PER_PART * TT_N_PARTITIONS);
	st->pool[st->n_pool++] = f->tls;
	f->tls = NULL;
}

/* f ends: its record goes into the block. */
static void end_flow(struct wstate *st, struct tt_flow *f, unsigned end)
{
	struct tt_flow_relay relay;

	tls_close(st, f);
	tunnel_close(st, f);
	/* Only a connection seen from its SYN has first flights to judge. The client's is
	 * 64 bytes (representative, mark, MAC) plus 77-8128 of padding: obfs4
	 * handshake_ntor.go pads it to at least the server's minimum, 96 + the 45-byte seed
	 * frame (clientMinPadLength = 141 - clientMinHandshakeLength). */
	if ((f->rec.flags & TT_FLOW_SYN_SEEN) && f->fet[0] && f->fet[1] && f->flight[0] >= 141 &&
	    f->flight[0] <= 8192 && f->flight[1] >= 141 && f->flight[1] <= 8237) {
		f->rec.flags |= TT_FLOW_FET_HANDSHAKE;
		/* obfs4 writes each handshake at once (client: representative, padding, mark
		 * and MAC; server: the same plus the inline seed frame), each at most 8192
		 * bytes (obfs4 handshake_ntor.go maxHandshakeLength). RTMP's C0+C1 is 1537. */
		if (f->is_split[0] || f->is_split[1] || f->flight[1] > 8192 || f->flight[0] == 1537)
			f->rec.flags |= TT_FLOW_NOT_OBFS4_HS;
		if (f->pt && tt_pt_shape_is_obfs4(f->pt))
			f->rec.flags |= TT_FLOW_PT_SHAPE;
	}
	if (f->pt) {
		union pt_shape *u = (union pt_shape *)f->pt;

		u->next = st->pt_free;
		st->pt_free = u;
		f->pt = NULL;
	}
	if (!st->w->cfg->is_no_detect)
		tt_evidence_score(&f->rec, st->w->relays, st->w->cfg, &relay);
	f->rec.end = (uint8_t)end;
	if (emit(st, f) < 0) {
		st->w->rc = -ENOMEM;
		tt_log(TT_LOG_ERROR, "worker %u: out of memory encoding a record", st->w->id);
	} else {
		st->w->n_records++;
	}
	if (f->rec.tls) {
		union tls_sum *u = (union tls_sum *)f->rec.tls;

		u->next = st->sum_free;
		st->sum_free = u;
	}
	f->rec.tls = NULL;
	f->rec.relay = NULL; /* pointed at the stack */
	if (st->sbuf.size >= st->block_bytes)
		send_block(st);
}

static void finish(struct wstate *st, struct tt_flow *f, unsigned end)
{
	end_flow(st, f, end);
	tt_flow_table_remove(&st->ft, f);
}

/* Each partition's LRU list is in the partition's packet order, whatever else shares the
 * worker, so stopping at its first live flow frees the same flows for any -j (the flow
 * cap counts them). */
static void sweep(struct wstate *st)
{
	struct tt_flow *f;

	for (unsigned part = 0; part < TT_N_PARTITIONS; part++)
		while ((f = tt_flow_table_oldest(&st->ft, part)) != NULL && is_expired(st, f))
			finish(st, f, TT_END_IDLE);
}

/* End of a file: every flow ends. They are emitted in slab order (sequential memory, which
 * the prefetcher follows; the aggregator sorts anyway) and the table is then emptied at
 * once, which is much cheaper than removing flows one by one. */
static void flush_all(struct wstate *st, bool is_stop)
{
	for (uint32_t i = 0; i < st->ft.n_flows; i++) {
		struct tt_flow *f = &st->ft.flows[i];

		if (tt_flow_is_live(f))
			end_flow(st, f,
			    is_stop             ? TT_END_STOP
			    : is_expired(st, f) ? TT_END_IDLE
						: TT_END_EOF);
	}
	tt_flow_table_clear(&st->ft);
}

/* Start inspecting a TCP flow whose first payload is TLS: its first 8 KiB each way. The
 * state is large (~35 KiB), so at most TLS_PER_PART flows of a partition are inspected at
 * once. When the partition is full, the inspection fed least recently (in the partition's
 * packet order) is closed early: what it saw stays in its record, which is marked
 * TT_FLOW_TLS_EVICTED and counted. Idle flows that opened a handshake and went quiet so
 * give way to live handshakes; a flood cannot keep a new flow from being inspected. */
static void tls_open(struct wstate *st, struct tt_flow *f, bool is_midstream)
{
	struct tls_part *tp = &st->tls[f->part];
	uint32_t idx1 = (uint32_t)(f - st->ft.flows) + 1;

	if (f->tls || (f->rec.flags & TT_FLOW_TLS))
		return;
	if (tp->n == TLS_PER_PART) {
		uint32_t old = 0;
		struct tt_flow *victim;

		for (uint32_t i = 1; i < tp->n; i++)
			if (tp->fed[i] < tp->fed[old])
				old = i;
		victim = &st->ft.flows[tp->flow[old] - 1];
		tls_close(st, victim);
		victim->rec.flags |= TT_FLOW_TLS_EVICTED;
		st->n_tls_evicted++;
	}
	if (st->n_pool > 0)
		f->tls = st->pool[--st->n_pool];
	else
		f->tls = slab_alloc(&st->slab, st->w->blocks, sizeof(*f->tls));
	if (!f->tls) {
		st->w->rc = -ENOMEM;
		tt_log(TT_LOG_ERROR, "worker %u: out of memory for a TLS inspection", st->w->id);
		return;
	}
	if (is_midstream)
		tt_tls_flow_init_midstream(f->tls);
	else
		tt_tls_flow_init(f->tls);
	f->rec.flags |= TT_FLOW_TLS;
	f->tls_slot = (uint8_t)tp->n;
	tp->flow[tp->n] = idx1;
	tp->fed[tp->n++] = st->n_seen;
}

/* A zeroed G1 segment record, or NULL without memory (G1 is then not tested). */
static struct tt_pt_shape *pt_get(struct wstate *st)
{
	union pt_shape *u = st->pt_free;

	if (u)
		st->pt_free = u->next;
	else if (!(u = slab_alloc(&st->slab, st->w->blocks, sizeof(*u))))
		return NULL;
	memset(&u->s, 0, sizeof(u->s));
	return &u->s;
}

/* The first flight of payload and the reply to it, for the obfs4 shape: how long each is
 * and whether its first segment looks fully encrypted. */
static void track_flight(struct wstate *st, struct tt_flow *f, int dir, uint32_t payload,
    const uint8_t *data, uint32_t captured)
{
	int k;
	uint16_t len = payload > UINT16_MAX ? UINT16_MAX : (uint16_t)payload;

	if (f->flight_phase == 0) {
		f->flight_phase = 1;
		f->first_dir = (uint8_t)dir;
	} else if (f->flight_phase == 1 && dir != f->first_dir) {
		f->flight_phase = 2;
	} else if (f->flight_phase == 2 && dir == f->first_dir) {
		f->flight_phase = 3;
		/* Both first flights look fully encrypted: keep the segments that follow for
		 * the obfs4 shape (G1). Rare, so allocated; without memory G1 is not tested. */
		if ((f->rec.flags & TT_FLOW_SYN_SEEN) && f->fet[0] && f->fet[1])
			f->pt = pt_get(st);
		return;
	}
	k = f->flight_phase - 1;
	if (f->flight[k] == 0) {
		/* Only both flights looking fully encrypted counts (end_flow, above): the reply
		 * is not scanned after a first flight that does not, nor a segment the
		 * first-payload inspector already named (TLS, HTTP, ...), which the scan would
		 * exempt the same way. */
		f->fet[k] = (k == 0 || f->fet[0]) && f->rec.app[dir] == TT_APP_UNKNOWN &&
			    tt_inspect_is_fully_encrypted(data, captured);
		f->seg_first[k] = len;
	} else if (f->seg_prev[k] != f->seg_first[k] || len > f->seg_first[k]) {
		/* One write is segments of one size and a last one no longer. */
		f->is_split[k] = 1;
	}
	f->seg_prev[k] = len;
	f->flight[k] += payload;
}

/* A segment after the first flights of a flow with a shape record. */
static void track_shape(struct tt_pt_shape *s, int dir, uint32_t payload)
{
	if (s->n >= TT_PT_SEGS)
		return;
	s->is_rev[s->n] = dir == TT_DIR_REV;
	s->len[s->n++] = payload > UINT16_MAX ? UINT16_MAX : (uint16_t)payload;
}

/* Ports servers listen on that are not below 1024: tor's ORPort/DirPort/SOCKS/control
 * defaults and the usual alternative web ports. */
static bool is_service_port(uint16_t port)
{
	static const uint16_t ports[] = {
	    1080, 3128, 8000, 8080, 8443, 8888, 9001, 9030, 9050, 9051, 9150, 9151};

	if (port < 1024)
		return true;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (ports[i] == port)
			return true;
	return false;
}

unsigned tt_worker_orient(const struct tt_relays *relays, uint8_t ip_version, const uint8_t *src,
    uint16_t sport, uint16_t dport, uint64_t ts_ns)
{
	if (relays) {
		struct tt_relay_match m[4];
		uint8_t addr[16] = {0};
		size_t n;

		memcpy(addr, src, ip_version == 6 ? 16 : 4);
		n = tt_relays_lookup(relays, addr, ip_version, sport, ts_ns, m, 4);
		/* A listing within a day counts too (the _NEAR kinds): orientation is not
		 * evidence, and in the tornet captures a relay's first minutes fall outside
		 * every consensus that lists it (relay-exit1.pcap cut at +20 s: two of its
		 * links were reversed with the exact rule). */
		for (size_t i = 0; i < n && i < 4; i++)
			if (m[i].kind == TT_RELAY_MATCH_ORPORT ||
			    m[i].kind == TT_RELAY_MATCH_DIRPORT ||
			    m[i].kind == TT_RELAY_MATCH_ORPORT_NEAR ||
			    m[i].kind == TT_RELAY_MATCH_DIRPORT_NEAR)
				return TT_INIT_GUESSED_RELAY;
	}
	if (is_service_port(sport) && !is_service_port(dport))
		return TT_INIT_GUESSED_PORT;
	return TT_INIT_FIRST_PACKET;
}

/* Orientation: a SYN's sender or a SYN-ACK's receiver initiated. Without either (a TCP
 * flow caught in the middle), a packet from a listed relay's ORPort or DirPort, or from a
 * service port to an ephemeral one, is a reply: the other side initiated
 * (tt_worker_orient). Otherwise, and for UDP, the first packet's sender. */
static void start_flow(
    struct wstate *st, struct tt_flow *f, const struct tt_pkt *p, bool src_is_a, uint8_t flags)
{
	const uint8_t *l3 = p->l3;
	size_t alen = (l3[0] >> 4) == 6 ? 16 : 4;
	const uint8_t *src = l3 + (alen == 16 ? 8 : 12), *dst = src + alen;
	bool is_syn = p->proto == 6 && (flags & 0x02);
	/* A SYN-ACK first means we missed the SYN: its receiver initiated. */
	bool is_reply = p->proto == 6 && (flags & 0x12) == 0x12;

	if (is_syn) {
		f->rec.initiator = TT_INIT_SYN;
	} else if (p->proto == 6) {
		f->rec.initiator = (uint8_t)tt_worker_orient(st->w->relays,
		    (uint8_t)(alen == 16 ? 6 : 4), src, p->sport, p->dport, p->ts_ns);
		is_reply = f->rec.initiator != TT_INIT_FIRST_PACKET;
	} else {
		f->rec.initiator = TT_INIT_FIRST_PACKET;
	}
	f->is_init_a = is_reply ? !src_is_a : src_is_a;
	memcpy(f->rec.src_ip, is_reply ? dst : src, alen);
	memcpy(f->rec.dst_ip, is_reply ? src : dst, alen);
	f->rec.src_port = is_reply ? p->dport : p->sport;
	f->rec.dst_port = is_reply ? p->sport : p->dport;
	f->rec.proto = p->proto;
	f->rec.ip_version = alen == 16 ? 6 : 4;
	f->rec.first_ts_ns = p->ts_ns;
	f->rec.last_ts_ns = p->ts_ns;
	f->rec.file_id = st->cur_file;
}

/* A first payload of n captured bytes (of wire_len on the wire) that starts a TLS
 * handshake record the snap length cut: the packet is short and the captured bytes end
 * inside the record (TT_FLOW_HELLO_CUT). */
static bool is_hello_cut(const uint8_t *pay, uint32_t n, uint32_t wire_len)
{
	if (n >= wire_len || pay[0] != 0x16)
		return false;
	return n < 5 || 5u + ((uint32_t)pay[3] << 8 | pay[4]) > n;
}

static void on_packet(struct wstate *st, const struct tt_pkt *p)
{
	const uint8_t *l3 = p->l3;
	size_t alen = (l3[0] >> 4) == 6 ? 16 : 4;
	const uint8_t *src = l3 + (alen == 16 ? 8 : 12), *dst = src + alen;
	bool has_l4 = p->l4_off != TT_NO_L4;
	uint32_t hdr = p->proto == 6 ? 20 : 8, payload;
	uint8_t flags = 0;
	uint32_t seq = 0;
	struct tt_flow_key k;
	struct tt_flow *f;
	bool src_is_a;
	int dir;

	if (p->proto == 6 && has_l4 && p->caplen >= (uint32_t)p->l4_off + 14) {
		flags = l3[p->l4_off + 13];
		hdr = (uint32_t)(l3[p->l4_off + 12] >> 4) * 4;
		seq = (uint32_t)l3[p->l4_off + 4] << 24 | (uint32_t)l3[p->l4_off + 5] << 16 |
		      (uint32_t)l3[p->l4_off + 6] << 8 | l3[p->l4_off + 7];
	}
	if (!has_l4)
		hdr = 0; /* a later fragment is all payload */
	payload = p->l4_len > hdr ? p->l4_len - hdr : 0;
	src_is_a = tt_flow_key_make(
	    &k, (uint8_t)(alen == 16 ? 6 : 4), p->proto, src, dst, p->sport, p->dport);
	f = tt_flow_table_find(&st->ft, &k, p->hash);
	if (f && (is_expired(st, f) || p->ts_ns > f->rec.last_ts_ns + idle_ns(st, f))) {
		finish(st, f, TT_END_IDLE);
		f = NULL;
	}
	/* A new SYN on a closed connection starts a new one (port reuse); a retransmitted
	 * SYN (same initial sequence number, e.g. retries answered by RST) does not. */
	if (f && (flags & 0x12) == 0x02 && (f->rec.flags & (TT_FLOW_FIN_SEEN | TT_FLOW_RST_SEEN)) &&
	    !(f->has_isn && f->isn == seq)) {
		finish(st, f, TT_END_REUSE);
		f = NULL;
	}
	if (!f) {
		unsigned part = tt_partition_of(p->hash);
		struct tt_flow *old;

		/* The partition is at its share of --flow-memory: its least recently active
		 * flow ends early. */
		if (st->ft.n_live[part] >= st->flow_cap &&
		    (old = tt_flow_table_oldest(&st->ft, part)) != NULL) {
			if (is_expired(st, old)) {
				finish(st, old, TT_END_IDLE);
			} else {
				finish(st, old, TT_END_EVICT);
				st->n_flows_evicted++;
			}
		}
		f = tt_flow_table_insert(&st->ft, &k, p->hash);
		if (!f) {
			st->w->rc = -ENOMEM;
			return;
		}
		start_flow(st, f, p, src_is_a, flags);
		if (st->ft.n_flows > st->w->n_max_flows)
			st->w->n_max_flows = st->ft.n_flows;
	} else {
		tt_flow_table_touch(&st->ft, f);
	}
	dir = src_is_a == f->is_init_a ? TT_DIR_FWD : TT_DIR_REV;
	f->rec.last_file_id = st->cur_file;
	f->rec.pkts[dir]++;
	f->rec.bytes[dir] += p->wirelen;
	f->rec.payload_bytes[dir] += payload;
	f->rec.tcp_flags[dir] |= flags;
	if ((flags & 0x12) == 0x02 && dir == TT_DIR_FWD) {
		f->rec.flags |= TT_FLOW_SYN_SEEN;
		if (!f->has_isn) {
			f->has_isn = true;
			f->isn = seq;
		}
	}
	if (flags & 0x01)
		f->rec.flags |= TT_FLOW_FIN_SEEN;
	if (flags & 0x04)
		f->rec.flags |= TT_FLOW_RST_SEEN;
	if (!has_l4) {
		f->rec.n_frags++;
	} else {
		uint32_t pay_off = p->l4_off + hdr;
		/* The payload bytes captured (the snap length may cut the segment): 0 when
		 * there is no payload or none of it was captured. */
		uint32_t n_cap = p->caplen <= pay_off            ? 0
				 : p->caplen - pay_off < payload ? p->caplen - pay_off
								 : payload;

		if (p->caplen < p->l4_off + p->l4_len)
			f->rec.flags |= TT_FLOW_TRUNCATED;
		if (payload > 0 && f->rec.app[dir] == TT_APP_NONE && p->caplen > pay_off) {
			f->rec.app[dir] = (uint8_t)tt_inspect_first_payload(
			    p->proto, p->sport, p->dport, l3 + pay_off, p->caplen - pay_off);
			if (f->rec.app[dir] == TT_APP_TLS && p->proto == 6 &&
			    is_hello_cut(l3 + pay_off, p->caplen - pay_off, payload))
				f->rec.flags |= TT_FLOW_HELLO_CUT;
			if (f->rec.app[dir] == TT_APP_TLS && p->proto == 6 &&
			    !st->w->cfg->is_no_detect)
				tls_open(st, f, false);
			/* A TCP flow caught in the middle (no SYN or SYN-ACK was its first
			 * packet) whose first payload is no protocol start: look for TLS records
			 * from the middle of the stream (evidence D3, and A1 without a
			 * handshake). It competes for the partition's slots like any TLS flow. */
			else if (p->proto == 6 && f->rec.initiator != TT_INIT_SYN && !f->tls &&
				 !(f->rec.flags & TT_FLOW_TLS) && !st->w->cfg->is_no_detect)
				tls_open(st, f, true);
		}
		if (payload > 0 && f->flight_phase < 3 && p->proto == 6 &&
		    !st->w->cfg->is_no_detect)
			track_flight(st, f, dir, payload, l3 + pay_off,
			    p->caplen > pay_off ? p->caplen - pay_off : 0);
		if (p->proto == 17 && n_cap > 0 && !st->w->cfg->is_no_detect)
			tt_webrtc_datagram(&f->rec, (unsigned)dir, l3 + pay_off, n_cap);
		/* From the segment that ended the first flights on (track_flight set pt). */
		if (payload > 0 && f->pt)
			track_shape(f->pt, dir, payload);
		/* Before the inspector: a follower it starts on this segment has read it. */
		if (f->tun && n_cap > 0) {
			if (dir == TT_DIR_REV) {
				tt_tunnel_server(f->tun, p->ts_ns);
			} else {
				tt_tunnel_client(f->tun, seq, l3 + pay_off, n_cap, p->ts_ns);
				if (tt_tunnel_is_done(f->tun)) /* all it reads: counts in now */
					tunnel_close(st, f);
			}
		}
		if (f->tls && n_cap > 0) {
			st->tls[f->part].fed[f->tls_slot] = st->n_seen;
			tt_tls_flow_add(
			    f->tls, dir == TT_DIR_REV, seq, l3 + pay_off, n_cap, flags & 0x02);
			/* Enough seen: both hellos and the first records (the framing tests use
			 * the first 20, 48 with CBC: tt_tls_flow_records_wanted); for a flow
			 * caught mid-stream, each direction's window of followed record headers;
			 * or nothing more can be learnt. Closing early saves following the rest. */
			if (tt_tls_flow_is_done(f->tls) ||
			    (f->tls->has_ch && f->tls->has_sh &&
				f->tls->n_recs >= tt_tls_flow_records_wanted(f->tls)) ||
			    tt_tls_flow_midstream_is_done(f->tls))
				tls_close(st, f);
		}
		/* Reset, or closed both ways: no more data comes, so the inspection gives its
		 * place back now rather than being evicted later (a finished flow stays in
		 * the table until it is idle, EOF or its port is reused). */
		if (f->tls &&
		    ((flags & 0x04) || (f->rec.tcp_flags[0] & f->rec.tcp_flags[1] & 0x01)))
			tls_close(st, f);
		/* The client has closed (or the connection was reset): its records are all
		 * read, so the follower's counts go into the record now and its memory back. */
		if (f->tun && ((flags & 0x04) || (f->rec.tcp_flags[0] & 0x01)))
			tunnel_close(st, f);
	}
	if (p->ts_ns < f->rec.first_ts_ns)
		f->rec.first_ts_ns = p->ts_ns;
	if (p->ts_ns > f->rec.last_ts_ns)
		f->rec.last_ts_ns = p->ts_ns;
}

static inline void prefetch_pkt(const struct wstate *st, const struct tt_pkt *p)
{
	if (p->kind == TT_PKT_DATA) {
		tt_flow_table_prefetch(&st->ft, p->hash);
		__builtin_prefetch(p->l3);
		__builtin_prefetch(p->l3 + 63); /* the TCP header may start on the next line */
	}
}

void *tt_worker_main(void *arg)
{
	struct tt_worker *w = arg;
	struct wstate st = {.w = w, .idle_ns = {w->cfg->tcp_timeout_ns, w->cfg->udp_timeout_ns}};
	struct tt_pkt burst[BURST];
	struct tt_backoff b = {0};
	bool is_done = false;
	uint64_t mem =
	    w->cfg->flow_memory_bytes ? w->cfg->flow_memory_bytes : TT_FLOW_MEMORY_DEFAULT;
	uint64_t cap = mem / TT_FLOW_COST_BYTES / TT_N_PARTITIONS, budget;
	unsigned n_parts = 0;

	/* The same cap for every partition whatever -j is; the slab is sized for the
	 * partitions this worker owns. */
	st.flow_cap = cap < 1                              ? 1
		      : cap > UINT32_MAX / TT_N_PARTITIONS ? UINT32_MAX / TT_N_PARTITIONS
							   : (uint32_t)cap;
	for (unsigned part = 0; part < TT_N_PARTITIONS; part++)
		n_parts += tt_worker_of_partition(part, w->n_workers) == w->id;
	w->rc = tt_flow_table_init(&st.ft);
	st.ft.max_flows = st.flow_cap * (n_parts ? n_parts : 1);
	st.tls = calloc(TT_N_PARTITIONS, sizeof(*st.tls));
	st.pool = calloc(TLS_PER_PART * TT_N_PARTITIONS, sizeof(*st.pool));
	st.fp = calloc(1, sizeof(*st.fp)); /* without it, fingerprints are computed each time */
	if (!st.tls || !st.pool)
		w->rc = -ENOMEM;
	budget = w->cfg->sort_budget_bytes ? w->cfg->sort_budget_bytes : TT_SORT_BUDGET_DEFAULT;
	st.block_bytes = budget / 8 < BLOCK_MIN     ? BLOCK_MIN
			 : budget / 8 > BLOCK_BYTES ? BLOCK_BYTES
						    : (size_t)(budget / 8);
	msgpack_sbuffer_init(&st.sbuf);
	reserve_block(&st);
	msgpack_packer_init(&st.pk, &st.sbuf, msgpack_sbuffer_write);
	while (!is_done) {
		uint32_t n = tt_ring_pop(w->in, burst, BURST);

		if (n == 0) {
			w->n_idle_waits++;
			tt_ring_wait_pop(w->in, &b);
			continue;
		}
		b.n = 0;
		/* Overlap cache misses: the packet headers (written by the reader's core) and
		 * the table slot of descriptor i + AHEAD are requested while i is handled. */
		for (uint32_t i = 0; i < n && i < AHEAD; i++)
			prefetch_pkt(&st, &burst[i]);
		for (uint32_t i = 0; i < n; i++) {
			if (i + AHEAD < n)
				prefetch_pkt(&st, &burst[i + AHEAD]);
			const struct tt_pkt *p = &burst[i];

			switch (p->kind) {
			case TT_PKT_DATA:
				w->n_pkts++;
				st.n_seen++;
				if (w->rc == 0)
					on_packet(&st, p);
				break;
			case TT_PKT_RELEASE:
				tt_chunk_put((struct tt_chunk *)p->l3);
				break;
			case TT_PKT_TICK:
				st.clock_ns = p->ts_ns;
				sweep(&st);
				break;
			case TT_PKT_FILE_NEXT:
				/* A set goes on into the next file: the evictions so far belong to
				 * the file that ends. A new set follows a FILE_END, which sent
				 * them. */
				if (p->proto == 0 && (st.n_flows_evicted || st.n_tls_evicted)) {
					struct tt_rec_msg m = {.kind = TT_REC_EVICTIONS,
					    .file_id = st.cur_file,
					    .n_flows_evicted = st.n_flows_evicted,
					    .n_tls_evicted = st.n_tls_evicted};

					send_msg(&st, &m);
					st.n_flows_evicted = st.n_tls_evicted = 0;
				}
				if (p->proto == 1)
					st.set_id = p->hash;
				st.cur_file = p->hash;
				break;
			case TT_PKT_FILE_END: {
				struct tt_rec_msg m = {.kind = TT_REC_FILE_DONE,
				    .file_id = p->hash,
				    .last_file_id = st.cur_file};
				bool is_stop = p->proto == 1; /* the reader stopped early */

				TT_BUG_ON(p->hash != st.set_id);
				tt_log(TT_LOG_DEBUG, "worker %u: end of set %u at %.3f s", w->id,
				    p->hash, (double)tt_now_ns() / 1e9);
				flush_all(&st, is_stop);
				send_block(&st);
				m.n_flows_evicted = st.n_flows_evicted;
				m.n_tls_evicted = st.n_tls_evicted;
				st.n_flows_evicted = st.n_tls_evicted = 0;
				tt_log(TT_LOG_DEBUG, "worker %u: flushed at %.3f s", w->id,
				    (double)tt_now_ns() / 1e9);
				send_msg(&st, &m);
				st.clock_ns = 0;
				break;
			}
			case TT_PKT_STREAM_END: {
				struct tt_rec_msg m = {.kind = TT_REC_WORKER_DONE};

				flush_all(&st, false);
				send_block(&st);
				send_msg(&st, &m);
				is_done = true;
				break;
			}
			default:
				TT_BUG_ON(1);
			}
		}
	}
	if (st.is_block_mapped && st.sbuf.data)
		tt_rec_buf_free((uint8_t *)st.sbuf.data, true);
	else
		msgpack_sbuffer_destroy(&st.sbuf);
	free(st.refs);
	free(st.pool);
	if (st.fp)
		tt_log(TT_LOG_DEBUG,
		    "worker %u: fingerprint cache: %" PRIu64 " hits, %" PRIu64 " misses", w->id,
		    st.fp->n_hits, st.fp->n_misses);
	free(st.fp);
	slab_free_all(&st.slab);
	tt_flow_table_fini(&st.ft);
	free(st.tls);
	return NULL;
}
