/* Decompression ahead of the reader.
 *
 * Decompressing gzip (about 0.3-0.5 GB/s of output per core) or zstd (about 1-2 GB/s) is
 * slower than the reader's parsing, so a folder of compressed captures read one file at a
 * time keeps one core busy and leaves the others idle. Here helper threads take the input
 * files in list order, open those that are gzip or zstd data and decompress each into a
 * queue of blocks; the reader takes the blocks of its current file in order and copies
 * them into its own chunks (tt_source_need_slow(), as when it decodes itself).
 *
 * Results cannot depend on it: each file is decoded by one decoder, start to end, with the
 * same function as the reader's own (tt_source_produce()), so the bytes, the end of the
 * stream and the fault with its message and offsets are the same; the reader still reads
 * files one after the other, in order, so sets, errors and records are too. Files that
 * are not compressed (mapped, zero copy), standard input and anything that cannot be
 * opened are left to the reader, which opens them as before.
 *
 * Memory: the files in flight share a pool of POOL_PER_HELPER blocks of BLOCK_BYTES per
 * helper (32 MiB each; 64 MiB on 2 CPUs, 256 MiB at most, also with TT_DECOMPRESS_AHEAD
 * asking for more helpers), counted while a block is queued, being filled or being copied
 * by the reader, plus each helper's decoder (1 MiB of compressed input, zlib's 32 KiB
 * window or zstd's, at most 8 MiB below level 20). A helper may start file j only while
 * j < (the reader's file) + 2 × helpers. The pool is what lets the helpers overlap: while
 * the reader takes file i as fast as one helper decodes it, another decodes file i + 1
 * into the pool, so with K helpers the files must fit (K - 1) / K of their decompressed
 * size into it for a K-fold speed-up; larger files get a smaller one. Results never
 * depend on the pool: only when bytes arrive does.
 *
 * Threads: one mutex and two condition variables guard the job slots, the pool count and
 * the free block list; they are taken once per block (1 MiB), never per packet. A helper
 * waits when the pool is used up (for a file after the reader's: all but BLOCKS_RESERVED)
 * or the window is full; the reader waits when its file has no block ready. The reader
 * never waits for a helper that waits for it on another file: files are started in
 * order, so the reader's file is started before any later one, and the reserve keeps
 * later files from taking the memory its helper needs.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "reader.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tortrace/tortrace.h"

#define BLOCK_BYTES     (1u << 20)
#define POOL_PER_HELPER 32  /* blocks: 32 MiB of decompressed data per helper */
#define POOL_MAX        256 /* blocks, whatever the number of helpers */
#define BLOCKS_RESERVED 4   /* of the pool, kept for the reader's file */
#define MAX_HELPERS     8
#define MAX_HELPERS_ENV 64

struct ablock {
	struct ablock *next;
	size_t len, pos;
	uint64_t raw_bytes; /* bytes of the file read when the block was filled */
	uint8_t data[];
};

enum job_state {
	JOB_FREE = 0,
	JOB_OPENING, /* a helper is opening the file */
	JOB_SKIP,    /* not a compressed regular file: the reader opens it */
	JOB_STREAM,  /* being (or done being) decompressed */
};

struct tt_ahead_job {
	struct tt_ahead *pool;
	/* Under pool->mu. The helper writes file, state, fd, comp, id, the blocks it appends
	 * and the end (rc, err, ...); the reader takes blocks and sets is_reader_done. */
	size_t file;
	int state; /* enum job_state */
	int fd, comp;
	struct tt_file_id id;
	struct ablock *head, *tail;
	unsigned n_blocks;   /* of the pool: queued, being filled or being copied */
	bool is_ended;       /* rc and err are set: no more blocks come */
	bool is_helper_done; /* the helper is done with the slot (and its decoder) */
	bool is_reader_done; /* the reader closed the file: stop, and free the slot */
	int rc;
	char err[160];
	uint64_t err_off, err_raw_off;
	/* The reader's only: the block it copies from. */
	struct ablock *cur;
	/* The helper's only, while it decodes the file. */
	struct tt_source src;
};

