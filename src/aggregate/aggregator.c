/* The aggregator thread: polls every worker's ring in turn, decodes record blocks, and
 * holds each set's records until every worker has said it is done with that set (a set is
 * one file, or several files that continue each other, read as one timeline: see the
 * reader). Then it sorts them (set, first timestamp, 5-tuple) and appends them to
 * flows.msgpack, so the output does not depend on how flows were spread over workers.
 * Sets complete in input order because each worker handles them in that order. Each flow
 * is counted in the file where it started. Memory is bounded: when the records held
 * exceed the sort budget, the set's records so far are sorted and spilled to an unlinked
 * temporary file in OUT, and the set's runs are merged when it completes (an external
 * merge sort, spill.c), so a single capture with tens of millions of flows needs no more
 * memory than a small one.
 *
 * Any failed write (flows.msgpack or a run) sets a->rc to its -errno and the aggregator
 * writes nothing more; main then keeps the previous outputs. */
#include "aggregate.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sched.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "tortrace/tortrace.h"

#define BURST 16

struct pending {
	struct tt_rec_ref *v; /* the set's records held in memory */
	size_t n, cap;
	uintptr_t *bufs; /* the blocks they point into; bit 0 set: a mapped block */
	size_t n_bufs, cap_bufs;
	size_t n_bytes;         /* held for this file: blocks and refs */
	struct tt_spill *spill; /* sorted runs spilled to disk, or NULL */
};

struct astate {
	struct tt_aggregator *a;
	struct pending *files; /* per set id (the id of the set's first file) */
	unsigned *n_done;      /* FILE_DONE count per set id */
	size_t next_file;      /* the first file not yet written */
	uint8_t *out;          /* records are copied here, then written in large pieces */
	size_t n_out;
	size_t n_held, budget; /* bytes held over all files; the sort budget */
	size_t last_file;      /* the highest set id with records held */
	bool *is_worker_done;  /* per worker: its WORKER_DONE came (no blocks made for it) */
};

#define OUT_BYTES (1u << 20)

static int fwrite_cb(void *data, const char *buf, size_t len)
{
	return fwrite(buf, 1, len, data) == len ? 0 : -1;
}

