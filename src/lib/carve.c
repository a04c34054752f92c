/* The carve (--write-pcap FILE): after an analysis has committed its outputs, every packet
 * of the flows with a verdict is written to one pcap, in time order, with its original
 * bytes (caplen and wire length) and timestamp, so the evidence opens in Wireshark.
 *
 * Which flows: those of OUT/flows.msgpack whose verdict is not none (a verdict needs the
 * score --min-score asks for; tor-exit-side, a relay-data fact, is a verdict too). A flow
 * is keyed by its direction-independent 5-tuple, its [first_ts, last_ts] and the files of
 * its first and last packet, so a later flow on the same 5-tuple (port reuse, an idle
 * timeout) is not carved with it. Two flows on one 5-tuple that share a boundary
 * timestamp would both claim the packet at it; the workers' flow ends make that a corner
 * case (a new SYN in the same nanosecond as the old flow's last packet).
 *
 * Which packets: the inputs are read again with the reader's byte sources, capture
 * parsers and decoder, and each frame is judged as the reader judges it: the same BPF
 * filter per link type, TCP and UDP only, every level of a UDP tunnel (the frame is
 * carved once when any level belongs to a selected flow), and later IP fragments through
 * the reader's fragment table (tt_frag_*): a later fragment is carved when the first
 * fragment of its datagram came before it in the same set of files, as the analysis
 * counted it into the flow; fragments before their first one are in no flow and are not
 * carved. So a flow's carved packets are the pkts_fwd + pkts_rev its record counts.
 *
 * Time order: each capture set (files that continue each other, one timeline) is a
 * stream read in file order, from the first file holding a selected flow to the last such
 * file (a set without selected flows is not read at all). Starting late misses a later
 * fragment only when its first fragment lies in a skipped file and yet the analysis
 * counted it into a selected flow: one that began on the same 5-tuple between the two
 * fragments. Streams are merged by
 * timestamp (ties: the set that comes first among the inputs), and a stream is opened
 * only when the merge reaches its earliest timestamp, so captures that do not overlap in
 * time are not open at once. A capture whose own time goes backwards keeps its order.
 * Nothing depends on the number of workers: the same inputs give the same bytes.
 *
 * Output: one pcap holds one link type. FILE gets the link type of the first packet
 * carved; packets of another link type go to FILE.<linktype>.pcap (and the summary line
 * names them). Timestamps have nanosecond precision when a file that is read has units
 * finer than a microsecond (a nanosecond pcap, a pcapng if_tsresol), else microseconds.
 * Each output is written to NAME.tmp and renamed when all are complete and synced; on an
 * error the temporary files are removed, the message names the file and the byte offset,
 * and the analysis's outputs stay as they are. */
#include "lib.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "tortrace/tortrace.h"
#include "tortrace/record.h"

#include "core.h"
#include "reader.h"
#include "aggregate.h"

#define SNAPLEN       262144u /* written into the output's header (Wireshark's maximum) */
#define MAX_FILTERS   8       /* as the reader: beyond it, packets of new link types fail */
#define STOP_CHECK    4096    /* frames between looks at cfg->stop */
#define MAX_OUTPUTS   16      /* link types carved into files of their own */
#define MAX_LINKTYPES TT_MAX_LINKTYPES

/* ---- the selected flows ---------------------------------------------------------------- */

struct sel {
	struct tt_flow_key key;
	uint64_t first_ts_ns, last_ts_ns;
	uint32_t file_id, last_file_id;
};

/* Open addressing over the entries, by the key's XXH3: slots hold entry index + 1 (0 is
 * empty). Flows on the same 5-tuple sit in the same probe run, so a lookup walks the run
 * and checks each entry's time and file range. */
struct selection {
	struct sel *v;
	size_t n, cap;
	uint32_t *slots;
	size_t mask;
};

