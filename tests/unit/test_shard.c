/* Shard selection (src/lib/shard.c, tt_shard_range): contiguous ranges that cover every
 * file once, balanced by bytes, the same every time. Which capture sets a shard reads
 * (kept whole) and merge == single run are checked on real captures by
 * tests/cli/test_shard.py. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>

#include "lib.h"

TestSuite(shard, .timeout = 10);

/* Check the ranges of count shards over sizes: contiguous, in order, covering [0, n). */
static void check_cover(const uint64_t *sizes, size_t n, unsigned count)
{
	size_t expect_lo = 0;

	for (unsigned i = 0; i < count; i++) {
		size_t lo, hi;

		tt_shard_range(sizes, n, i, count, &lo, &hi);
		cr_assert_eq(
		    lo, expect_lo, "shard %u/%u starts at %zu, not %zu", i, count, lo, expect_lo);
		cr_assert_leq(lo, hi, "shard %u/%u: [%zu, %zu)", i, count, lo, hi);
		expect_lo = hi;
	}
	cr_assert_eq(expect_lo, n, "the shards of %u cover %zu of %zu files", count, expect_lo, n);
}

Test(shard, ranges_cover_every_file_once)
{
	uint64_t sizes[37];

	for (size_t k = 0; k < 37; k++)
		sizes[k] = (k * 7919u) % 1000 + (k % 5 == 0 ? 0 : 1);
	for (unsigned count = 1; count <= 40; count++) {
		check_cover(sizes, 37, count);
		check_cover(sizes, 1, count);
	}
}

Test(shard, one_shard_takes_all)
{
	uint64_t sizes[3] = {10, 20, 30};
	size_t lo, hi;

	tt_shard_range(sizes, 3, 0, 1, &lo, &hi);
	cr_assert_eq(lo, 0);
	cr_assert_eq(hi, 3);
}

Test(shard, balanced_by_bytes_not_by_count)
{
	/* One big file and nine small ones: the big file is a shard of its own. */
	uint64_t sizes[10] = {900, 10, 10, 10, 10, 10, 10, 10, 10, 10};
	size_t lo, hi;

	tt_shard_range(sizes, 10, 0, 2, &lo, &hi);
	cr_assert_eq(lo, 0);
	cr_assert_eq(hi, 1, "the 900-byte file alone is half the bytes: shard 0 is [0, %zu)", hi);
	tt_shard_range(sizes, 10, 1, 2, &lo, &hi);
	cr_assert_eq(lo, 1);
	cr_assert_eq(hi, 10);
}

Test(shard, equal_files_spread_evenly)
{
	uint64_t sizes[16];

	for (size_t k = 0; k < 16; k++)
		sizes[k] = 1u << 20;
	for (unsigned i = 0; i < 4; i++) {
		size_t lo, hi;

		tt_shard_range(sizes, 16, i, 4, &lo, &hi);
		cr_assert_eq(lo, 4u * i, "shard %u/4 starts at %zu", i, lo);
		cr_assert_eq(hi, 4u * i + 4, "shard %u/4 ends at %zu", i, hi);
	}
}

Test(shard, bytes_within_one_file_of_the_ideal)
{
	/* Each shard's bytes differ from total/count by less than the largest file. */
	enum { N = 200 };
	uint64_t sizes[N], total = 0, largest = 0;

	srand(7);
	for (size_t k = 0; k < N; k++) {
		sizes[k] = (uint64_t)(rand() % 100000) + 1;
		total += sizes[k];
		largest = sizes[k] > largest ? sizes[k] : largest;
	}
	for (unsigned count = 1; count <= 16; count *= 2)
		for (unsigned i = 0; i < count; i++) {
			size_t lo, hi;
			uint64_t got = 0;
			double ideal = (double)total / count;

			tt_shard_range(sizes, N, i, count, &lo, &hi);
			for (size_t k = lo; k < hi; k++)
				got += sizes[k];
			cr_expect_lt(
			    (double)got > ideal ? (double)got - ideal : ideal - (double)got,
			    (double)largest, "shard %u/%u has %llu bytes, ideal %.0f", i, count,
			    (unsigned long long)got, ideal);
		}
}

Test(shard, more_shards_than_files_leaves_some_empty)
{
	uint64_t sizes[2] = {100, 100};
	unsigned n_empty = 0;

	for (unsigned i = 0; i < 5; i++) {
		size_t lo, hi;

		tt_shard_range(sizes, 2, i, 5, &lo, &hi);
		n_empty += lo == hi;
	}
	cr_assert_eq(n_empty, 3);
	check_cover(sizes, 2, 5);
}

Test(shard, empty_files_are_spread_by_count)
{
	uint64_t sizes[8] = {0};

	for (unsigned i = 0; i < 4; i++) {
		size_t lo, hi;

		tt_shard_range(sizes, 8, i, 4, &lo, &hi);
		cr_assert_eq(hi - lo, 2, "shard %u/4: [%zu, %zu)", i, lo, hi);
	}
}

Test(shard, deterministic)
{
	uint64_t sizes[50];

	for (size_t k = 0; k < 50; k++)
		sizes[k] = (uint64_t)k * k * 1000003u;
	for (unsigned i = 0; i < 8; i++) {
		size_t lo1, hi1, lo2, hi2;

		tt_shard_range(sizes, 50, i, 8, &lo1, &hi1);
		tt_shard_range(sizes, 50, i, 8, &lo2, &hi2);
		cr_assert_eq(lo1, lo2);
		cr_assert_eq(hi1, hi2);
	}
}