struct tt_ahead {
	pthread_mutex_t mu;
	pthread_cond_t cv_helper; /* a slot, a block or the window came free; shutdown */
	pthread_cond_t cv_reader; /* a job opened, a block was queued, a file ended */
	const struct tt_file_stats *files;
	size_t n_files;
	const atomic_bool *stop;
	struct tt_ahead_job *jobs; /* slot of file i: jobs[i % n_jobs] */
	unsigned n_jobs;
	size_t next; /* the next file a helper starts */
	size_t cur;  /* the reader's file */
	bool is_shutdown;
	unsigned n_pool; /* blocks the jobs may hold together */
	unsigned n_used; /* blocks they hold */
	struct ablock *free_blocks;
	pthread_t *threads;
	unsigned n_threads;
};

unsigned tt_ahead_threads(void)
{
	const char *e = getenv("TT_DECOMPRESS_AHEAD");
	cpu_set_t set;
	long n;

	if (e && *e) {
		char *end;
		unsigned long v = strtoul(e, &end, 10);

		if (*end == '\0')
			return v > MAX_HELPERS_ENV ? MAX_HELPERS_ENV : (unsigned)v;
		tt_log(TT_LOG_WARN, "TT_DECOMPRESS_AHEAD=%s is not a number: ignored", e);
	}
	/* The CPUs this thread may run on (taskset), not all online ones. */
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
							 : sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 1)
		return 0; /* nothing to run beside the reader */
	return n > MAX_HELPERS ? MAX_HELPERS : (unsigned)n;
}

/* With the lock: return the job's blocks to the free list, close its file, free it. */
static void free_slot(struct tt_ahead *a, struct tt_ahead_job *j)
{
	struct ablock *b;

	while ((b = j->head) != NULL) {
		j->head = b->next;
		b->next = a->free_blocks;
		a->free_blocks = b;
	}
	j->tail = NULL;
	a->n_used -= j->n_blocks;
	j->n_blocks = 0;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->state = JOB_FREE;
	pthread_cond_broadcast(&a->cv_helper);
}

/* May the helper of file i take another block? The reader's file may use the whole pool;
 * the files after it leave BLOCKS_RESERVED blocks to it, so the reader never waits for a
 * helper that waits for memory held by later files. */
static bool may_take(const struct tt_ahead *a, size_t i)
{
	return i == a->cur ? a->n_used < a->n_pool : a->n_used + BLOCKS_RESERVED < a->n_pool;
}

static bool can_start(const struct tt_ahead *a)
{
	return a->next < a->n_files && a->next < a->cur + a->n_jobs &&
	       a->jobs[a->next % a->n_jobs].state == JOB_FREE;
}