static int sel_add(struct selection *s, const struct tt_flow_record *r)
{
	struct sel *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct sel *v;

		if (cap > UINT32_MAX - 1)
			return -ENOMEM;
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	tt_flow_key_make(
	    &e->key, r->ip_version, r->proto, r->src_ip, r->dst_ip, r->src_port, r->dst_port);
	e->first_ts_ns = r->first_ts_ns;
	e->last_ts_ns = r->last_ts_ns;
	e->file_id = r->file_id;
	e->last_file_id = r->last_file_id;
	return 0;
}

static int sel_index(struct selection *s)
{
	size_t n = 16;

	while (n < s->n * 2)
		n *= 2;
	s->slots = calloc(n, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	s->mask = n - 1;
	for (size_t i = 0; i < s->n; i++) {
		size_t at = (size_t)tt_flow_key_hash(&s->v[i].key) & s->mask;

		while (s->slots[at])
			at = (at + 1) & s->mask;
		s->slots[at] = (uint32_t)i + 1;
	}
	return 0;
}

static bool sel_has(
    const struct selection *s, const struct tt_flow_key *k, uint64_t ts_ns, uint32_t file_id)
{
	size_t at = (size_t)tt_flow_key_hash(k) & s->mask;

	for (; s->slots[at]; at = (at + 1) & s->mask) {
		const struct sel *e = &s->v[s->slots[at] - 1];

		if (memcmp(&e->key, k, sizeof(*k)) == 0 && ts_ns >= e->first_ts_ns &&
		    ts_ns <= e->last_ts_ns && file_id >= e->file_id && file_id <= e->last_file_id)
			return true;
	}
	return false;
}

struct select_ctx {
	struct selection *sel;
	size_t n_files;
	bool is_bad_file; /* a record names a file the analysis did not have */
};

static int select_flow(const struct tt_flow_record *r, size_t n_files, struct select_ctx *c)
{
	if (r->verdict == TT_VERDICT_NONE)
		return 0;
	if (r->file_id >= c->n_files || r->last_file_id >= c->n_files || n_files != c->n_files) {
		c->is_bad_file = true;
		return -EBADMSG;
	}
	return sel_add(c->sel, r);
}

/* ---- streams: one capture set each --------------------------------------------------- */

struct stream {
	uint32_t set_id;
	uint32_t first_file, last_file; /* the files to read: those of the set in this range */
	uint32_t cur;                   /* the file being read (or next to open) */
	uint64_t lower_ts_ns;           /* before it is opened: its files' earliest timestamp */
	bool is_started, is_file_open;  /* is_started: f holds its next frame (when queued) */
	struct tt_source src;
	struct tt_capture cap;
	struct tt_frame f;          /* the next frame to write */
	uint64_t off;               /* its offset in the file (decompressed) */
	uint64_t faults;            /* tt_mapguard_faults() when last checked */
	struct tt_frag_slot *frags; /* the set's fragment table, made at its first fragment */
};

struct filter {
	uint32_t linktype;
	bool is_ok;
	struct bpf_program prog;
};

struct output {
	uint32_t linktype;
	pcap_t *dead;
	pcap_dumper_t *d;
	char *tmp, *path;
	uint64_t n_pkts, n_bytes; /* packets written, and bytes (header included) */
};

struct carve {
	const struct tt_config *cfg;
	const struct tt_file_stats *files;
	size_t n_files;
	struct selection sel;
	struct stream *streams;
	uint32_t n_streams;
	uint32_t *heap; /* stream indices, a binary min-heap on (timestamp, index) */
	uint32_t n_heap;
	struct filter filters[MAX_FILTERS];
	unsigned n_filters;
	struct output outs[MAX_OUTPUTS];
	unsigned n_outs;
	int precision; /* PCAP_TSTAMP_PRECISION_MICRO or _NANO */
	uint64_t n_frames;
};

static void release_chunk(void *ctx, struct tt_chunk *c)
{
	(void)ctx;
	tt_chunk_put(c);
}

static const struct bpf_program *filter_for(struct carve *cv, uint32_t linktype)
{
	struct filter *f;
	pcap_t *dead;

	for (unsigned i = 0; i < cv->n_filters; i++)
		if (cv->filters[i].linktype == linktype)
			return cv->filters[i].is_ok ? &cv->filters[i].prog : NULL;
	if (cv->n_filters == MAX_FILTERS)
		return NULL;
	f = &cv->filters[cv->n_filters++];
	f->linktype = linktype;
	dead = pcap_open_dead((int)linktype, (int)SNAPLEN);
	f->is_ok = dead && pcap_compile(dead, &f->prog, cv->cfg->bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
	if (dead)
		pcap_close(dead);
	return f->is_ok ? &f->prog : NULL;
}

/* Does one decoded level (rc TT_DEC_FLOW or TT_DEC_FRAG, TCP or UDP) belong to a selected
 * flow? Also notes first fragments, as the reader does, for the fragments after them. */
static int level_matches(struct carve *cv, struct stream *st, const struct tt_decoded *d, int rc,
    uint64_t ts_ns, bool *is_hit)
{
	struct tt_flow_key k;

	if (rc == TT_DEC_FRAG) {
		const struct tt_frag_slot *s;

		if (!st->frags)
			return 0; /* no first fragment seen yet: an orphan, in no flow */
		s = tt_frag_slot(st->frags, d);
		if (!tt_frag_match(s, d))
			return 0;
		tt_flow_key_make(&k, s->ip_version, s->proto, s->src, s->dst, s->sport, s->dport);
	} else {
		tt_flow_key_make(&k, d->ip_version, d->proto, d->src, d->dst, d->sport, d->dport);
		if (d->is_frag_first) {
			if (!st->frags) {
				st->frags = calloc(TT_FRAG_SLOTS, sizeof(*st->frags));
				if (!st->frags)
					return -ENOMEM;
			}
			tt_frag_note(tt_frag_slot(st->frags, d), d, 0);
		}
	}
	if (sel_has(&cv->sel, &k, ts_ns, st->cur))
		*is_hit = true;
	return 0;
}

/* Is the frame st->f part of a selected flow? 1 yes, 0 no, or -ENOMEM. Mirrors the
 * reader's handle_frame(): every level is looked at, even after a hit, so that the
 * fragment table sees what the reader's saw. */
static int frame_matches(struct carve *cv, struct stream *st)
{
	const struct tt_frame *f = &st->f;
	struct tt_decoded d;
	bool is_hit = false;
	int rc;

	if (cv->cfg->bpf) {
		const struct bpf_program *prog = filter_for(cv, f->linktype);
		struct pcap_pkthdr hdr = {.caplen = f->caplen, .len = f->wirelen};

		if (!prog || !pcap_offline_filter(prog, &hdr, f->data))
			return 0;
	}
	rc = tt_decode(f->linktype, f->data, f->caplen, &d);
	if ((rc != TT_DEC_FLOW && rc != TT_DEC_FRAG) || (d.proto != 6 && d.proto != 17))
		return 0;
	if (level_matches(cv, st, &d, rc, f->ts_ns, &is_hit) < 0)
		return -ENOMEM;
	for (int depth = 0; rc == TT_DEC_FLOW && d.proto == 17 && depth < TT_MAX_TUNNELS; depth++) {
		rc = tt_decode_tunnel(&d, &d);
		if (rc < 0)
			break;
		if ((rc == TT_DEC_FLOW || rc == TT_DEC_FRAG) && (d.proto == 6 || d.proto == 17) &&
		    level_matches(cv, st, &d, rc, f->ts_ns, &is_hit) < 0)
			return -ENOMEM;
	}
	return is_hit;
}

static void close_file(struct stream *st)
{
	if (!st->is_file_open)
		return;
	tt_capture_close(&st->cap);
	tt_source_close(&st->src);
	st->is_file_open = false;
}

static bool same_file(const struct tt_file_id *a, const struct tt_file_id *b)
{
	return !a->is_set || !b->is_set ||
	       (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		   a->mtime_ns == b->mtime_ns);
}

/* Open file st->cur. Returns 1 when it is open, 0 when it has nothing to read (the
 * analysis met the same error), or -errno with a message. */
static int open_file(struct carve *cv, struct stream *st)
{
	const struct tt_file_stats *fs = &cv->files[st->cur];
	struct tt_file_id id = {0};
	int rc;

	memset(&st->src, 0, sizeof(st->src));
	memset(&st->cap, 0, sizeof(st->cap));
	rc = tt_source_open(&st->src, fs->path, release_chunk, NULL);
	if (rc < 0) {
		tt_log(
		    TT_LOG_ERROR, "cannot carve: cannot read %s again: %s", fs->path, st->src.err);
		return rc;
	}
	st->is_file_open = true;
	st->faults = tt_mapguard_faults();
	tt_file_id_of(st->src.fd, &id);
	if (!same_file(&id, &fs->id_read[0])) {
		tt_log(TT_LOG_ERROR, "cannot carve: %s changed since it was analysed", fs->path);
		close_file(st);
		return -ESTALE;
	}
	rc = tt_capture_open(&st->cap, &st->src);
	if (rc < 0) {
		close_file(st);
		if (fs->error)
			return 0;
		tt_log(TT_LOG_ERROR, "cannot carve: %s: %s at byte offset %" PRIu64, fs->path,
		    st->cap.err, st->cap.err_off);
		return rc;
	}
	return 1;
}

/* Read st's next frame of a selected flow into st->f. Returns 1, 0 at the stream's end,
 * or -errno with a message (-EINTR: stopped). */
static int stream_next(struct carve *cv, struct stream *st)
{
	for (;;) {
		const struct tt_file_stats *fs;
		int rc;

		if (!st->is_file_open) {
			while (st->cur <= st->last_file && cv->files[st->cur].set_id != st->set_id)
				st->cur++;
			if (st->cur > st->last_file)
				return 0;
			rc = open_file(cv, st);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				st->cur++;
				continue;
			}
		}
		fs = &cv->files[st->cur];
		st->off = st->src.off;
		tt_source_ahead(&st->src); /* as the reader: page tables and cache lines ahead */
		rc = tt_capture_next(&st->cap, &st->src, &st->f);
		if (rc > 0) {
			uint64_t now_bytes = 0;

			/* A file cut under its mapping reads as zero pages (the SIGBUS guard):
			 * the fault count moves when the headers just parsed were in one. A
			 * frame to be written has its last byte touched first (as the reader
			 * does), so that a cut shows now, not as zeros in the output; the
			 * others are not touched beyond their headers (a cache miss each). */
			if (tt_mapguard_faults() == st->faults && (rc = frame_matches(cv, st)) > 0)
				(void)*(volatile const uint8_t *)(st->f.data + st->f.caplen - 1);
			if (tt_mapguard_faults() != st->faults) {
				st->faults = tt_mapguard_faults();
				if (tt_source_shrank(&st->src, &now_bytes)) {
					tt_log(TT_LOG_ERROR,
					    "cannot carve: %s shrank to %" PRIu64
					    " bytes while being read again (record at byte offset "
					    "%" PRIu64 ")",
					    fs->path, now_bytes, st->off);
					close_file(st);
					return -ESTALE;
				}
				rc = frame_matches(cv, st); /* another file's fault: judge it now */
			}
			if (rc < 0) {
				tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
				return rc;
			}
			if (++cv->n_frames % STOP_CHECK == 0 && cv->cfg->stop &&
			    atomic_load_explicit(cv->cfg->stop, memory_order_relaxed)) {
				tt_log(TT_LOG_ERROR, "carve interrupted");
				return -EINTR;
			}
			if (rc > 0)
				return 1;
			continue;
		}
		if (rc < 0 && !fs->error) {
			tt_log(TT_LOG_ERROR,
			    "cannot carve: %s: %s at byte offset %" PRIu64
			    " (the analysis read this file without error)",
			    fs->path, st->cap.err, st->cap.err_off);
			close_file(st);
			return rc;
		}
		/* The end, or the error the analysis met too: it read up to there as well. */
		close_file(st);
		st->cur++;
	}
}

/* ---- the merge ------------------------------------------------------------------------ */

static uint64_t stream_ts(const struct stream *st)
{
	return st->is_started ? st->f.ts_ns : st->lower_ts_ns;
}

static bool heap_less(const struct carve *cv, uint32_t a, uint32_t b)
{
	uint64_t ta = stream_ts(&cv->streams[a]), tb = stream_ts(&cv->streams[b]);

	return ta < tb || (ta == tb && a < b);
}

static void heap_push(struct carve *cv, uint32_t s)
{
	uint32_t i = cv->n_heap++;

	cv->heap[i] = s;
	while (i > 0 && heap_less(cv, cv->heap[i], cv->heap[(i - 1) / 2])) {
		uint32_t p = (i - 1) / 2, t = cv->heap[p];

		cv->heap[p] = cv->heap[i];
		cv->heap[i] = t;
		i = p;
	}
}

static uint32_t heap_pop(struct carve *cv)
{
	uint32_t top = cv->heap[0], i = 0;

	cv->heap[0] = cv->heap[--cv->n_heap];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < cv->n_heap && heap_less(cv, cv->heap[l], cv->heap[m]))
			m = l;
		if (r < cv->n_heap && heap_less(cv, cv->heap[r], cv->heap[m]))
			m = r;
		if (m == i)
			break;
		t = cv->heap[m];
		cv->heap[m] = cv->heap[i];
		cv->heap[i] = t;
		i = m;
	}
	return top;
}

