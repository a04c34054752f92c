/* Shared pipeline pieces: logging, the wait policy, rings, chunks, time helpers. */
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = TT_LOG_WARN;
static atomic_bool is_progress_drawn;

void tt_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "tortrace: BUG at %s:%d: %s\n", file, line, cond);
	abort();
}

void tt_log_set_level(int level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

void tt_log_set_progress(bool is_drawn)
{
	atomic_store_explicit(&is_progress_drawn, is_drawn, memory_order_relaxed);
}

void tt_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[1024];
	va_list ap;
	int n;

	if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	n = snprintf(line, sizeof(line), "%stortrace: %s: ",
	    atomic_load_explicit(&is_progress_drawn, memory_order_relaxed) ? "\r\033[K" : "",
	    names[level & 3]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines from different threads whole. */
	fprintf(stderr, "%s\n", line);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

int tt_ring_init(struct tt_ring *r, uint32_t capacity, uint32_t slot_size)
{
	memset(r, 0, sizeof(*r));
	if (capacity == 0 || (capacity & (capacity - 1)) != 0 || slot_size == 0)
		return -EINVAL;
	r->slots = aligned_alloc(TT_CACHELINE,
	    ((size_t)capacity * slot_size + TT_CACHELINE - 1) / TT_CACHELINE * TT_CACHELINE);
	if (!r->slots)
		return -ENOMEM;
	r->mask = capacity - 1;
	r->slot_size = slot_size;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void tt_ring_fini(struct tt_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

#define SPINS 256

void tt_ring_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleep while *word == seen (the kernel checks it atomically), at most 10 ms. */
static void sleep_on(_Atomic uint32_t *word, uint32_t seen)
{
	struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};

	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

void tt_ring_wait_pop(struct tt_ring *r, struct tt_backoff *b)
{
	uint32_t head;

	if (b->n++ < SPINS) {
		cpu_relax();
		return;
	}
	atomic_store_explicit(&r->is_cons_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head == atomic_load_explicit(&r->tail, memory_order_relaxed))
		sleep_on(&r->head, head);
	atomic_store_explicit(&r->is_cons_waiting, 0, memory_order_relaxed);
}

static void wait_push(struct tt_ring *r, struct tt_backoff *b, uint32_t n)
{
	uint32_t tail;

	if (b->n++ < SPINS) {
		cpu_relax();
		return;
	}
	atomic_store_explicit(&r->is_prod_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Still no room for n (or for anything, if n is more than the ring)? */
	if (r->mask + 1 - (atomic_load_explicit(&r->head, memory_order_relaxed) - tail) <
	    (n < r->mask + 1 ? n : 1))
		sleep_on(&r->tail, tail);
	atomic_store_explicit(&r->is_prod_waiting, 0, memory_order_relaxed);
}

void tt_ring_push_all(struct tt_ring *r, const void *src, uint32_t n)
{
	struct tt_backoff b = {0};
	const uint8_t *p = src;

	while (n > 0) {
		uint32_t k = tt_ring_push(r, p, n);

		if (k == 0) {
			wait_push(r, &b, n);
			continue;
		}
		b.n = 0;
		p += (size_t)k * r->slot_size;
		n -= k;
	}
}

struct tt_chunk *tt_chunk_new(size_t len)
{
	struct tt_chunk *c = malloc(sizeof(*c) + len);

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->is_mmap = false;
	c->is_borrowed = false;
	c->base = (uint8_t *)(c + 1);
	c->len = len;
	return c;
}

struct tt_chunk *tt_chunk_wrap_mmap(uint8_t *base, size_t len)
{
	struct tt_chunk *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->is_mmap = true;
	c->is_borrowed = false;
	c->base = base;
	c->len = len;
	tt_mapguard_add(base, len); /* a file shrinking under it must not kill the run */
	return c;
}

struct tt_chunk *tt_chunk_wrap_borrowed(const uint8_t *base, size_t len)
{
	struct tt_chunk *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->is_mmap = false;
	c->is_borrowed = true;
	c->base = (uint8_t *)base;
	c->len = len;
	return c;
}

void tt_chunk_put(struct tt_chunk *c)
{
	/* acq_rel: the last holder must see every other holder's reads finished. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (c->is_mmap && c->len > 0) {
		tt_mapguard_remove(c->base);
		munmap(c->base, c->len);
	}
	free(c);
}

uint64_t tt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tt_fmt_time(uint64_t ts_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ts_ns / 1000000000u);
	struct tm tm;
	char day[24];

	gmtime_r(&sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", day, (unsigned)(ts_ns % 1000000000u / 1000u));
}

uint64_t tt_rss_anon_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024u;
}

/* ---- record blocks ------------------------------------------------------------------ */

uint8_t *tt_rec_block_map(void)
{
	void *p = mmap(NULL, TT_REC_BLOCK_MAP, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, TT_REC_BLOCK_MAP, MADV_HUGEPAGE);
#endif
	return p;
}

uint8_t *tt_rec_block_map_populated(void)
{
	uint8_t *p = tt_rec_block_map();

#ifdef MADV_POPULATE_WRITE
	if (p && madvise(p, TT_REC_BLOCK_MAP, MADV_POPULATE_WRITE) == 0)
		return p;
#endif
	/* Without MADV_POPULATE_WRITE (before Linux 5.14): touch every page. */
	for (size_t i = 0; p && i < TT_REC_BLOCK_MAP; i += 4096)
		((volatile uint8_t *)p)[i] = 0;
	return p;
}

void tt_rec_buf_free(uint8_t *buf, bool is_mapped)
{
	if (is_mapped)
		munmap(buf, TT_REC_BLOCK_MAP);
	else
		free(buf);
}