/* Decompress file i into j's queue until its end, a fault, or the reader's release. */
static void run_job(struct tt_ahead *a, struct tt_ahead_job *j, size_t i)
{
	struct tt_file_id id;
	ssize_t n = 0;
	int rc = tt_source_open_compressed(&j->src, a->files[i].path);

	if (rc <= 0) {
		pthread_mutex_lock(&a->mu);
		j->state = JOB_SKIP;
		j->is_helper_done = true;
		if (j->is_reader_done)
			free_slot(a, j);
		pthread_cond_broadcast(&a->cv_reader);
		pthread_mutex_unlock(&a->mu);
		return;
	}
	tt_file_id_of(j->src.fd, &id);
	pthread_mutex_lock(&a->mu);
	j->fd = j->src.fd;
	j->comp = j->src.comp;
	j->id = id;
	j->state = JOB_STREAM;
	pthread_cond_broadcast(&a->cv_reader);
	for (;;) {
		struct ablock *b;

		while (!may_take(a, i) && !j->is_reader_done && !a->is_shutdown)
			pthread_cond_wait(&a->cv_helper, &a->mu);
		if (j->is_reader_done || a->is_shutdown)
			break;
		b = a->free_blocks;
		if (b)
			a->free_blocks = b->next;
		j->n_blocks++;
		a->n_used++;
		pthread_mutex_unlock(&a->mu);
		if (!b)
			b = malloc(sizeof(*b) + BLOCK_BYTES);
		if (!b) {
			n = -ENOMEM;
			snprintf(j->src.err, sizeof(j->src.err), "out of memory");
			j->src.err_off = j->src.off;
			j->src.err_raw_off = j->src.n_raw_bytes;
		} else {
			b->next = NULL;
			b->len = b->pos = 0;
			if (a->stop && atomic_load_explicit(a->stop, memory_order_relaxed)) {
				n = -EINTR;
				snprintf(j->src.err, sizeof(j->src.err), "interrupted");
			}
			while (n >= 0 && b->len < BLOCK_BYTES) {
				n = tt_source_produce(
				    &j->src, b->data + b->len, BLOCK_BYTES - b->len);
				if (n <= 0)
					break;
				b->len += (size_t)n;
			}
			b->raw_bytes = j->src.n_raw_bytes;
		}
		pthread_mutex_lock(&a->mu);
		if (b && b->len) {
			if (j->tail)
				j->tail->next = b;
			else
				j->head = b;
			j->tail = b;
		} else {
			if (b) {
				b->next = a->free_blocks;
				a->free_blocks = b;
			}
			j->n_blocks--;
			a->n_used--;
		}
		if (n <= 0) {
			j->rc = (int)n;
			snprintf(j->err, sizeof(j->err), "%s", j->src.err);
			j->err_off = j->src.err_off;
			j->err_raw_off = j->src.err_raw_off;
			j->is_ended = true;
		}
		pthread_cond_broadcast(&a->cv_reader);
		if (n <= 0)
			break;
	}
	/* Cancelled, shut down, or at the end: the decoder goes; the file stays open for the
	 * reader's identity check until the slot is freed. The slot cannot be freed (and
	 * reused) before is_helper_done is set, after the decoder is closed. */
	j->is_ended = true;
	j->src.fd = -1;
	pthread_mutex_unlock(&a->mu);
	tt_source_close(&j->src);
	pthread_mutex_lock(&a->mu);
	j->is_helper_done = true;
	if (j->is_reader_done)
		free_slot(a, j);
	pthread_cond_broadcast(&a->cv_reader);
	pthread_mutex_unlock(&a->mu);
}