/* One stream per capture set that holds a selected flow, over the files from its first
 * selected flow's first file to the last selected flow's last file. */
static int make_streams(struct carve *cv)
{
	/* first[set], last[set]: the file range of a set's selected flows (first UINT32_MAX:
	 * none). Streams are numbered in input order, the merge's tie-break. */
	uint32_t *first = malloc(cv->n_files * sizeof(*first) + 1);
	uint32_t *last = calloc(cv->n_files + 1, sizeof(*last));
	uint32_t n = 0;

	if (!first || !last) {
		free(first);
		free(last);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cv->n_files; i++)
		first[i] = UINT32_MAX;
	for (size_t i = 0; i < cv->sel.n; i++) {
		const struct sel *e = &cv->sel.v[i];
		uint32_t set = cv->files[e->file_id].set_id;

		if (set == TT_NO_SET || set >= cv->n_files)
			continue; /* cannot be: a flow's first file has packets */
		n += first[set] == UINT32_MAX;
		if (e->file_id < first[set])
			first[set] = e->file_id;
		if (e->last_file_id > last[set])
			last[set] = e->last_file_id;
	}
	cv->streams = calloc(n ? n : 1, sizeof(*cv->streams));
	cv->heap = calloc(n ? n : 1, sizeof(*cv->heap));
	if (!cv->streams || !cv->heap) {
		free(first);
		free(last);
		return -ENOMEM;
	}
	for (uint32_t set = 0; set < cv->n_files; set++) {
		struct stream *st;

		if (first[set] == UINT32_MAX)
			continue;
		st = &cv->streams[cv->n_streams++];
		st->set_id = set;
		st->first_file = first[set];
		st->last_file = last[set];
	}
	free(first);
	free(last);
	cv->precision = PCAP_TSTAMP_PRECISION_MICRO;
	for (uint32_t i = 0; i < cv->n_streams; i++) {
		struct stream *st = &cv->streams[i];

		st->lower_ts_ns = UINT64_MAX;
		st->cur = st->first_file;
		for (uint32_t f = st->first_file; f <= st->last_file; f++) {
			const struct tt_file_stats *fs = &cv->files[f];

			if (fs->set_id != st->set_id)
				continue;
			if (fs->first_ts_ns < st->lower_ts_ns)
				st->lower_ts_ns = fs->first_ts_ns;
			if (fs->has_sub_us_ts)
				cv->precision = PCAP_TSTAMP_PRECISION_NANO;
		}
		heap_push(cv, i);
	}
	return 0;
}