int tt_flows_write_header(FILE *f, char *const *paths, size_t n_paths)
{
	msgpack_packer pk;
	int rc = 0;

	msgpack_packer_init(&pk, f, fwrite_cb);
	rc |= msgpack_pack_map(&pk, 4);
	rc |= msgpack_pack_str_with_body(&pk, "type", 4);
	rc |= msgpack_pack_str_with_body(&pk, "tortrace.flows", 14);
	rc |= msgpack_pack_str_with_body(&pk, "schema", 6);
	rc |= msgpack_pack_uint32(&pk, TT_RECORD_SCHEMA);
	rc |= msgpack_pack_str_with_body(&pk, "version", 7);
	rc |= msgpack_pack_str_with_body(&pk, TT_VERSION, strlen(TT_VERSION));
	rc |= msgpack_pack_str_with_body(&pk, "files", 5);
	rc |= msgpack_pack_array(&pk, n_paths);
	for (size_t i = 0; i < n_paths; i++)
		rc |= msgpack_pack_str_with_body(&pk, paths[i], strlen(paths[i]));
	return rc ? -EIO : 0;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
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

/* Take ownership of a block's arrays and file its records under their file. */
static int add_block(struct astate *st, const struct tt_rec_msg *m)
{
	struct pending *p;

	TT_BUG_ON(m->file_id >= st->a->n_files);
	p = &st->files[m->file_id];
	if (grow((void **)&p->v, &p->cap, p->n + m->n_records, sizeof(*p->v)) < 0 ||
	    grow((void **)&p->bufs, &p->cap_bufs, p->n_bufs + 1, sizeof(*p->bufs)) < 0) {
		tt_rec_buf_free(m->buf, m->is_mapped);
		free(m->refs);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->n_records; i++) {
		struct tt_rec_ref *r = &p->v[p->n++];

		*r = m->refs[i];
		/* Our own workers wrote these: a bad offset is a bug, not bad input. */
		TT_BUG_ON((uint64_t)r->off + r->len > m->len);
		r->data = m->buf + r->off;
	}
	p->bufs[p->n_bufs++] = (uintptr_t)m->buf | (m->is_mapped ? 1u : 0u);
	free(m->refs);
	p->n_bytes += m->len + (size_t)m->n_records * sizeof(*p->v);
	if (m->file_id > st->last_file)
		st->last_file = m->file_id;
	st->n_held += m->len + (size_t)m->n_records * sizeof(*p->v);
	return 0;
}

static int flush_out(struct astate *st)
{
	struct tt_aggregator *a = st->a;
	int rc = 0;

	if (st->n_out && a->flows_out && fwrite(st->out, 1, st->n_out, a->flows_out) != st->n_out) {
		rc = errno ? -errno : -EIO;
		if (a->rc == 0)
			a->rc = rc;
	}
	a->n_out_bytes += st->n_out;
	st->n_out = 0;
	return rc;
}

/* Drop the records held in memory (not the runs). */
static void free_held(struct astate *st, struct pending *p)
{
	for (size_t i = 0; i < p->n_bufs; i++)
		tt_rec_buf_free((uint8_t *)(p->bufs[i] & ~(uintptr_t)1), p->bufs[i] & 1);
	p->n_bufs = 0;
	p->n = 0;
	st->n_held -= p->n_bytes;
	p->n_bytes = 0;
}

static void free_pending(struct astate *st, struct pending *p)
{
	free_held(st, p);
	tt_spill_free(p->spill);
	free(p->bufs);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Sort the file's records held in memory and write them out as one run. */
static int spill(struct astate *st, struct pending *p)
{
	uint32_t *order;
	int rc;

	if (p->n == 0)
		return 0;
	if (!p->spill && !(p->spill = tt_spill_new(st->a->cfg->out_dir)))
		return -ENOMEM;
	rc = tt_rec_ref_sort(p->v, p->n, &order);
	if (rc < 0)
		return rc;
	rc = tt_spill_run(p->spill, p->v, order, p->n);
	free(order);
	if (rc < 0)
		return rc;
	tt_log(TT_LOG_DEBUG, "aggregator: spilled %zu records (%zu bytes)", p->n, p->n_bytes);
	free_held(st, p);
	return 0;
}

/* The file holding the most records (files in flight are few: next_file..last_file). */
static struct pending *largest(struct astate *st)
{
	struct pending *best = &st->files[st->next_file];

	for (size_t i = st->next_file + 1; i <= st->last_file && i < st->a->n_files; i++)
		if (st->files[i].n_bytes > best->n_bytes)
			best = &st->files[i];
	return best;
}

struct emit_ctx {
	struct astate *st;
	size_t set_id;
};

/* The file where the record's flow started: the set id plus the ref's delta, or, when the
 * delta did not fit, the record's own "file" key. */
static struct tt_file_stats *start_file(
    struct astate *st, size_t set_id, const struct tt_rec_ref *r)
{
	size_t id = set_id + r->file_delta;

	if (r->file_delta == 0xffffu) {
		msgpack_unpacked u;
		size_t off = 0;
		struct tt_flow_record rec;
		struct tt_flow_tls tls;
		struct tt_flow_relay relay;

		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, (const char *)r->data, r->len, &off) ==
			MSGPACK_UNPACK_SUCCESS &&
		    tt_record_unpack(&u.data, &rec, &tls, &relay) == 0)
			id = rec.file_id;
		msgpack_unpacked_destroy(&u);
	}
	TT_BUG_ON(id >= st->a->n_files);
	return &st->a->files[id];
}

/* A flow with a verdict or a candidate, to the findings (hosts, relays). */
static int add_finding(struct tt_aggregator *a, const struct tt_rec_ref *ref)
{
	msgpack_unpacked u;
	size_t off = 0;
	struct tt_flow_record rec;
	struct tt_flow_tls tls;
	struct tt_flow_relay relay;
	int rc = 0;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)ref->data, ref->len, &off) ==
		MSGPACK_UNPACK_SUCCESS &&
	    tt_record_unpack(&u.data, &rec, &tls, &relay) == 0)
		rc = tt_findings_add(a->findings, &rec);
	msgpack_unpacked_destroy(&u);
	return rc;
}

