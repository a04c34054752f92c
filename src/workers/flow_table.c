/* The per-worker flow table. Linear probing keeps lookups to one or two cache lines at a
 * load factor of at most 1/2; backward-shift deletion keeps it free of tombstones, so
 * long runs with many expired flows do not slow down. */
#include "workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define INIT_SLOTS 1024u
#define HUGE_BYTES (2u << 20)

/* Zeroed anonymous memory straight from the kernel, in transparent huge pages when it is
 * large: with millions of flows, a fault per 4 KiB page (each one a trap to the
 * hypervisor on a VM) and TLB misses on random slot probes cost more than the table's
 * own work. */
static void *map_zeroed(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (bytes >= HUGE_BYTES)
		madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

static size_t slots_bytes(uint32_t n)
{
	return (size_t)n * sizeof(uint64_t);
}

int tt_flow_table_init(struct tt_flow_table *t)
{
	memset(t, 0, sizeof(*t));
	t->map_fn = map_zeroed;
	t->realloc_fn = realloc;
	t->slots = map_zeroed(slots_bytes(INIT_SLOTS));
	if (!t->slots)
		return -ENOMEM;
	t->mask = INIT_SLOTS - 1;
	return 0;
}

void tt_flow_table_fini(struct tt_flow_table *t)
{
	if (t->slots)
		munmap(t->slots, slots_bytes(t->mask + 1));
	if (t->is_slab_mapped)
		munmap(t->flows, (size_t)t->cap_flows * sizeof(*t->flows));
	else
		free(t->flows);
	memset(t, 0, sizeof(*t));
}

static inline struct tt_flow *at(struct tt_flow_table *t, uint32_t idx1)
{
	return &t->flows[idx1 - 1];
}

static inline bool key_eq(const struct tt_flow_key *a, const struct tt_flow_key *b)
{
	uint64_t x[5], y[5];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

struct tt_flow *tt_flow_table_find(
    struct tt_flow_table *t, const struct tt_flow_key *k, uint32_t hash)
{
	uint64_t want = (uint64_t)hash << 32;

	for (uint32_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		uint64_t s = t->slots[i];

		if (s == 0)
			return NULL;
		if ((s & 0xffffffff00000000ull) == want && key_eq(&at(t, (uint32_t)s)->key, k))
			return at(t, (uint32_t)s);
	}
}

static void place(struct tt_flow_table *t, uint64_t slot)
{
	uint32_t i = (uint32_t)(slot >> 32) & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = slot;
}

static int grow_slots(struct tt_flow_table *t)
{
	uint32_t n = (t->mask + 1) * 2, old_n = t->mask + 1;
	uint64_t *old = t->slots;

	t->slots = t->map_fn(slots_bytes(n));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->mask = n - 1;
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i])
			place(t, old[i]);
	munmap(old, slots_bytes(old_n));
	return 0;
}

static uint32_t alloc_flow(struct tt_flow_table *t)
{
	uint32_t idx1;

	if (t->free_head) {
		idx1 = t->free_head;
		t->free_head = at(t, idx1)->lru_next;
		return idx1;
	}
	/* With a known bound the whole slab is reserved at once: address space only, pages
	 * come as flows are taken, and nothing is ever copied. */
	if (!t->flows && t->max_flows) {
		t->flows = t->map_fn((size_t)t->max_flows * sizeof(*t->flows));
		if (t->flows) {
			t->cap_flows = t->max_flows;
			t->is_slab_mapped = true;
		}
	}
	if (t->n_flows == t->cap_flows) {
		uint32_t cap = t->cap_flows ? t->cap_flows * 2 : 1024;
		struct tt_flow *f;

		if (t->is_slab_mapped)
			return 0; /* the bound: the caller evicts before it inserts */
		f = t->realloc_fn(t->flows, (size_t)cap * sizeof(*f));
		if (!f)
			return 0;
		t->flows = f;
		t->cap_flows = cap;
	}
	return ++t->n_flows;
}

static void lru_unlink(struct tt_flow_table *t, struct tt_flow *f)
{
	if (f->lru_prev)
		at(t, f->lru_prev)->lru_next = f->lru_next;
	else
		t->lru_head[f->part] = f->lru_next;
	if (f->lru_next)
		at(t, f->lru_next)->lru_prev = f->lru_prev;
	else
		t->lru_tail[f->part] = f->lru_prev;
}

static void lru_append(struct tt_flow_table *t, struct tt_flow *f, uint32_t idx1)
{
	f->lru_prev = t->lru_tail[f->part];
	f->lru_next = 0;
	if (t->lru_tail[f->part])
		at(t, t->lru_tail[f->part])->lru_next = idx1;
	else
		t->lru_head[f->part] = idx1;
	t->lru_tail[f->part] = idx1;
}

static uint32_t index_of(struct tt_flow_table *t, const struct tt_flow *f)
{
	return (uint32_t)(f - t->flows) + 1;
}

struct tt_flow *tt_flow_table_insert(
    struct tt_flow_table *t, const struct tt_flow_key *k, uint32_t hash)
{
	uint32_t idx1, n_after = t->free_head ? t->n_flows : t->n_flows + 1;
	struct tt_flow *f;

	/* Make room in the slots first: a failure then leaves nothing half done (a slab
	 * entry taken with its key set would look like a live flow to a slab walk).
	 * n_flows counts slab entries, live or free: an upper bound of the load. */
	if ((uint64_t)n_after * 2 > t->mask + 1 && grow_slots(t) < 0)
		return NULL;
	idx1 = alloc_flow(t);
	if (!idx1)
		return NULL;
	f = at(t, idx1);
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->hash = hash;
	f->part = (uint8_t)tt_partition_of(hash);
	place(t, (uint64_t)hash << 32 | idx1);
	lru_append(t, f, idx1);
	t->n_live[f->part]++;
	return f;
}

void tt_flow_table_remove(struct tt_flow_table *t, struct tt_flow *f)
{
	uint32_t idx1 = index_of(t, f), i = f->hash & t->mask, j;

	while ((uint32_t)t->slots[i] != idx1)
		i = (i + 1) & t->mask;
	/* Backward shift: pull later members of the probe run into the hole. */
	for (j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		uint32_t home = (uint32_t)(t->slots[j] >> 32) & t->mask;

		/* Move slot j to i if its home is not in the cyclic range (i, j]. */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
	f->key.ip_version = 0; /* free: see tt_flow_is_live() */
	lru_unlink(t, f);
	t->n_live[f->part]--;
	f->lru_next = t->free_head;
	t->free_head = idx1;
}

void tt_flow_table_touch(struct tt_flow_table *t, struct tt_flow *f)
{
	uint32_t idx1 = index_of(t, f);

	if (t->lru_tail[f->part] == idx1)
		return;
	lru_unlink(t, f);
	lru_append(t, f, idx1);
}

void tt_flow_table_clear(struct tt_flow_table *t)
{
	memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof(*t->slots));
	t->n_flows = 0;
	t->free_head = 0;
	memset(t->lru_head, 0, sizeof(t->lru_head));
	memset(t->lru_tail, 0, sizeof(t->lru_tail));
	memset(t->n_live, 0, sizeof(t->n_live));
}

struct tt_flow *tt_flow_table_oldest(struct tt_flow_table *t, unsigned part)
{
	return t->lru_head[part] ? at(t, t->lru_head[part]) : NULL;
}
