/* The aggregator thread: polls every worker's ring in turn, decodes record blocks, and
 * holds each file's records until every worker has said it is done with that file. Then
 * it sorts them (file, first timestamp, 5-tuple) and appends them to flows.msgpack, so
 * the output does not depend on how flows were spread over workers. Files complete in
 * input order because each worker handles them in that order. Memory held is bounded by
 * the records of the files still in flight. */
#include "aggregate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tortrace/tortrace.h"

#define BURST 16

struct pending {
	struct tt_flow_record *v;
	size_t n, cap;
};

struct astate {
	struct tt_aggregator *a;
	struct pending *files; /* per file id */
	unsigned *n_done;      /* FILE_DONE count per file id */
	size_t next_file;      /* the first file not yet written */
	msgpack_packer pk;
};

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

static int add_block(struct astate *st, const struct tt_rec_msg *m)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc = 0;

	msgpack_unpacked_init(&u);
	while (msgpack_unpack_next(&u, m->buf, m->len, &off) == MSGPACK_UNPACK_SUCCESS) {
		struct tt_flow_record r;
		struct pending *p;

		/* Records come from our own workers: a bad one is a bug, not bad input. */
		TT_BUG_ON(tt_record_unpack(&u.data, &r) < 0);
		TT_BUG_ON(r.file_id >= st->a->n_files);
		p = &st->files[r.file_id];
		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 256;
			struct tt_flow_record *v = realloc(p->v, cap * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			p->v = v;
			p->cap = cap;
		}
		p->v[p->n++] = r;
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}

static void write_file(struct astate *st, size_t id)
{
	struct tt_aggregator *a = st->a;
	struct pending *p = &st->files[id];
	struct tt_file_stats *fs = &a->files[id];

	if (p->n)
		qsort(p->v, p->n, sizeof(*p->v), tt_record_cmp);
	for (size_t i = 0; i < p->n; i++) {
		if (a->flows_out && tt_record_pack(&st->pk, &p->v[i]) < 0 && a->rc == 0) {
			a->rc = -EIO;
			tt_log(TT_LOG_ERROR, "cannot write flows.msgpack");
		}
		fs->n_flows++;
		if (p->v[i].proto == 6)
			fs->n_flows_tcp++;
		else
			fs->n_flows_udp++;
	}
	a->n_flows += fs->n_flows;
	a->n_flows_tcp += fs->n_flows_tcp;
	a->n_flows_udp += fs->n_flows_udp;
	free(p->v);
	memset(p, 0, sizeof(*p));
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
	if (!st.files || !st.n_done) {
		a->rc = -ENOMEM;
		tt_log(TT_LOG_ERROR, "aggregator: out of memory");
	}
	if (a->flows_out)
		msgpack_packer_init(&st.pk, a->flows_out, fwrite_cb);
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
					if (a->rc == 0 && add_block(&st, m) < 0) {
						a->rc = -ENOMEM;
						tt_log(TT_LOG_ERROR, "aggregator: out of memory");
					}
					free(m->buf);
					break;
				case TT_REC_FILE_DONE:
					if (a->rc != 0)
						break;
					TT_BUG_ON(m->file_id >= a->n_files);
					if (++st.n_done[m->file_id] < a->n_workers)
						break;
					/* Complete: files complete in order (see above). */
					TT_BUG_ON(m->file_id != st.next_file);
					write_file(&st, st.next_file++);
					break;
				case TT_REC_WORKER_DONE:
					n_workers_done++;
					break;
				default:
					TT_BUG_ON(1);
				}
			}
		}
		if (is_progress)
			b.n = 0;
		else
			tt_backoff(&b);
	}
	if (st.files)
		for (size_t i = 0; i < a->n_files; i++)
			free(st.files[i].v);
	free(st.files);
	free(st.n_done);
	return NULL;
}