int tt_aggregator_account(struct tt_aggregator *a, const struct tt_rec_ref *r)
{
	int rc;

	if (r->verdict != TT_VERDICT_NONE) {
		a->n_tor++;
		if (a->n_tor_kept < TT_REPORT_TOR_MAX &&
		    grow((void **)&a->tor_buf, &a->tor_cap, a->tor_len + r->len, 1) == 0) {
			memcpy(a->tor_buf + a->tor_len, r->data, r->len);
			a->tor_len += r->len;
			a->n_tor_kept++;
		}
	}
	if ((r->verdict != TT_VERDICT_NONE || r->candidate != TT_VERDICT_NONE) && a->findings &&
	    (rc = add_finding(a, r)) < 0)
		return rc;
	if (r->candidate != TT_VERDICT_NONE) {
		a->n_cand++;
		if (a->n_cand_kept < TT_REPORT_CAND_MAX &&
		    grow((void **)&a->cand_buf, &a->cand_cap, a->cand_len + r->len, 1) == 0) {
			memcpy(a->cand_buf + a->cand_len, r->data, r->len);
			a->cand_len += r->len;
			a->n_cand_kept++;
		}
	}
	a->n_flows++;
	if (r->proto == 6)
		a->n_flows_tcp++;
	else
		a->n_flows_udp++;
	return 0;
}

static int emit_record(void *ctx, const struct tt_rec_ref *r)
{
	struct astate *st = ((struct emit_ctx *)ctx)->st;
	struct tt_file_stats *fs = start_file(st, ((struct emit_ctx *)ctx)->set_id, r);
	int rc;

	if (st->n_out + r->len > OUT_BYTES && (rc = flush_out(st)) < 0)
		return rc;
	if (st->a->is_noting_flagged &&
	    (r->verdict != TT_VERDICT_NONE || r->candidate != TT_VERDICT_NONE)) {
		struct tt_aggregator *a = st->a;

		if (grow((void **)&a->flagged, &a->cap_flagged, a->n_flagged + 1,
			2 * sizeof(*a->flagged)) < 0)
			return -ENOMEM;
		a->flagged[2 * a->n_flagged] = a->n_out_bytes + st->n_out;
		a->flagged[2 * a->n_flagged + 1] = r->len;
		a->n_flagged++;
	}
	memcpy(st->out + st->n_out, r->data, r->len);
	st->n_out += r->len;
	if ((rc = tt_aggregator_account(st->a, r)) < 0)
		return rc;
	fs->n_candidate[r->candidate % TT_VERDICT_COUNT]++;
	fs->n_flows++;
	if (r->proto == 6)
		fs->n_flows_tcp++;
	else
		fs->n_flows_udp++;
	fs->n_verdict[r->verdict % TT_VERDICT_COUNT]++;
	return 0;
}

/* A complete set: sort what is held and merge it with the spilled runs. */
static void write_set(struct astate *st, size_t id)
{
	struct tt_aggregator *a = st->a;
	struct pending *p = &st->files[id];
	struct emit_ctx ctx = {st, id};
	size_t n_runs = tt_spill_n_runs(p->spill);
	uint64_t n_before = a->n_flows;
	uint32_t *order = NULL;
	int rc = tt_rec_ref_sort(p->v, p->n, &order);

	if (rc == 0)
		rc = tt_spill_merge(p->spill, p->v, order, p->n, emit_record, &ctx);
	if (rc == 0)
		rc = flush_out(st);
	free(order);
	if (rc < 0 && a->rc == 0)
		a->rc = rc;
	if (rc < 0)
		tt_log(TT_LOG_ERROR, "aggregator: cannot write the flows of %s: %s",
		    a->files[id].path, strerror(-rc));
	tt_log(TT_LOG_DEBUG, "aggregator: set %zu written (%" PRIu64 " flows, %zu runs) at %.3f s",
	    id, a->n_flows - n_before, n_runs, (double)tt_now_ns() / 1e9);
	free_pending(st, p);
}

/* Fill worker w's block ring (see struct tt_aggregator.blocks). */
static void make_blocks(struct tt_aggregator *a, unsigned w)
{
	if (!a->blocks)
		return;
	for (uint32_t room = tt_ring_room(&a->blocks[w]); room > 0; room--) {
		uint8_t *blk = tt_rec_block_map_populated();

		if (!blk) /* the worker maps its own */
			return;
		if (tt_ring_push(&a->blocks[w], &blk, 1) != 1) {
			tt_rec_buf_free(blk, true);
			return;
		}
	}
}

