/* The reader thread: reads each capture in turn, decodes each frame far enough to know
 * its flow, and appends a descriptor to the batch of worker (flow hash → worker). Full
 * batches go onto that worker's ring; a full ring makes the reader wait.
 *
 * In-band markers keep every worker in step with the input without locks: TICK carries
 * the set's packet clock (idle expiry then happens at the same point of the input for
 * any number of workers, so results do not depend on -j), RELEASE hands a buffer back,
 * FILE_NEXT says which file the packets after it come from (and whether it starts a new
 * set of files or continues one), FILE_END closes a set's flows, STREAM_END ends the run.
 */
#include "reader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tortrace/tortrace.h"

#define BATCH       32
#define MAX_FILTERS 8
#define TICK_NS     1000000000ull /* granularity of the packet clock sent to workers */
#define STOP_CHECK  1024

struct filter {
	uint32_t linktype;
	bool is_ok;
	struct bpf_program prog;
};

struct rstate {
	struct tt_reader *r;
	struct tt_pkt *batch; /* n_workers × BATCH */
	uint32_t *n_batch;
	struct tt_frag_slot *frags; /* TT_FRAG_SLOTS, cleared when a set starts */
	struct filter filters[MAX_FILTERS];
	unsigned n_filters;
	uint64_t clock; /* the set's packet clock, as last sent (TICK) */
	bool has_clock;
	struct tt_ahead *ahead; /* decompression helpers, or NULL (ahead.c) */
	size_t n_ahead;         /* files whose bytes came from a helper */
};

static void flush(struct rstate *st, unsigned w)
{
	if (st->n_batch[w]) {
		tt_ring_push_all(&st->r->rings[w], &st->batch[w * BATCH], st->n_batch[w]);
		st->n_batch[w] = 0;
	}
}

static inline void append(struct rstate *st, unsigned w, const struct tt_pkt *p)
{
	st->batch[w * BATCH + st->n_batch[w]++] = *p;
	if (st->n_batch[w] == BATCH)
		flush(st, w);
}

static void broadcast(struct rstate *st, const struct tt_pkt *p)
{
	for (unsigned w = 0; w < st->r->n_workers; w++)
		append(st, w, p);
}

/* tt_release_fn: every worker gets a reference and a marker after the data. */
static void release_chunk(void *ctx, struct tt_chunk *c)
{
	struct rstate *st = ctx;
	struct tt_pkt m = {.l3 = (const uint8_t *)c, .kind = TT_PKT_RELEASE};

	atomic_store_explicit(&c->refs, st->r->n_workers, memory_order_relaxed);
	broadcast(st, &m);
}

static const struct bpf_program *filter_for(
    struct rstate *st, uint32_t linktype, struct tt_file_stats *fs)
{
	struct filter *f;
	pcap_t *dead;

	for (unsigned i = 0; i < st->n_filters; i++)
		if (st->filters[i].linktype == linktype)
			return st->filters[i].is_ok ? &st->filters[i].prog : NULL;
	if (st->n_filters == MAX_FILTERS)
		return NULL;
	f = &st->filters[st->n_filters++];
	f->linktype = linktype;
	dead = pcap_open_dead((int)linktype, 262144);
	f->is_ok =
	    dead && pcap_compile(dead, &f->prog, st->r->cfg->bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
	if (!f->is_ok)
		tt_log(TT_LOG_WARN, "%s: filter does not compile for link type %u: %s", fs->path,
		    linktype, dead ? pcap_geterr(dead) : "out of memory");
	if (dead)
		pcap_close(dead);
	return f->is_ok ? &f->prog : NULL;
}

static unsigned shard(uint32_t h, unsigned n)
{
	/* Whole partitions per worker: see tt_partition_of() in core.h. */
	return tt_worker_of_partition(tt_partition_of(h), n);
}

struct tt_frag_slot *tt_frag_slot(struct tt_frag_slot *table, const struct tt_decoded *d)
{
	uint8_t k[36];
	size_t alen = d->ip_version == 6 ? 16 : 4;

