/* The aggregator's sort and external merge (src/aggregate/spill.c) on N records shaped
 * like gen_many_flows.c's (distinct first timestamps, one per flow), with qsort over the
 * 72-byte refs as the same-run baseline (what the aggregator did before).
 * TT_BENCH_SORT_N (default 2000000) records; runs of TT_BENCH_SORT_RUN (default 200000)
 * are spilled to $TMPDIR and merged. Prints `name: N items in S s = X M/s`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tortrace/tortrace.h"
#include "../src/aggregate/aggregate.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void result(const char *name, size_t n, double secs)
{
	printf("%s: %zu items in %.3f s = %.2f M/s\n", name, n, secs, (double)n / secs / 1e6);
}

static int count(void *ctx, const struct tt_rec_ref *r)
{
	(void)r;
	(*(size_t *)ctx)++;
	return 0;
}

int main(void)
{
	const char *e = getenv("TT_BENCH_SORT_N"), *er = getenv("TT_BENCH_SORT_RUN");
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	size_t n = e ? strtoull(e, NULL, 10) : 2000000,
	       per_run = er ? strtoull(er, NULL, 10) : 200000;
	struct tt_rec_ref *v = calloc(n, sizeof(*v)), *w = malloc(n * sizeof(*w));
	uint8_t *bytes = calloc(n, 200);
	struct tt_spill *s = tt_spill_new(tmp);
	uint32_t *order;
	size_t n_out = 0;
	double t;

	if (!v || !w || !bytes || !s || per_run == 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		/* gen_many_flows: time i * 60 / n s plus i % 1e6 µs, shuffled by the workers */
		size_t j = (i * 2654435761u) % n;

		v[i].first_ts_ns =
		    1715965200000000000ull + j * 60000000000ull / n + j % 1000000 * 1000;
		v[i].last_ts_ns = v[i].first_ts_ns;
		v[i].proto = 6;
		memcpy(v[i].src_ip, &j, sizeof(j));
		v[i].data = bytes + 200 * i;
		v[i].len = 200;
	}
	memcpy(w, v, n * sizeof(*w));
	t = now();
	qsort(w, n, sizeof(*w), tt_rec_ref_cmp);
	result("sort_qsort_baseline", n, now() - t);
	t = now();
	if (tt_rec_ref_sort(v, n, &order) < 0)
		return 1;
	result("sort_radix", n, now() - t);
	for (size_t i = 0; i < n; i++)
		if (tt_rec_ref_cmp(&v[order[i]], &w[i]) != 0)
			return 1;
	free(order);
	t = now();
	for (size_t i = 0; i < n; i += per_run) {
		size_t k = n - i < per_run ? n - i : per_run;

		if (tt_rec_ref_sort(v + i, k, &order) < 0 || tt_spill_run(s, v + i, order, k) < 0)
			return 1;
		free(order);
	}
	if (tt_spill_merge(s, NULL, NULL, 0, count, &n_out) < 0 || n_out != n)
		return 1;
	result("spill_and_merge", n, now() - t);
	tt_spill_free(s);
	free(bytes);
	free(w);
	free(v);
	return 0;
}