/* ---- the outputs ----------------------------------------------------------------------- */

static char *str_cat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s", a, b);
	return p;
}

/* The DLT_ value libpcap takes for a file's LINKTYPE_ value: they differ for a few old
 * types (pcap-linktype(7)), e.g. LINKTYPE_RAW 101 is DLT_RAW 12 on Linux, and libpcap
 * writes the LINKTYPE_ back into the file header. */
static int dlt_of(uint32_t linktype)
{
	switch (linktype) {
	case 100:
		return DLT_ATM_RFC1483;
	case 101:
		return DLT_RAW;
	case 102:
		return DLT_SLIP_BSDOS;
	case 103:
		return DLT_PPP_BSDOS;
	case 246:
		return DLT_PFSYNC;
	default:
		return (int)linktype;
	}
}

/* The output for linktype, created at its first packet: FILE for the first link type,
 * FILE.<linktype>.pcap for the others. NULL with a message on error. */
static struct output *output_for(struct carve *cv, uint32_t linktype)
{
	struct output *o;
	char suffix[32];

	for (unsigned i = 0; i < cv->n_outs; i++)
		if (cv->outs[i].linktype == linktype)
			return &cv->outs[i];
	if (cv->n_outs == MAX_OUTPUTS) {
		tt_log(
		    TT_LOG_ERROR, "cannot carve: packets of more than %d link types", MAX_OUTPUTS);
		return NULL;
	}
	o = &cv->outs[cv->n_outs++];
	o->linktype = linktype;
	if (cv->n_outs == 1)
		o->path = strdup(cv->cfg->write_pcap);
	else {
		snprintf(suffix, sizeof(suffix), ".%" PRIu32 ".pcap", linktype);
		o->path = str_cat(cv->cfg->write_pcap, suffix);
	}
	o->tmp = o->path ? str_cat(o->path, ".tmp") : NULL;
	o->dead = pcap_open_dead_with_tstamp_precision(
	    dlt_of(linktype), (int)SNAPLEN, (u_int)cv->precision);
	if (!o->path || !o->tmp || !o->dead) {
		tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
		return NULL;
	}
	o->d = pcap_dump_open(o->dead, o->tmp);
	if (!o->d) {
		tt_log(TT_LOG_ERROR, "cannot write %s: %s", o->tmp, pcap_geterr(o->dead));
		return NULL;
	}
	o->n_bytes = 24;
	return o;
}