	memcpy(k, d->src, alen);
	memcpy(k + 16, d->dst, alen);
	memcpy(k + 32, &d->frag_id, 4);
	if (alen == 4)
		memset(k + 4, 0, 12), memset(k + 20, 0, 12);
	return &table[XXH3_64bits(k, sizeof(k)) & (TT_FRAG_SLOTS - 1)];
}

bool tt_frag_match(const struct tt_frag_slot *s, const struct tt_decoded *d)
{
	size_t alen = d->ip_version == 6 ? 16 : 4;

	return s->is_used && s->id == d->frag_id && s->proto == d->proto &&
	       s->ip_version == d->ip_version && memcmp(s->src, d->src, alen) == 0 &&
	       memcmp(s->dst, d->dst, alen) == 0;
}

void tt_frag_note(struct tt_frag_slot *s, const struct tt_decoded *d, uint32_t hash)
{
	size_t alen = d->ip_version == 6 ? 16 : 4;

	memcpy(s->src, d->src, alen);
	memcpy(s->dst, d->dst, alen);
	s->id = d->frag_id;
	s->proto = d->proto;
	s->ip_version = d->ip_version;
	s->sport = d->sport;
	s->dport = d->dport;
	s->hash = hash;
	s->is_used = true;
}

static void note_linktype(struct tt_file_stats *fs, uint32_t linktype)
{
	for (uint32_t i = 0; i < fs->n_linktypes; i++)
		if (fs->linktypes[i] == linktype)
			return;
	if (fs->n_linktypes < TT_MAX_LINKTYPES)
		fs->linktypes[fs->n_linktypes++] = linktype;
}

static void set_error(struct tt_file_stats *fs, const char *msg, uint64_t off, bool is_stream)
{
	char buf[400];

	if (fs->error)
		return;
	snprintf(buf, sizeof(buf), "%s at byte offset %" PRIu64 "%s", msg, off,
	    is_stream ? " of the decompressed data" : "");
	tt_log(TT_LOG_ERROR, "%s: %s", fs->path, buf);
	fs->error = strdup(buf);
}

/* A capture error; when the compressed source itself failed, also where in the file. */
static void set_capture_error(
    struct tt_file_stats *fs, const struct tt_capture *cap, const struct tt_source *src)
{
	char buf[400];