static void *ahead_main(void *arg)
{
	struct tt_ahead *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct tt_ahead_job *j;
		size_t i;

		while (!a->is_shutdown && !can_start(a))
			pthread_cond_wait(&a->cv_helper, &a->mu);
		if (a->is_shutdown)
			break;
		i = a->next++;
		j = &a->jobs[i % a->n_jobs];
		j->file = i;
		j->state = JOB_OPENING;
		j->fd = -1;
		j->is_ended = false;
		j->is_helper_done = false;
		j->is_reader_done = false;
		j->rc = 0;
		j->err[0] = '\0';
		pthread_mutex_unlock(&a->mu);
		run_job(a, j, i);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct tt_ahead *tt_ahead_new(const struct tt_file_stats *files, size_t first, size_t n_files,
    unsigned n_threads, const atomic_bool *stop)
{
	struct tt_ahead *a;

	if (n_threads == 0 || first >= n_files)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->files = files;
	a->n_files = n_files;
	a->next = a->cur = first;
	a->stop = stop;
	a->n_jobs = 2 * n_threads;
	a->n_pool = n_threads > POOL_MAX / POOL_PER_HELPER ? POOL_MAX : POOL_PER_HELPER * n_threads;
	a->jobs = calloc(a->n_jobs, sizeof(*a->jobs));
	a->threads = calloc(n_threads, sizeof(*a->threads));
	if (!a->jobs || !a->threads)
		goto err_free;
	for (unsigned k = 0; k < a->n_jobs; k++) {
		a->jobs[k].pool = a;
		a->jobs[k].fd = -1;
	}
	if (pthread_mutex_init(&a->mu, NULL) != 0)
		goto err_free;
	if (pthread_cond_init(&a->cv_helper, NULL) != 0)
		goto err_mutex;
	if (pthread_cond_init(&a->cv_reader, NULL) != 0)
		goto err_cond;
	for (; a->n_threads < n_threads; a->n_threads++) {
		if (pthread_create(&a->threads[a->n_threads], NULL, ahead_main, a) != 0)
			break;
		pthread_setname_np(a->threads[a->n_threads], "tt-ahead");
	}
	if (a->n_threads == 0) {
		pthread_cond_destroy(&a->cv_reader);
		goto err_cond;
	}
	tt_log(TT_LOG_DEBUG, "reader: %u decompression helpers", a->n_threads);
	return a;
err_cond:
	pthread_cond_destroy(&a->cv_helper);
err_mutex:
	pthread_mutex_destroy(&a->mu);
err_free:
	free(a->threads);
	free(a->jobs);
	free(a);
	return NULL;
}

struct tt_ahead_job *tt_ahead_job_of(
    struct tt_ahead *a, size_t i, int *fd, int *comp, struct tt_file_id *id)
{
	struct tt_ahead_job *j = &a->jobs[i % a->n_jobs];

	pthread_mutex_lock(&a->mu);
	a->cur = i;
	pthread_cond_broadcast(&a->cv_helper); /* the window moved */
	while (j->state == JOB_FREE || j->file != i || j->state == JOB_OPENING)
		pthread_cond_wait(&a->cv_reader, &a->mu);
	if (j->state == JOB_SKIP) {
		j->is_reader_done = true;
		free_slot(a, j);
		pthread_mutex_unlock(&a->mu);
		return NULL;
	}
	*fd = j->fd;
	*comp = j->comp;
	*id = j->id;
	pthread_mutex_unlock(&a->mu);
	return j;
}

ssize_t tt_ahead_take(struct tt_ahead_job *j, struct tt_source *s, uint8_t *dst, size_t room)
{
	struct tt_ahead *a = j->pool;
	struct ablock *b = j->cur;
	size_t n;

	if (!b) {
		pthread_mutex_lock(&a->mu);
		while (!j->head && !j->is_ended)
			pthread_cond_wait(&a->cv_reader, &a->mu);
		b = j->head;
		if (!b) {
			int rc = j->rc;

			/* The end, or the fault with the helper decoder's message and
			 * offsets, which are the reader's own decoding's. */
			snprintf(s->err, sizeof(s->err), "%s", j->err);
			s->err_off = j->err_off;
			s->err_raw_off = j->err_raw_off;
			pthread_mutex_unlock(&a->mu);
			return rc;
		}
		j->head = b->next;
		if (!j->head)
			j->tail = NULL;
		pthread_mutex_unlock(&a->mu);
		j->cur = b;
	}
	n = b->len - b->pos < room ? b->len - b->pos : room;
	memcpy(dst, b->data + b->pos, n);
	b->pos += n;
	s->n_raw_bytes = b->raw_bytes;
	if (b->pos == b->len) {
		pthread_mutex_lock(&a->mu);
		b->next = a->free_blocks;
		a->free_blocks = b;
		j->n_blocks--;
		a->n_used--;
		j->cur = NULL;
		pthread_cond_broadcast(&a->cv_helper);
		pthread_mutex_unlock(&a->mu);
	}
	return (ssize_t)n;
}

void tt_ahead_release(struct tt_ahead_job *j)
{
	struct tt_ahead *a = j->pool;

	pthread_mutex_lock(&a->mu);
	if (j->cur) {
		j->cur->next = a->free_blocks;
		a->free_blocks = j->cur;
		j->cur = NULL;
		j->n_blocks--;
		a->n_used--;
	}
	j->is_reader_done = true;
	if (j->is_helper_done)
		free_slot(a, j);
	pthread_cond_broadcast(&a->cv_helper); /* a helper still decoding it stops */
	pthread_mutex_unlock(&a->mu);
}

void tt_ahead_free(struct tt_ahead *a)
{
	struct ablock *b;

	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->is_shutdown = true;
	pthread_cond_broadcast(&a->cv_helper);
	pthread_mutex_unlock(&a->mu);
	for (unsigned k = 0; k < a->n_threads; k++)
		pthread_join(a->threads[k], NULL);
	for (unsigned k = 0; k < a->n_jobs; k++) {
		struct tt_ahead_job *j = &a->jobs[k];

		if (j->cur) {
			j->cur->next = a->free_blocks;
			a->free_blocks = j->cur;
			j->cur = NULL;
		}
		if (j->state != JOB_FREE)
			free_slot(a, j);
	}
	while ((b = a->free_blocks) != NULL) {
		a->free_blocks = b->next;
		free(b);
	}
	pthread_cond_destroy(&a->cv_reader);
	pthread_cond_destroy(&a->cv_helper);
	pthread_mutex_destroy(&a->mu);
	free(a->threads);
	free(a->jobs);
	free(a);
}