/* Append frame f to its output. 0, or -errno with a message naming the file and the byte
 * offset of the record being written. */
static int output_write(struct carve *cv, const struct tt_frame *f)
{
	struct output *o = output_for(cv, f->linktype);
	struct pcap_pkthdr hdr;
	uint64_t frac = f->ts_ns % 1000000000u;

	if (!o)
		return -EIO;
	if (f->ts_ns / 1000000000u > UINT32_MAX) {
		tt_log(TT_LOG_ERROR,
		    "cannot carve: a packet at %" PRIu64 " s (after 2106) does not fit in a pcap",
		    f->ts_ns / 1000000000u);
		return -ERANGE;
	}
	hdr.ts.tv_sec = (time_t)(f->ts_ns / 1000000000u);
	hdr.ts.tv_usec =
	    (suseconds_t)(cv->precision == PCAP_TSTAMP_PRECISION_NANO ? frac : frac / 1000);
	hdr.caplen = f->caplen;
	hdr.len = f->wirelen;
	errno = 0;
	pcap_dump((u_char *)o->d, &hdr, f->data);
	if (ferror(pcap_dump_file(o->d))) {
		int err = errno ? errno : EIO;

		tt_log(TT_LOG_ERROR,
		    "cannot write %s: %s (writing the packet at byte offset %" PRIu64 ")", o->tmp,
		    strerror(err), o->n_bytes);
		return -err;
	}
	o->n_pkts++;
	o->n_bytes += 16 + (uint64_t)f->caplen;
	return 0;
}