	if (fs->error)
		return;
	if (!cap->is_source_err || src->comp <= TT_COMP_PLAIN) {
		set_error(fs, cap->err, cap->err_off, src->comp > TT_COMP_PLAIN);
		return;
	}
	snprintf(buf, sizeof(buf),
	    "%s at byte offset %" PRIu64 " of the decompressed data (compressed offset %" PRIu64
	    ")",
	    cap->err, cap->err_off, src->err_raw_off);
	fs->error = strdup(buf);
	tt_log(TT_LOG_ERROR, "%s: %s", fs->path, buf);
}

/* Send a decoded TCP/UDP packet (rc TT_DEC_FLOW) or later fragment (TT_DEC_FRAG) to the
 * worker that owns its flow. */
static void send_packet(struct rstate *st, struct tt_file_stats *fs, const struct tt_frame *f,
    const struct tt_decoded *d, int rc)
{
	struct tt_pkt p = {
	    .l3 = d->l3,
	    .ts_ns = f->ts_ns,
	    .caplen = d->l3_caplen,
	    .wirelen = f->wirelen,
	    .kind = TT_PKT_DATA,
	    .proto = d->proto,
	    .l4_len = d->l4_len,
	};
	struct tt_flow_key k;

	if (rc == TT_DEC_FRAG) {
		struct tt_frag_slot *s = tt_frag_slot(st->frags, d);

		if (!tt_frag_match(s, d)) {
			fs->n_frags_orphan++;
			return;
		}
		p.hash = s->hash;
		p.sport = s->sport;
		p.dport = s->dport;
		p.l4_off = TT_NO_L4;
		append(st, shard(s->hash, st->r->n_workers), &p);
		return;
	}
	tt_flow_key_make(&k, d->ip_version, d->proto, d->src, d->dst, d->sport, d->dport);
	p.hash = (uint32_t)tt_flow_key_hash(&k);
	p.sport = d->sport;
	p.dport = d->dport;
	p.l4_off = d->l4_off;
	if (d->is_frag_first)
		tt_frag_note(tt_frag_slot(st->frags, d), d, p.hash);
	append(st, shard(p.hash, st->r->n_workers), &p);
}

static void handle_frame(struct rstate *st, struct tt_file_stats *fs, const struct tt_frame *f,
    uint64_t off, uint64_t *first_bad_link)
{
	struct tt_decoded d;
	int rc;

	fs->n_pkts++;
	fs->n_bytes += f->wirelen;
	fs->n_cap_bytes += f->caplen;
	if (fs->n_pkts == 1 || f->ts_ns < fs->first_ts_ns)
		fs->first_ts_ns = f->ts_ns;
	if (f->ts_ns > fs->last_ts_ns)
		fs->last_ts_ns = f->ts_ns;
	if (fs->n_linktypes == 0 || fs->linktypes[fs->n_linktypes - 1] != f->linktype)
		note_linktype(fs, f->linktype);
	if (st->r->cfg->bpf) {
		const struct bpf_program *prog = filter_for(st, f->linktype, fs);
		struct pcap_pkthdr hdr = {.caplen = f->caplen, .len = f->wirelen};

		if (!prog || !pcap_offline_filter(prog, &hdr, f->data)) {
			fs->n_filtered++;
			return;
		}
	}
	rc = tt_decode(f->linktype, f->data, f->caplen, &d);
	if (d.ip_version == 4)
		fs->n_ipv4++;
	else if (d.ip_version == 6)
		fs->n_ipv6++;
	switch (rc) {
	case TT_DEC_FLOW:
		break;
	case TT_DEC_FRAG:
		fs->n_frags++;
		break;
	case TT_DEC_OTHER_IP:
		tt_proto_count(&fs->ip_protos, d.proto, 1);
		return;
	case TT_DEC_NON_IP:
		fs->n_non_ip++;
		return;
	case TT_DEC_TRUNCATED:
		fs->n_truncated++;
		return;
	default:
		if (fs->n_bad_link++ == 0)
			*first_bad_link = off;
		return;
	}
	if (d.proto == 6) {
		fs->n_tcp++;
	} else if (d.proto == 17) {
		fs->n_udp++;
	} else {
		tt_proto_count(&fs->ip_protos, d.proto, 1); /* a fragment of something else */
		return;
	}
	send_packet(st, fs, f, &d, rc);
	/* UDP tunnels (VXLAN, GENEVE, GTP-U, Teredo, ...): the packet belongs to the outer
	 * flow and to each inner one, as tshark counts conversations. */
	for (int depth = 0; rc == TT_DEC_FLOW && d.proto == 17 && depth < TT_MAX_TUNNELS; depth++) {
		rc = tt_decode_tunnel(&d, &d);
		if (rc < 0)
			break;
		if ((rc == TT_DEC_FLOW || rc == TT_DEC_FRAG) && (d.proto == 6 || d.proto == 17)) {
			fs->n_tunnelled++;
			send_packet(st, fs, f, &d, rc);
		}
	}
}

static bool is_stop_requested(const struct tt_reader *r)
{
	return r->cfg->stop && atomic_load_explicit(r->cfg->stop, memory_order_relaxed);
}

/* Called when the SIGBUS handler replaced pages (tt_mapguard_faults() moved): if this
 * file shrank, the record at off (and what follows) was read as zeros. True when it did:
 * the error is set and the file is partial. */
static bool file_shrank(struct tt_file_stats *fs, struct tt_source *src, uint64_t off)
{
	uint64_t now = 0;
	char msg[160];

	if (!tt_source_shrank(src, &now))
		return false; /* a fault in another file's mapping */
	snprintf(msg, sizeof(msg),
	    "file shrank from %" PRIu64 " to %" PRIu64 " bytes while being read", src->file_size,
	    now);
	set_error(fs, msg, off, false);
	fs->is_partial = true;
	return true;
}

/* One input while it is read: its byte source and capture parser, and the frame read
 * ahead (the first frame is read before the file joins a set, to decide whether it
 * continues the previous file). */
struct rfile {
	struct tt_source src;
	struct tt_capture cap;
	struct tt_frame f;    /* when rc == 1: the next frame to handle */
	uint64_t off;         /* its offset */
	uint64_t faults;      /* tt_mapguard_faults() when last checked */
	uint64_t done_before; /* progress_bytes when the file was opened */
	uint64_t pkts_before; /* progress_pkts when the file was opened */
	int rc;               /* of the last read: 1 a frame, 0 the end, < 0 an error */
	bool is_open;         /* src (and cap) must be closed */
};

/* Read the next frame of rf into rf->f: 1, 0 at the end (also when the file shrank under
 * the frame: the error is then set), or < 0. */
static int next_frame(struct tt_file_stats *fs, struct rfile *rf)
{
	int rc;

	rf->off = rf->src.off;
	rc = tt_capture_next(&rf->cap, &rf->src, &rf->f);
	if (rc <= 0)
		return rc;
	/* Touch the record's last byte (the header before it was read): if the file was cut
	 * before it, the SIGBUS handler counts it now, and the record is not sent. A
	 * truncation that races this read is still seen at the next record. */
	(void)*(volatile const uint8_t *)(rf->f.data + rf->f.caplen - 1);
	if (__builtin_expect(tt_mapguard_faults() != rf->faults, 0)) {
		rf->faults = tt_mapguard_faults();
		if (file_shrank(fs, &rf->src, rf->off))
			return 0;
	}
	return 1;
}

/* Open file_id and read its first frame (rf->rc says how that went). */
static void open_file(struct rstate *st, uint32_t file_id, struct rfile *rf)
{
	struct tt_reader *r = st->r;
	struct tt_file_stats *fs = &r->files[file_id];
	struct tt_ahead_job *job;
	int rc, fd = -1, comp = 0;

	memset(rf, 0, sizeof(*rf));
	rf->faults = tt_mapguard_faults();
	rf->done_before = atomic_load_explicit(&r->progress_bytes, memory_order_relaxed);
	rf->pkts_before = atomic_load_explicit(&r->progress_pkts, memory_order_relaxed);
	fs->format = -1;
	job = st->ahead ? tt_ahead_job_of(st->ahead, file_id, &fd, &comp, &fs->id_read[0]) : NULL;
	if (job) {
		/* Decompressed by a helper: its identity is taken when the helper opened it. */
		tt_source_open_ahead(&rf->src, job, fd, comp, release_chunk, st);
		st->n_ahead++;
	} else {
		rc = tt_source_open(&rf->src, fs->path, release_chunk, st);
		if (rc < 0) {
			set_error(fs, rf->src.err, 0, false);
			rf->rc = rc;
			return;
		}
		tt_file_id_of(rf->src.fd, &fs->id_read[0]);
	}
	rf->is_open = true;
	fs->comp = rf->src.comp;
	rf->src.stop = r->cfg->stop;
	rc = tt_capture_open(&rf->cap, &rf->src);
	fs->format = rf->cap.format;
	if (rc == -EINTR && is_stop_requested(r)) {
		r->is_interrupted = true;
		fs->is_partial = true;
		rf->rc = 0;
		return;
	}
	if (rc < 0) {
		if (tt_mapguard_faults() == rf->faults || !file_shrank(fs, &rf->src, 0))
			set_capture_error(fs, &rf->cap, &rf->src);
		rf->rc = 0; /* the error is set: nothing more to read */
		return;
	}
	rf->rc = next_frame(fs, rf);
}

/* Send the packet clock to the workers when it moved. It moves in steps of a second,
 * backwards too: a capture whose time jumps back (files concatenated out of order) must
 * not make every flow after the jump look idle. The clock belongs to the set: files that
 * continue each other share it, so a rotated capture gets the TICKs of the unrotated one. */
static void tick(struct rstate *st, uint64_t ts_ns)
{
	if (!st->has_clock || ts_ns >= st->clock + TICK_NS || ts_ns + TICK_NS <= st->clock) {
		struct tt_pkt t = {.ts_ns = ts_ns, .kind = TT_PKT_TICK};

		st->has_clock = true;
		st->clock = ts_ns;
		broadcast(st, &t);
	}
}

/* Handle the frame read ahead and every frame after it, then the end of the file. */
static void read_rest(struct rstate *st, uint32_t file_id, struct rfile *rf)
{
	struct tt_reader *r = st->r;
	struct tt_file_stats *fs = &r->files[file_id];
	uint64_t first_bad_link = 0, n = 0;
	int rc = rf->rc;

	if (!rf->is_open)
		return;
	while (rc == 1) {
		handle_frame(st, fs, &rf->f, rf->off, &first_bad_link);
		tt_source_ahead(&rf->src);
		tick(st, rf->f.ts_ns);
		if (++n % STOP_CHECK == 0) {
			atomic_store_explicit(&r->progress_bytes,
			    rf->done_before +
				(rf->src.comp == TT_COMP_NONE ? rf->src.off : rf->src.n_raw_bytes),
			    memory_order_relaxed);
			atomic_store_explicit(
			    &r->progress_pkts, rf->pkts_before + fs->n_pkts, memory_order_relaxed);
			if (r->cfg->stop && atomic_load(r->cfg->stop)) {
				r->is_interrupted = true;
				fs->is_partial = true;
				break;
			}
		}
		rc = next_frame(fs, rf);
	}
	if (rc == -EINTR && is_stop_requested(r)) {
		r->is_interrupted = true; /* a read on a pipe gave up: not a bad input */
		fs->is_partial = true;
	} else if (rc < 0 && tt_mapguard_faults() != rf->faults &&
		   file_shrank(fs, &rf->src, rf->off)) {
		/* zeros read from past the new end made the parser fail */
	} else if (rc < 0) {
		set_capture_error(fs, &rf->cap, &rf->src);
		fs->is_partial = true;
	}
	if (fs->n_bad_link) {
		char msg[200];

		snprintf(msg, sizeof(msg),
		    "link type %u (%s) is not decoded: %" PRIu64 " frames counted, not analysed",
		    fs->linktypes[0], tt_linktype_name(fs->linktypes[0]), fs->n_bad_link);
		for (uint32_t i = 0; i < fs->n_linktypes; i++)
			if (!tt_linktype_known(fs->linktypes[i]))
				snprintf(msg, sizeof(msg),
				    "link type %u (%s) is not decoded: %" PRIu64
				    " frames counted, not analysed",
				    fs->linktypes[i], tt_linktype_name(fs->linktypes[i]),
				    fs->n_bad_link);
		set_error(fs, msg, first_bad_link, rf->src.comp > TT_COMP_PLAIN);
		fs->is_partial = true;
	}
	fs->n_caplen_over_snaplen = rf->cap.n_caplen_over_snaplen;
}

static void close_file(struct tt_file_stats *fs, struct rfile *rf)
{
	if (!rf->is_open)
		return;
	tt_file_id_of(rf->src.fd, &fs->id_read[1]);
	fs->has_sub_us_ts = rf->cap.has_sub_us_ts;
	tt_capture_close(&rf->cap);
	tt_source_close(&rf->src);
	rf->is_open = false;
}

/* ---- capture sets -------------------------------------------------------------------
 * Files that continue each other (tcpdump -G/-C rotation, editcap splits) are read as one
 * timeline, a set: flows, TLS inspections, idle expiry and the packet clock carry over
 * from one file to the next, and the workers end the set's flows only at its end. A file
 * continues the previous file with packets when chaining is on, the link types of the
 * interfaces seen by its first frame are those of the previous file's, its first packet
 * is not earlier than the previous file's last (an earlier one means another sensor's
 * overlapping capture), and the gap between them is at most the TCP idle timeout (a longer
 * gap would end every flow anyway). A file without packets (empty, or unreadable) joins no
 * set and does not break a chain: the files around it are judged on their own packets. */

struct prev_file {
	uint64_t last_ts_ns;
	uint32_t linktypes[TT_MAX_LINKTYPES];
	uint32_t n_linktypes;
};

/* The link types of the interfaces known at rf's first frame (pcap: the one). */
static uint32_t first_linktypes(const struct rfile *rf, uint32_t *lt)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < rf->cap.n_ifaces && n < TT_MAX_LINKTYPES; i++)
		lt[n++] = rf->cap.ifaces[i].linktype;
	if (n == 0)
		lt[n++] = rf->f.linktype;
	return n;
}

