/* Sorting flow records, and the sorted runs of the aggregator's external merge sort.
 *
 * Sorting: the output order compares the first timestamp first, and first timestamps are
 * nearly always distinct, so records are ordered by an LSD radix sort of (first
 * timestamp, index) pairs, 16 bytes each, and only groups with equal timestamps go
 * through the full comparator. This gives exactly the order of qsort with
 * tt_rec_ref_cmp (records that compare equal have equal bytes), and it never moves the
 * 72-byte refs: the result is a permutation.
 *
 * Runs: all the runs of one capture are appended to one unlinked file, so a capture
 * costs one descriptor however many runs it has. A run is a sequence of entries, each the
 * first SPILL_HDR bytes of its struct tt_rec_ref (the sort key and the length) followed by
 * the record's msgpack bytes. Writes and reads go through large buffers (one write(2)
 * per WBUF_BYTES, one pread(2) per RBUF_BYTES and run). Merging reads at most
 * TT_SPILL_FANIN runs at once; beyond that, runs are first merged in passes into
 * longer runs in a new file. The least head of the runs being merged is kept in a binary
 * heap. */
#include "aggregate.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tortrace/tortrace.h"

#define SPILL_HDR  offsetof(struct tt_rec_ref, data)
#define WBUF_BYTES (1u << 20)
#define RBUF_BYTES (128u << 10)

_Static_assert(SPILL_HDR == 64, "spilled entry header: the ref without its pointer");
_Static_assert(RBUF_BYTES >= 2 * (SPILL_HDR + TT_RECORD_MAX_BYTES), "a read buffer holds entries");

/* ---- sorting ---------------------------------------------------------------------------- */

struct skey {
	uint64_t ts;
	uint64_t idx;
};

static int cmp_idx(const struct tt_rec_ref *v, uint32_t a, uint32_t b)
{
	return tt_rec_ref_cmp(&v[a], &v[b]);
}

/* Sort idx[0..n) by the full comparator (n is small: records with one first timestamp). */
static void sort_ties(const struct tt_rec_ref *v, uint32_t *idx, size_t n, uint32_t *tmp)
{
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 16) {
		for (size_t a = 1; a < n; a++) {
			uint32_t x = idx[a];
			size_t b = a;

			for (; b > 0 && cmp_idx(v, idx[b - 1], x) > 0; b--)
				idx[b] = idx[b - 1];
			idx[b] = x;
		}
		return;
	}
	sort_ties(v, idx, h, tmp);
	sort_ties(v, idx + h, n - h, tmp);
	while (i < h && j < n)
		tmp[k++] = cmp_idx(v, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
	while (i < h)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

int tt_rec_ref_sort(const struct tt_rec_ref *v, size_t n, uint32_t **order)
{
	struct skey *a, *b;
	uint32_t *idx;
	size_t(*count)[256];
	int rc = -ENOMEM;

	TT_BUG_ON(n > UINT32_MAX);
	*order = NULL;
	idx = malloc((n ? n : 1) * sizeof(*idx));
	a = malloc((n ? n : 1) * sizeof(*a));
	b = malloc((n ? n : 1) * sizeof(*b));
	count = calloc(8, sizeof(*count));
	if (!idx || !a || !b || !count)
		goto out;
	for (size_t i = 0; i < n; i++) {
		a[i] = (struct skey){v[i].first_ts_ns, i};
		for (unsigned d = 0; d < 8; d++)
			count[d][(v[i].first_ts_ns >> (8 * d)) & 255]++;
	}
	/* LSD radix sort, stable, one pass per byte that is not the same in every key. */
	for (unsigned d = 0; d < 8; d++) {
		size_t sum = 0;
		struct skey *t;

		if (n == 0 || count[d][(a[0].ts >> (8 * d)) & 255] == n)
			continue;
		for (unsigned c = 0; c < 256; c++) {
			size_t x = count[d][c];

			count[d][c] = sum;
			sum += x;
		}
		for (size_t i = 0; i < n; i++)
			b[count[d][(a[i].ts >> (8 * d)) & 255]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)a[i].idx;
	/* Equal first timestamps: the rest of the key decides. */
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && a[j].ts == a[i].ts; j++)
			;
		if (j - i > 1)
			sort_ties(v, idx + i, j - i, (uint32_t *)b);
	}
	*order = idx;
	idx = NULL;
	rc = 0;
out:
	free(idx);
	free(a);
	free(b);
	free(count);
	return rc;
}