/* Flush, sync and close every output; 0 or -errno with a message. */
static int outputs_finish(struct carve *cv)
{
	int rc = 0;

	for (unsigned i = 0; i < cv->n_outs; i++) {
		struct output *o = &cv->outs[i];
		FILE *f;

		if (!o->d)
			continue;
		f = pcap_dump_file(o->d);
		errno = 0;
		if (rc == 0 && (pcap_dump_flush(o->d) != 0 || ferror(f) || fsync(fileno(f)) != 0)) {
			rc = errno ? -errno : -EIO;
			tt_log(TT_LOG_ERROR, "cannot write %s: %s (at byte offset %" PRIu64 ")",
			    o->tmp, strerror(-rc), o->n_bytes);
		}
		pcap_dump_close(o->d);
		o->d = NULL;
	}
	return rc;
}

/* Put the complete outputs in place, FILE last: when FILE is there, so are the others. */
static int outputs_commit(struct carve *cv)
{
	for (unsigned n = 0; n < cv->n_outs; n++) {
		struct output *o = &cv->outs[(n + 1) % cv->n_outs];

		if (rename(o->tmp, o->path) != 0) {
			int rc = -errno;

			tt_log(TT_LOG_ERROR, "cannot rename %s to %s: %s", o->tmp, o->path,
			    strerror(errno));
			return rc;
		}
	}
	return 0;
}