/* Does the file of rf, whose first frame is read, continue prev? Sets fs->chain. */
static bool decide_chain(const struct tt_reader *r, const struct prev_file *prev, bool has_prev,
    const struct rfile *rf, struct tt_file_stats *fs)
{
	uint32_t lt[TT_MAX_LINKTYPES], n_lt = first_linktypes(rf, lt);
	uint64_t ts = rf->f.ts_ns;

	fs->chain_ns = 0;
	if (!has_prev) {
		fs->chain = TT_CHAIN_FIRST;
	} else if (r->cfg->is_no_chain) {
		fs->chain = TT_CHAIN_DISABLED;
	} else if (n_lt != prev->n_linktypes ||
		   memcmp(lt, prev->linktypes, n_lt * sizeof(*lt)) != 0) {
		fs->chain = TT_CHAIN_LINKTYPE;
		fs->chain_linktype[0] = lt[0];
		fs->chain_linktype[1] = prev->linktypes[0];
		for (uint32_t i = 0; i < n_lt && i < prev->n_linktypes; i++)
			if (lt[i] != prev->linktypes[i]) {
				fs->chain_linktype[0] = lt[i];
				fs->chain_linktype[1] = prev->linktypes[i];
				break;
			}
	} else if (ts < prev->last_ts_ns) {
		fs->chain = TT_CHAIN_OVERLAP;
		fs->chain_ns = prev->last_ts_ns - ts;
	} else if (ts - prev->last_ts_ns > r->cfg->tcp_timeout_ns) {
		fs->chain = TT_CHAIN_GAP;
		fs->chain_ns = ts - prev->last_ts_ns;
	} else {
		fs->chain = TT_CHAIN_YES;
		fs->chain_ns = ts - prev->last_ts_ns;
	}
	return fs->chain == TT_CHAIN_YES;
}

