/* The aggregator's sort and external merge (src/aggregate/spill.c): the order is the one
 * of qsort with tt_rec_ref_cmp, runs merge in passes past the fan-in, and a run cut short
 * is an error, never its end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../src/aggregate/aggregate.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tt_test_tmpdir();
	tt_log_set_level(-1); /* the errors below are expected */
}

static void teardown(void)
{
	tt_test_rmrf(dir);
	free(dir);
}

TestSuite(spill, .init = setup, .fini = teardown, .timeout = 60);

/* n records with pseudo-random keys, many with equal first timestamps; each record's
 * bytes are its number, so the output can be checked. */
static struct tt_rec_ref *make(size_t n, uint32_t seed, uint32_t *bytes)
{
	struct tt_rec_ref *v = calloc(n, sizeof(*v));
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		v[i].first_ts_ns = 1700000000000000000ull + (x >> 8) % (n / 2 + 1);
		v[i].last_ts_ns = v[i].first_ts_ns + (x & 255);
		v[i].proto = (x & 1) ? 6 : 17;
		v[i].src_ip[15] = (uint8_t)(x >> 3);
		v[i].src_port = (uint16_t)(x >> 11);
		bytes[i] = (uint32_t)i + seed * 1000000u;
		v[i].data = (const uint8_t *)&bytes[i];
		v[i].len = sizeof(bytes[i]);
	}
	return v;
}

struct collect {
	struct tt_rec_ref *v;
	uint32_t *bytes;
	size_t n, cap;
};

static int collect(void *ctx, const struct tt_rec_ref *r)
{
	struct collect *c = ctx;

	cr_assert_lt(c->n, c->cap);
	cr_assert_eq(r->len, 4);
	memcpy(&c->bytes[c->n], r->data, 4);
	c->v[c->n] = *r;
	c->v[c->n].data = (const uint8_t *)&c->bytes[c->n];
	c->n++;
	return 0;
}

Test(spill, sort_order_is_the_comparator_order)
{
	size_t n = 5000;
	uint32_t *bytes = malloc(n * sizeof(*bytes)), *order;
	struct tt_rec_ref *v = make(n, 1, bytes), *w = malloc(n * sizeof(*w));

	memcpy(w, v, n * sizeof(*w));
	qsort(w, n, sizeof(*w), tt_rec_ref_cmp);
	cr_assert_eq(tt_rec_ref_sort(v, n, &order), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(tt_rec_ref_cmp(&v[order[i]], &w[i]), 0, "at %zu", i);
	free(order);
	free(w);
	free(v);
	free(bytes);
}

/* Spill n_runs runs of per_run records and merge them with `extra` records in memory. */
static int spill_and_merge(
    size_t n_runs, size_t per_run, size_t extra, bool is_cut, struct collect *c, size_t *n_total)
{
	struct tt_spill *s = tt_spill_new(dir);
	size_t n = n_runs * per_run + extra;
	uint32_t *bytes = malloc(n * sizeof(*bytes)), *order;
	struct tt_rec_ref *all = malloc(n * sizeof(*all));
	int rc;

	cr_assert(s);
	for (size_t r = 0; r < n_runs; r++) {
		struct tt_rec_ref *v = make(per_run, (uint32_t)r + 1, bytes + r * per_run);

		cr_assert_eq(tt_rec_ref_sort(v, per_run, &order), 0);
		cr_assert_eq(tt_spill_run(s, v, order, per_run), 0);
		memcpy(all + r * per_run, v, per_run * sizeof(*v));
		free(order);
		free(v);
	}
	{
		struct tt_rec_ref *v = make(extra, 999, bytes + n_runs * per_run);

		memcpy(all + n_runs * per_run, v, extra * sizeof(*v));
		free(v);
	}
	if (is_cut) /* the file loses its last 100 bytes */
		cr_assert_eq(
		    ftruncate(tt_spill_fd(s), lseek(tt_spill_fd(s), 0, SEEK_END) - 100), 0);
	cr_assert_eq(tt_spill_n_runs(s), n_runs);
	c->cap = n;
	c->v = malloc(n * sizeof(*c->v));
	c->bytes = malloc(n * sizeof(*c->bytes));
	cr_assert_eq(tt_rec_ref_sort(all + n_runs * per_run, extra, &order), 0);
	rc = tt_spill_merge(s, all + n_runs * per_run, order, extra, collect, c);
	free(order);
	/* The reference: everything sorted in memory. */
	if (rc == 0) {
		qsort(all, n, sizeof(*all), tt_rec_ref_cmp);
		cr_assert_eq(c->n, n);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(tt_rec_ref_cmp(&c->v[i], &all[i]), 0, "at %zu", i);
			cr_assert_eq(memcmp(c->v[i].data, all[i].data, 4), 0, "at %zu", i);
		}
	}
	*n_total = n;
	tt_spill_free(s);
	free(all);
	free(bytes);
	return rc;
}

Test(spill, merge_of_few_runs_equals_a_sort)
{
	struct collect c = {0};
	size_t n;

	cr_assert_eq(spill_and_merge(5, 1000, 777, false, &c, &n), 0);
	free(c.v);
	free(c.bytes);
}

Test(spill, more_runs_than_the_fan_in_merge_in_passes)
{
	struct collect c = {0};
	size_t n;

	/* 64 * 64 + 3 runs: two passes before the final merge. */
	cr_assert_eq(spill_and_merge(TT_SPILL_FANIN * TT_SPILL_FANIN + 3, 7, 50, false, &c, &n), 0);
	free(c.v);
	free(c.bytes);
}

Test(spill, a_short_run_is_an_error)
{
	struct collect c = {0};
	size_t n;
	int rc = spill_and_merge(3, 2000, 10, true, &c, &n);

	cr_assert(rc == -EIO || rc == -EBADMSG, "rc %d, %zu of %zu records", rc, c.n, n);
	cr_assert_lt(c.n, n);
	free(c.v);
	free(c.bytes);
}