/* ---- runs --------------------------------------------------------------------------------- */

struct tt_spill {
	char *dir;
	int fd;             /* the runs, back to back; -1 until the first run */
	uint64_t *run_off;  /* run i is [run_off[i], run_off[i + 1]) */
	size_t n_runs, cap; /* cap: entries of run_off */
	uint64_t size;      /* bytes in the file, including wbuf */
	uint8_t *wbuf;
	size_t n_wbuf;
};

/* An unlinked file in the output folder (which must have room for the outputs anyway). */
static int temp_fd(const char *dir)
{
	size_t n = strlen(dir) + 32;
	char *path = malloc(n);
	int fd;

	if (!path)
		return -ENOMEM;
	snprintf(path, n, "%s/.tortrace-sort-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		fd = -errno;
	} else {
		unlink(path);
	}
	free(path);
	return fd;
}

struct tt_spill *tt_spill_new(const char *dir)
{
	struct tt_spill *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = -1;
	s->dir = strdup(dir);
	if (!s->dir) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void tt_spill_free(struct tt_spill *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->wbuf);
	free(s->run_off);
	free(s->dir);
	free(s);
}

size_t tt_spill_n_runs(const struct tt_spill *s)
{
	return s ? s->n_runs : 0;
}

int tt_spill_fd(const struct tt_spill *s)
{
	return s->fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int wflush(struct tt_spill *s)
{
	int rc = write_all(s->fd, s->wbuf, s->n_wbuf);

	s->n_wbuf = 0;
	return rc;
}

static int put(struct tt_spill *s, const struct tt_rec_ref *r)
{
	int rc;

	if (s->n_wbuf + SPILL_HDR + r->len > WBUF_BYTES && (rc = wflush(s)) < 0)
		return rc;
	memcpy(s->wbuf + s->n_wbuf, r, SPILL_HDR);
	memcpy(s->wbuf + s->n_wbuf + SPILL_HDR, r->data, r->len);
	s->n_wbuf += SPILL_HDR + r->len;
	s->size += SPILL_HDR + r->len;
	return 0;
}

/* Prepare s (file, buffer, offsets) for one more run. */
static int run_begin(struct tt_spill *s)
{
	if (s->fd < 0) {
		int fd = temp_fd(s->dir);

		if (fd < 0)
			return fd;
		s->fd = fd;
	}
	if (!s->wbuf && !(s->wbuf = malloc(WBUF_BYTES)))
		return -ENOMEM;
	if (s->n_runs + 2 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		uint64_t *p = realloc(s->run_off, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->run_off = p;
		s->cap = cap;
	}
	s->run_off[s->n_runs] = s->size;
	return 0;
}

static int run_end(struct tt_spill *s)
{
	int rc = wflush(s);

	if (rc < 0)
		return rc;
	s->run_off[++s->n_runs] = s->size;
	return 0;
}

int tt_spill_run(struct tt_spill *s, const struct tt_rec_ref *v, const uint32_t *order, size_t n)
{
	int rc = run_begin(s);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = put(s, &v[order ? order[i] : i]);
	return rc < 0 ? rc : run_end(s);
}

/* ---- merging ------------------------------------------------------------------------------ */

/* One input of a merge: a run read through a buffer, or the sorted records in memory. */
struct source {
	const struct tt_rec_ref *v; /* NULL: a run */
	const uint32_t *order;
	size_t i, n;
	size_t run;             /* the run's number, for messages */
	uint64_t pos, end;      /* the part of the run not yet read into buf */
	uint8_t *buf;           /* RBUF_BYTES */
	size_t lo, hi;          /* unparsed bytes: buf[lo, hi) */
	struct tt_rec_ref head; /* valid until the source advances */
};

struct merge {
	int fd; /* of the runs */
	struct source *src;
	size_t *heap; /* indices into src, least head first */
	size_t n_heap;
};

/* Read more of a run: at least `need` unparsed bytes, as many as fit. A run that ends
 * before its recorded end is an error, not its end. */
static int refill(struct merge *m, struct source *s, size_t need)
{
	size_t have = s->hi - s->lo;

	memmove(s->buf, s->buf + s->lo, have);
	s->lo = 0;
	s->hi = have;
	while (s->hi < need || (s->hi < RBUF_BYTES && s->pos < s->end)) {
		size_t want = RBUF_BYTES - s->hi;
		ssize_t r;

		if (want > s->end - s->pos)
			want = (size_t)(s->end - s->pos);
		if (want == 0) {
			tt_log(TT_LOG_ERROR,
			    "sorted run %zu: a record crosses the run's end at offset %" PRIu64,
			    s->run, s->pos);
			return -EBADMSG;
		}
		r = pread(m->fd, s->buf + s->hi, want, (off_t)s->pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;

			tt_log(TT_LOG_ERROR, "cannot read sorted run %zu at offset %" PRIu64 ": %s",
			    s->run, s->pos, strerror(-rc));
			return rc;
		}
		if (r == 0) {
			tt_log(TT_LOG_ERROR,
			    "sorted run %zu: short read at offset %" PRIu64
			    " (the run ends at %" PRIu64 "): records would be lost",
			    s->run, s->pos, s->end);
			return -EIO;
		}
		s->hi += (size_t)r;
		s->pos += (uint64_t)r;
	}
	return 0;
}

/* Load the next record of s into s->head: 1, 0 at its end, or -errno. */
static int advance(struct merge *m, struct source *s)
{
	int rc;

	if (s->v) {
		if (s->i == s->n)
			return 0;
		s->head = s->v[s->order ? s->order[s->i] : s->i];
		s->i++;
		return 1;
	}
	if (s->lo == s->hi && s->pos == s->end)
		return 0;
	if (s->hi - s->lo < SPILL_HDR && (rc = refill(m, s, SPILL_HDR)) < 0)
		return rc;
	memcpy(&s->head, s->buf + s->lo, SPILL_HDR);
	if (s->head.len > TT_RECORD_MAX_BYTES) {
		tt_log(TT_LOG_ERROR,
		    "sorted run %zu: bad record length %" PRIu32 " at offset %" PRIu64, s->run,
		    s->head.len, s->pos - (s->hi - s->lo));
		return -EBADMSG;
	}
	if (s->hi - s->lo < SPILL_HDR + s->head.len &&
	    (rc = refill(m, s, SPILL_HDR + s->head.len)) < 0)
		return rc;
	s->head.data = s->buf + s->lo + SPILL_HDR;
	s->lo += SPILL_HDR + s->head.len;
	return 1;
}

static bool less(const struct merge *m, size_t a, size_t b)
{
	return tt_rec_ref_cmp(&m->src[m->heap[a]].head, &m->src[m->heap[b]].head) < 0;
}

static void sift_down(struct merge *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, least = i, t;

		if (l < m->n_heap && less(m, l, least))
			least = l;
		if (l + 1 < m->n_heap && less(m, l + 1, least))
			least = l + 1;
		if (least == i)
			return;
		t = m->heap[i];
		m->heap[i] = m->heap[least];
		m->heap[least] = t;
		i = least;
	}
}

/* Merge runs [first, first + n) of s, and the records in memory if v, into emit. */
static int merge_some(struct tt_spill *s, size_t first, size_t n, const struct tt_rec_ref *v,
    const uint32_t *order, size_t n_v, tt_spill_emit_fn emit, void *ctx)
{
	struct merge m = {.fd = s->fd};
	size_t n_src = n + (v ? 1 : 0);
	int rc = -ENOMEM;

	m.src = calloc(n_src ? n_src : 1, sizeof(*m.src));
	m.heap = calloc(n_src ? n_src : 1, sizeof(*m.heap));
	if (!m.src || !m.heap)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct source *src = &m.src[i];

		src->run = first + i;
		src->pos = s->run_off[first + i];
		src->end = s->run_off[first + i + 1];
		if (!(src->buf = malloc(RBUF_BYTES)))
			goto out;
	}
	if (v)
		m.src[n] = (struct source){.v = v, .order = order, .n = n_v};
	for (size_t i = 0; i < n_src; i++) {
		rc = advance(&m, &m.src[i]);
		if (rc < 0)
			goto out;
		if (rc > 0)
			m.heap[m.n_heap++] = i;
	}
	for (size_t i = m.n_heap / 2; i-- > 0;)
		sift_down(&m, i);
	rc = 0;
	while (m.n_heap > 0) {
		struct source *top = &m.src[m.heap[0]];

		rc = emit(ctx, &top->head);
		if (rc < 0)
			goto out;
		rc = advance(&m, top);
		if (rc < 0)
			goto out;
		if (rc == 0)
			m.heap[0] = m.heap[--m.n_heap];
		sift_down(&m, 0);
		rc = 0;
	}
out:
	if (m.src)
		for (size_t i = 0; i < n; i++)
			free(m.src[i].buf);
	free(m.src);
	free(m.heap);
	return rc;
}