/* The set ends: the workers end its flows. Everything the aggregator reads of the set's
 * files is written before: the ring's release store publishes it along with the marker. */
static void end_set(struct rstate *st, uint32_t set_id)
{
	/* The workers end the flows of a set cut short by a stop request as TT_END_STOP:
	 * only this thread reads cfg->stop, so they learn it here. */
	struct tt_pkt end = {
	    .kind = TT_PKT_FILE_END, .hash = set_id, .proto = st->r->is_interrupted ? 1 : 0};

	broadcast(st, &end);
	for (unsigned w = 0; w < st->r->n_workers; w++)
		flush(st, w);
}

/* ---- shards -------------------------------------------------------------------------
 * A shard (--shard I/N) reads the sets that start in its range of files, each one whole,
 * so every set is read by exactly one shard, with the same chain decisions, packet clock
 * and flows as in a run over all files: the merge then only concatenates. To know whether
 * the first file of its range continues a set begun before, a shard reads the last file
 * with packets before the range (frame headers only: nothing is sent to the workers), and
 * the files of that earlier set inside its range the same way. Those files, and the files
 * past the range that it does not read, are another shard's: their stats are cleared. */

/* Read the rest of rf's frames without handling them: the file's last timestamp, as
 * handle_frame() would have made it. */