static void outputs_free(struct carve *cv, bool is_failed)
{
	for (unsigned i = 0; i < cv->n_outs; i++) {
		struct output *o = &cv->outs[i];

		if (o->d)
			pcap_dump_close(o->d);
		if (o->dead)
			pcap_close(o->dead);
		if (is_failed && o->tmp)
			unlink(o->tmp);
		free(o->tmp);
		free(o->path);
	}
}

static void sync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd;

	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* ---- the carve --------------------------------------------------------------------------- */

static int read_selection(struct carve *cv, const char *flows_path)
{
	struct select_ctx sc = {.sel = &cv->sel, .n_files = cv->n_files};
	struct tt_flows *it = NULL;
	const struct tt_flow_record *r;
	int rc = tt_flows_open(flows_path, &it);

	if (!it) {
		tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
		return -ENOMEM;
	}
	if (rc == 0)
		while ((rc = tt_flows_next(it, &r)) > 0 &&
		       (rc = select_flow(r, tt_flows_n_files(it), &sc)) == 0)
			;
	if (rc < 0 && tt_flows_error(it))
		tt_log(TT_LOG_ERROR, "cannot carve: %s", tt_flows_error(it));
	tt_flows_close(it);
	if (sc.is_bad_file)
		tt_log(TT_LOG_ERROR, "cannot carve: %s names files the analysis did not read",
		    flows_path);
	else if (rc == -ENOMEM)
		tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
	if (rc < 0)
		return rc;
	return sel_index(&cv->sel);
}

/* With nothing to carve, FILE is still written (a pcap without packets), so that a script
 * finds the file of this run; its link type is the first input's. */
static int write_empty(struct carve *cv)
{
	uint32_t linktype = 1; /* DLT_EN10MB */

	for (size_t i = 0; i < cv->n_files; i++)
		if (cv->files[i].n_linktypes) {
			linktype = cv->files[i].linktypes[0];
			break;
		}
	return output_for(cv, linktype) ? 0 : -EIO;
}

static int run_merge(struct carve *cv)
{
	while (cv->n_heap) {
		uint32_t i = heap_pop(cv);
		struct stream *st = &cv->streams[i];
		int rc;

		if (st->is_started) {
			rc = output_write(cv, &st->f);
			if (rc < 0)
				return rc;
		}
		st->is_started = true;
		rc = stream_next(cv, st);
		if (rc < 0)
			return rc;
		if (rc > 0)
			heap_push(cv, i);
	}
	return 0;
}

