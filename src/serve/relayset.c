/* Relay data replaced while the server runs (POST /api/relays, SIGHUP), published with
 * liburcu's RCU so that nothing waits for it:
 *
 * - A runner that starts an analysis takes a reference inside a read-side critical
 *   section: rcu_read_lock(), rcu_dereference(cur), refs + 1, rcu_read_unlock(). The
 *   section is a few instructions long; the analysis (seconds or hours) then runs on its
 *   own reference, outside it, so a reload never waits for an analysis.
 * - A reload builds the new index first (the slow part, under reload_lock only, which
 *   only other reloads take), swaps the pointer with rcu_xchg_pointer(), waits one grace
 *   period (synchronize_rcu(): every reader that could still see the old pointer has left
 *   its short section, so none can take a new reference to it) and drops the published
 *   pointer's reference. The old index is freed when the last analysis using it releases
 *   its reference: running jobs finish on the index they started with.
 * Readers must be registered threads (the runners register; HTTP threads never read). */
#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include "relays.h"

/* ThreadSanitizer does not see liburcu's publication (its atomics are not instrumented):
 * rcu_xchg_pointer() orders the index's construction before the pointer, rcu_dereference()
 * the pointer before what it points to, but TSan reports the reader's first access as a
 * race with the loader's writes. These annotations tell it about that edge, and nothing
 * else; they compile to nothing without TSan. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define PUBLISHING(p) __tsan_release(p)
#define PUBLISHED(p)  __tsan_acquire(p)
#else
#define PUBLISHING(p) ((void)(p))
#define PUBLISHED(p)  ((void)(p))
#endif

void tt_relaypub_init(struct tt_relaypub *p)
{
	p->cur = NULL;
	pthread_mutex_init(&p->reload_lock, NULL);
	atomic_init(&p->generation, 0);
	atomic_init(&p->n_reloads, 0);
}

void tt_relayset_put(struct tt_relayset *rs)
{
	if (!rs || atomic_fetch_sub(&rs->refs, 1) != 1)
		return;
	tt_relays_free(rs->idx);
	free(rs->path);
	free(rs);
}

int tt_relaypub_load(struct tt_relaypub *p, const char *path, char *err, size_t err_len)
{
	struct tt_relayset *rs = calloc(1, sizeof(*rs)), *old;
	struct tt_relays_info info;
	struct timespec ts;
	int rc;

	if (!rs || !(rs->path = strdup(path))) {
		free(rs);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->reload_lock);
	rc = tt_relays_open(path, NULL, &rs->idx);
	if (rc < 0) {
		snprintf(err, err_len, "cannot load relay data %s: %s", path, strerror(-rc));
		goto err;
	}
	if (tt_relays_is_empty(rs->idx)) {
		char why[200];

		tt_relays_describe_empty(rs->idx, why, sizeof(why));
		snprintf(err, err_len, "relay data %s holds no relay entries: %s", path, why);
		rc = -EINVAL;
		goto err;
	}
	tt_relays_get_info(rs->idx, &info);
	rs->n_relays = info.n_relays;
	rs->n_docs = info.n_docs;
	snprintf(rs->digest, sizeof(rs->digest), "%s", tt_relays_digest(rs->idx));
	clock_gettime(CLOCK_REALTIME, &ts);
	rs->loaded_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	rs->generation = atomic_fetch_add(&p->generation, 1) + 1;
	atomic_init(&rs->refs, 1); /* the published pointer's */
	PUBLISHING(rs);
	old = rcu_xchg_pointer(&p->cur, rs);
	synchronize_rcu();
	tt_relayset_put(old);
	atomic_fetch_add(&p->n_reloads, 1);
	pthread_mutex_unlock(&p->reload_lock);
	return 0;
err:
	pthread_mutex_unlock(&p->reload_lock);
	tt_relays_free(rs->idx);
	free(rs->path);
	free(rs);
	return rc;
}

struct tt_relayset *tt_relaypub_get(struct tt_relaypub *p)
{
	struct tt_relayset *rs;

	rcu_read_lock();
	rs = rcu_dereference(p->cur);
	/* Inside the section the published pointer's reference keeps rs alive: a reload
	 * drops it only after a grace period, which waits for this section to end. */
	if (rs) {
		PUBLISHED(rs);
		atomic_fetch_add(&rs->refs, 1);
	}
	rcu_read_unlock();
	return rs;
}

void tt_relaypub_fini(struct tt_relaypub *p)
{
	struct tt_relayset *old = rcu_xchg_pointer(&p->cur, NULL);

	synchronize_rcu();
	tt_relayset_put(old);
	pthread_mutex_destroy(&p->reload_lock);
}
