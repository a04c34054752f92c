/* The job queue of tortrace serve (src/serve/jobs.c): liburcu's wfcqueue, many producers
 * (HTTP threads) and one consumer, against the same-run baseline of a mutex-protected
 * list. Each item is a heap node as a job is. Prints
 *   jobq_<kind>: N items in S s = X M/s
 * for 1 and 4 producers. On 2 vCPUs the numbers are noisy; compare within one run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <urcu/wfcqueue.h>

#define N_ITEMS 2000000u

struct item {
	struct cds_wfcq_node node;
	struct item *next; /* the baseline's list */
	uint64_t v;
};

static struct cds_wfcq_head q_head;
static struct cds_wfcq_tail q_tail;
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct item *list_head, *list_tail;
static unsigned n_producers;
static atomic_uint producers_done;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *produce_wfcq(void *arg)
{
	struct item *items = arg;

	for (unsigned i = 0; i < N_ITEMS / n_producers; i++) {
		cds_wfcq_node_init(&items[i].node);
		cds_wfcq_enqueue(&q_head, &q_tail, &items[i].node);
	}
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

static void *produce_list(void *arg)
{
	struct item *items = arg;

	for (unsigned i = 0; i < N_ITEMS / n_producers; i++) {
		items[i].next = NULL;
		pthread_mutex_lock(&list_lock);
		if (list_tail)
			list_tail->next = &items[i];
		else
			list_head = &items[i];
		list_tail = &items[i];
		pthread_mutex_unlock(&list_lock);
	}
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

/* Run n producers of one kind and consume everything on this thread. */
static void run(const char *kind, unsigned n, int is_wfcq)
{
	pthread_t t[8];
	struct item *items = calloc(N_ITEMS, sizeof(*items));
	uint64_t got = 0, sum = 0;
	double t0;

	if (!items)
		exit(1);
	n_producers = n;
	atomic_store(&producers_done, 0);
	cds_wfcq_init(&q_head, &q_tail);
	list_head = list_tail = NULL;
	t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		pthread_create(&t[i], NULL, is_wfcq ? produce_wfcq : produce_list,
		    items + (size_t)i * (N_ITEMS / n));
	while (got < (uint64_t)(N_ITEMS / n) * n) {
		if (is_wfcq) {
			struct cds_wfcq_node *node = cds_wfcq_dequeue_blocking(&q_head, &q_tail);

			if (node) {
				sum += caa_container_of(node, struct item, node)->v;
				got++;
			}
		} else {
			struct item *it;

			pthread_mutex_lock(&list_lock);
			it = list_head;
			if (it) {
				list_head = it->next;
				if (!list_head)
					list_tail = NULL;
			}
			pthread_mutex_unlock(&list_lock);
			if (it) {
				sum += it->v;
				got++;
			}
		}
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("jobq_%s_%up: %llu items in %.3f s = %.1f M/s\n", kind, n, (unsigned long long)got,
	    now_s() - t0, (double)got / (now_s() - t0) / 1e6);
	cds_wfcq_destroy(&q_head, &q_tail);
	free(items);
	(void)sum;
}

int main(void)
{
	for (unsigned n = 1; n <= 4; n *= 4) {
		run("wfcqueue", n, 1);
		run("mutex_list", n, 0); /* baseline */
	}
	return 0;
}