int tt_carve(const struct tt_config *cfg, const char *flows_path, const struct tt_file_stats *files,
    size_t n_files)
{
	struct carve *cv = calloc(1, sizeof(*cv));
	uint64_t t0 = tt_now_ns();
	bool is_guarded;
	int rc;

	if (!cv) {
		tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
		return -ENOMEM;
	}
	cv->cfg = cfg;
	cv->files = files;
	cv->n_files = n_files;
	is_guarded = tt_mapguard_install() == 0;
	rc = read_selection(cv, flows_path);
	if (rc == 0 && (rc = make_streams(cv)) < 0)
		tt_log(TT_LOG_ERROR, "cannot carve: out of memory");
	if (rc == 0)
		rc = run_merge(cv);
	if (rc == 0 && cv->n_outs == 0)
		rc = write_empty(cv);
	if (rc == 0)
		rc = outputs_finish(cv);
	if (rc == 0)
		rc = outputs_commit(cv);
	if (rc == 0) {
		sync_parent(cfg->write_pcap);
		if (!cfg->is_quiet) {
			char more[256] = "";
			size_t len = 0;

			for (unsigned i = 1; i < cv->n_outs && len < sizeof(more) - 1; i++)
				len += (size_t)snprintf(more + len, sizeof(more) - len,
				    "%s%" PRIu64 " of link type %" PRIu32 " to %s",
				    i == 1 ? " (and " : ", ", cv->outs[i].n_pkts,
				    cv->outs[i].linktype, cv->outs[i].path);
			if (cv->n_outs > 1 && len < sizeof(more) - 1)
				snprintf(more + len, sizeof(more) - len, ")");
			tt_log(TT_LOG_INFO,
			    "carved %" PRIu64 " packets of %zu flows to %s%s, %.2f s",
			    cv->outs[0].n_pkts, cv->sel.n, cv->outs[0].path, more,
			    (double)(tt_now_ns() - t0) / 1e9);
		}
	} else {
		tt_log(TT_LOG_ERROR, "%s was not written; the analysis's outputs are kept",
		    cfg->write_pcap);
	}
	for (uint32_t i = 0; i < cv->n_streams; i++) {
		close_file(&cv->streams[i]);
		free(cv->streams[i].frags);
	}
	for (unsigned i = 0; i < cv->n_filters; i++)
		if (cv->filters[i].is_ok)
			pcap_freecode(&cv->filters[i].prog);
	outputs_free(cv, rc < 0);
	if (is_guarded)
		tt_mapguard_uninstall();
	free(cv->streams);
	free(cv->heap);
	free(cv->sel.v);
	free(cv->sel.slots);
	free(cv);
	return rc;
}

/* ---- before the analysis ------------------------------------------------------------------ */

int tt_carve_check(const struct tt_config *cfg, char *const *paths, size_t n_paths)
{
	const char *out = cfg->write_pcap;
	struct stat os;
	bool has_out = stat(out, &os) == 0;
	char *tmp;
	int fd;

	if (has_out && S_ISDIR(os.st_mode)) {
		tt_log(TT_LOG_ERROR, "--write-pcap %s: is a folder", out);
		return -EISDIR;
	}
	for (size_t i = 0; i < n_paths; i++) {
		struct stat st;
		bool is_there = strcmp(paths[i], "-") != 0 && stat(paths[i], &st) == 0;

		if (strcmp(paths[i], "-") == 0 || (is_there && !S_ISREG(st.st_mode))) {
			tt_log(TT_LOG_ERROR,
			    "--write-pcap reads the inputs again after the analysis: %s is not "
			    "a regular file (standard input and pipes cannot be read twice)",
			    strcmp(paths[i], "-") == 0 ? "standard input" : paths[i]);
			return -EINVAL;
		}
		if (has_out && is_there && st.st_dev == os.st_dev && st.st_ino == os.st_ino) {
			tt_log(TT_LOG_ERROR, "--write-pcap %s: is one of the inputs", out);
			return -EINVAL;
		}
	}
	tmp = str_cat(out, ".tmp");
	if (!tmp)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		int rc = -errno;

		tt_log(TT_LOG_ERROR, "cannot write --write-pcap %s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	close(fd);
	unlink(tmp);
	free(tmp);
	return 0;
}
