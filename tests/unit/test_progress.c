/* Progress through the public API: tt_analyze() reports to the caller's callback, on the
 * caller's thread, ending with one final call, and never draws anything itself. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "tortrace/tortrace.h"
#include "../../src/core/core.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tt_test_tmpdir();
	tt_log_set_level(-1);
	cr_redirect_stderr();
}

static void teardown(void)
{
	tt_test_rmrf(dir);
	free(dir);
}

TestSuite(progress, .init = setup, .fini = teardown, .timeout = 60);

struct seen {
	pthread_t caller;
	unsigned n_calls, n_final, n_other_thread;
	struct tt_progress last;
	bool is_after_final;
};

static void on_progress(const struct tt_progress *p, void *ctx)
{
	struct seen *s = ctx;

	if (s->n_final)
		s->is_after_final = true;
	s->n_calls++;
	s->n_final += p->is_final;
	if (!pthread_equal(pthread_self(), s->caller))
		s->n_other_thread++;
	s->last = *p;
}

static int analyze(bool show_progress, struct seen *s)
{
	static const char *const paths[] = {
	    TT_TEST_DATA "/tls/tor2013.pcap",
	    TT_TEST_DATA "/tls/bets.pcap",
	};
	struct tt_config cfg;
	char out[4096];

	snprintf(out, sizeof(out), "%s/out", dir);
	tt_config_defaults(&cfg);
	cfg.paths = paths;
	cfg.n_paths = 2;
	cfg.out_dir = out;
	cfg.n_workers = 2;
	cfg.hash_mode = -1;
	cfg.show_progress = show_progress;
	if (s) {
		s->caller = pthread_self();
		cfg.progress = on_progress;
		cfg.progress_ctx = s;
	}
	return tt_analyze(&cfg);
}

Test(progress, callback_on_the_callers_thread_ends_with_one_final_call)
{
	struct seen s = {0};

	cr_assert_eq(analyze(false, &s), TT_STATUS_OK);
	cr_assert_geq(s.n_calls, 2);
	cr_assert_eq(s.n_final, 1);
	cr_assert(!s.is_after_final);
	cr_assert_eq(s.n_other_thread, 0);
	cr_assert(s.last.is_final);
	cr_assert_eq(s.last.files_total, 2);
	cr_assert_eq(s.last.files_done, 2);
	cr_assert_gt(s.last.bytes_total, 0);
	cr_assert_eq(s.last.bytes_done, s.last.bytes_total);
	cr_assert_gt(s.last.elapsed_ns, 0);
}

Test(progress, the_library_draws_nothing)
{
	/* show_progress was the library's cue to draw on stderr; now only the CLI draws. */
	cr_assert_eq(analyze(true, NULL), TT_STATUS_OK);
	fflush(stderr);
	cr_assert_stderr_eq_str("");
}