void *tt_aggregator_main(void *arg)
{
	struct tt_aggregator *a = arg;
	struct astate st = {.a = a};
	struct tt_rec_msg burst[BURST];
	struct tt_backoff b = {0};
	unsigned n_workers_done = 0;

	st.files = calloc(a->n_files ? a->n_files : 1, sizeof(*st.files));
	st.n_done = calloc(a->n_files ? a->n_files : 1, sizeof(*st.n_done));
	st.is_worker_done = calloc(a->n_workers ? a->n_workers : 1, sizeof(*st.is_worker_done));
	st.out = malloc(OUT_BYTES);
	st.budget = a->cfg->sort_budget_bytes ? a->cfg->sort_budget_bytes : TT_SORT_BUDGET_DEFAULT;
	if (!st.files || !st.n_done || !st.out) {
		a->rc = -ENOMEM;
		tt_log(TT_LOG_ERROR, "aggregator: out of memory");
	}
	for (unsigned w = 0; w < a->n_workers; w++)
		make_blocks(a, w);
	/* Keep consuming even after an error, so that no worker blocks on a full ring. */
	while (n_workers_done < a->n_workers) {
		bool is_progress = false;

		for (unsigned w = 0; w < a->n_workers; w++) {
			uint32_t n = tt_ring_pop(&a->in[w], burst, BURST);

			is_progress |= n > 0;
			for (uint32_t i = 0; i < n; i++) {
				struct tt_rec_msg *m = &burst[i];

				switch (m->kind) {
				case TT_REC_BLOCK:
					a->n_blocks++;

					if (a->rc != 0) {
						tt_rec_buf_free(m->buf, m->is_mapped);
						free(m->refs);
					} else if (add_block(&st, m) < 0) {
						a->rc = -ENOMEM;
						tt_log(TT_LOG_ERROR, "aggregator: out of memory");
					} else if (st.n_held > st.budget) {
						int rc = spill(&st, largest(&st));

						if (rc < 0) {
							a->rc = rc;
							tt_log(TT_LOG_ERROR,
							    "aggregator: cannot write a sorted "
							    "run to %s: %s",
							    a->cfg->out_dir, strerror(-rc));
						}
					}
					break;
				case TT_REC_EVICTIONS:
					TT_BUG_ON(m->file_id >= a->n_files);
					a->files[m->file_id].n_flows_evicted += m->n_flows_evicted;
					a->files[m->file_id].n_tls_evicted += m->n_tls_evicted;
					break;
				case TT_REC_FILE_DONE:
					if (a->rc != 0)
						break;
					TT_BUG_ON(m->file_id >= a->n_files ||
						  m->last_file_id >= a->n_files ||
						  m->last_file_id < m->file_id);
					a->files[m->last_file_id].n_flows_evicted +=
					    m->n_flows_evicted;
					a->files[m->last_file_id].n_tls_evicted += m->n_tls_evicted;
					if (++st.n_done[m->file_id] < a->n_workers)
						break;
					/* Complete: sets complete in order (see above); files
					 * between sets have no packets, hence no records. */
					TT_BUG_ON(m->file_id < st.next_file);
					write_set(&st, m->file_id);
					st.next_file = m->last_file_id + 1;
					break;
				case TT_REC_WORKER_DONE:
					n_workers_done++;
					st.is_worker_done[w] = true;
					break;
				default:
					TT_BUG_ON(1);
				}
			}
		}
		/* Refill the block rings the workers took from (record blocks and their slab
		 * memory), but not of a worker that ended. */
		for (unsigned w = 0; w < a->n_workers; w++)
			if (st.is_worker_done && !st.is_worker_done[w])
				make_blocks(a, w);
		/* Blocks are large and rings deep: polling every millisecond when idle is
		 * plenty, and costs almost nothing. */
		if (is_progress) {
			b.n = 0;
		} else if (b.n++ < 64) {
			sched_yield();
		} else {
			struct timespec ts = {.tv_nsec = 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	if (st.files)
		for (size_t i = 0; i < a->n_files; i++)
			free_pending(&st, &st.files[i]);
	free(st.files);
	free(st.n_done);
	free(st.is_worker_done);
	free(st.out);
	return NULL;
}