static uint64_t scan_rest(struct tt_file_stats *fs, struct rfile *rf)
{
	uint64_t last = 0;
	int rc = rf->rc;

	while (rc == 1) {
		if (rf->f.ts_ns > last)
			last = rf->f.ts_ns;
		rc = next_frame(fs, rf);
	}
	return last;
}

/* A file another shard reads: close it and forget what was learnt of it here. */
static void forget_file(struct tt_file_stats *fs, struct rfile *rf)
{
	char *path = fs->path;
	uint64_t size = fs->size_bytes;

	close_file(fs, rf);
	free(fs->error);
	memset(fs, 0, sizeof(*fs));
	fs->path = path;
	fs->size_bytes = size;
	fs->format = -1;
	fs->set_id = TT_NO_SET;
}

/* The last file with packets before file lo, into *prev: true when there is one. */
static bool find_prev(struct rstate *st, size_t lo, struct prev_file *prev)
{
	struct tt_reader *r = st->r;
	struct rfile rf;

	for (size_t k = lo; k-- > 0;) {
		struct tt_file_stats *fs = &r->files[k];
		bool has_pkts;

		open_file(st, (uint32_t)k, &rf);
		has_pkts = rf.rc == 1;
		/* With --no-chain only whether there is one matters (a set's first file with
		 * packets is "first", the others "not chained"): no need to read it all. */
		if (has_pkts && !r->cfg->is_no_chain) {
			prev->n_linktypes = first_linktypes(&rf, prev->linktypes);
			prev->last_ts_ns = scan_rest(fs, &rf);
		}
		forget_file(fs, &rf);
		if (has_pkts)
			return true;
	}
	return false;
}