static int emit_to_spill(void *ctx, const struct tt_rec_ref *r)
{
	return put(ctx, r);
}

/* Merge the runs of s, TT_SPILL_FANIN at a time, into fewer, longer runs in a new file,
 * until at most `max` remain. */
static int reduce(struct tt_spill *s, size_t max)
{
	while (s->n_runs > max) {
		struct tt_spill *next = tt_spill_new(s->dir);
		int rc;

		if (!next)
			return -ENOMEM;
		tt_log(TT_LOG_DEBUG, "aggregator: merging %zu sorted runs, %d at a time", s->n_runs,
		    TT_SPILL_FANIN);
		for (size_t i = 0; i < s->n_runs; i += TT_SPILL_FANIN) {
			size_t n = s->n_runs - i < TT_SPILL_FANIN ? s->n_runs - i : TT_SPILL_FANIN;

			rc = run_begin(next);
			if (rc == 0)
				rc = merge_some(s, i, n, NULL, NULL, 0, emit_to_spill, next);
			if (rc == 0)
				rc = run_end(next);
			if (rc < 0) {
				tt_spill_free(next);
				return rc;
			}
		}
		/* Swap: s takes next's file and runs, next frees the old ones. */
		{
			struct tt_spill t = *s;

			*s = *next;
			*next = t;
		}
		tt_spill_free(next);
	}
	return 0;
}

int tt_spill_merge(struct tt_spill *s, const struct tt_rec_ref *v, const uint32_t *order, size_t n,
    tt_spill_emit_fn emit, void *ctx)
{
	int rc;

	if (!s || s->n_runs == 0) {
		struct tt_spill none = {.fd = -1};

		return merge_some(&none, 0, 0, v, order, n, emit, ctx);
	}
	/* One place is for the records in memory. */
	rc = reduce(s, TT_SPILL_FANIN - 1);
	if (rc < 0)
		return rc;
	tt_log(TT_LOG_DEBUG, "aggregator: merging %zu sorted runs and %zu records in memory",
	    s->n_runs, n);
	return merge_some(s, 0, s->n_runs, v, order, n, emit, ctx);
}