void *tt_reader_main(void *arg)
{
	struct tt_reader *r = arg;
	struct rstate st = {.r = r};
	struct prev_file prev = {0};
	struct rfile rf;
	uint32_t set_id = 0;
	bool has_set = false, has_prev = false, is_skipping = false;
	uint64_t done = 0;
	size_t first = 0;

	st.batch = calloc((size_t)r->n_workers * BATCH, sizeof(*st.batch));
	st.n_batch = calloc(r->n_workers, sizeof(*st.n_batch));
	st.frags = calloc(TT_FRAG_SLOTS, sizeof(*st.frags));
	if (!st.batch || !st.n_batch || !st.frags) {
		struct tt_pkt end = {.kind = TT_PKT_STREAM_END};

		r->rc = -ENOMEM;
		tt_log(TT_LOG_ERROR, "reader: out of memory");
		for (unsigned w = 0; w < r->n_workers; w++)
			tt_ring_push_all(&r->rings[w], &end, 1);
		free(st.batch);
		free(st.n_batch);
		free(st.frags);
		atomic_store(&r->is_done, true);
		return NULL;
	}
	if (r->is_shard) {
		first = r->own_lo;
		is_skipping = true;
		/* Before the helpers start: it may open files before the range, backwards. */
		has_prev = find_prev(&st, r->own_lo, &prev);
	}
	st.ahead = tt_ahead_new(r->files, first, r->n_files, tt_ahead_threads(), r->cfg->stop);
	for (size_t i = first; i < r->n_files; i++) {
		struct tt_file_stats *fs = &r->files[i];
		struct tt_pkt next = {.kind = TT_PKT_FILE_NEXT, .hash = (uint32_t)i};

		if (r->is_interrupted || (is_skipping && i >= r->own_hi))
			break; /* a shard: no set starts in its range */
		fs->set_id = TT_NO_SET;
		open_file(&st, (uint32_t)i, &rf);
		if (rf.rc == 1) {
			bool is_chained = decide_chain(r, &prev, has_prev, &rf, fs);

			if (r->is_shard && !is_chained && i >= r->own_hi) {
				forget_file(fs, &rf); /* the next shard's set */
				break;
			}
			has_prev = true;
			prev.n_linktypes = first_linktypes(&rf, prev.linktypes);
			if (is_skipping && is_chained) { /* a set begun before the range */
				prev.last_ts_ns = scan_rest(fs, &rf);
				forget_file(fs, &rf);
				continue;
			}
			is_skipping = false;
			if (is_chained) {
				next.proto = 0;
			} else {
				if (has_set)
					end_set(&st, set_id);
				set_id = (uint32_t)i;
				has_set = true;
				next.proto = 1;
				memset(st.frags, 0, TT_FRAG_SLOTS * sizeof(*st.frags));
				st.has_clock = false;
			}
			fs->set_id = set_id;
			broadcast(&st, &next);
		} else if (r->is_shard && i >= r->own_hi) {
			forget_file(fs, &rf); /* no packets: the shard of its range reports it */
			continue;
		} else {
			fs->chain = TT_CHAIN_NO_PACKETS;
		}
		if (r->is_owned)
			r->is_owned[i] = true;
		read_rest(&st, (uint32_t)i, &rf);
		close_file(fs, &rf);
		if (fs->set_id != TT_NO_SET)
			prev.last_ts_ns = fs->last_ts_ns;
		fs->is_read = !r->is_interrupted || fs->n_pkts > 0;
		done += fs->size_bytes;
		atomic_store_explicit(&r->progress_bytes, done, memory_order_relaxed);
		atomic_store_explicit(
		    &r->progress_pkts, rf.pkts_before + fs->n_pkts, memory_order_relaxed);
		atomic_store_explicit(&r->progress_files, (uint32_t)(i + 1), memory_order_relaxed);
	}
	if (has_set)
		end_set(&st, set_id);
	{
		struct tt_pkt end = {.kind = TT_PKT_STREAM_END};

		broadcast(&st, &end);
		for (unsigned w = 0; w < r->n_workers; w++)
			flush(&st, w);
	}
	if (st.ahead)
		tt_log(TT_LOG_DEBUG, "reader: %zu of %zu files decompressed ahead", st.n_ahead,
		    r->n_files);
	tt_ahead_free(st.ahead);
	for (unsigned i = 0; i < st.n_filters; i++)
		if (st.filters[i].is_ok)
			pcap_freecode(&st.filters[i].prog);
	free(st.batch);
	free(st.n_batch);
	free(st.frags);
	tt_log(TT_LOG_DEBUG, "reader: done at %.3f s", (double)tt_now_ns() / 1e9);
	atomic_store(&r->is_done, true);
	return NULL;
}
