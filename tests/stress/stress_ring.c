/* Ring stress, for TSan: one producer and one consumer thread move 2 million items through
 * small rings in bursts of random size; the consumer checks order and content. Plain
 * main() because Criterion does not run under TSan. Exit 0 = pass. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/core/core.h"

#define N_ITEMS 2000000u

struct item {
	uint64_t seq;
	uint64_t check;
};

static void *producer(void *arg)
{
	struct tt_ring *r = arg;
	struct item batch[37];
	uint64_t seq = 0, s = 12345;

	while (seq < N_ITEMS) {
		uint32_t n;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		n = (uint32_t)(s >> 59) + 1; /* 1..32 */
		if (n > N_ITEMS - seq)
			n = (uint32_t)(N_ITEMS - seq);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = (struct item){seq + i, (seq + i) * 0x9e3779b97f4a7c15ull};
		tt_ring_push_all(r, batch, n);
		seq += n;
	}
	return NULL;
}

int main(void)
{
	uint32_t caps[] = {64, 1024};

	for (unsigned c = 0; c < 2; c++) {
		struct tt_ring r;
		struct item out[32];
		struct tt_backoff b = {0};
		pthread_t t;
		uint64_t next = 0;

		if (tt_ring_init(&r, caps[c], sizeof(struct item)) != 0)
			return 1;
		pthread_create(&t, NULL, producer, &r);
		while (next < N_ITEMS) {
			uint32_t n = tt_ring_pop(&r, out, 32);

			if (n == 0) {
				tt_ring_wait_pop(&r, &b);
				continue;
			}
			b.n = 0;
			for (uint32_t i = 0; i < n; i++, next++) {
				if (out[i].seq != next ||
				    out[i].check != next * 0x9e3779b97f4a7c15ull) {
					fprintf(stderr, "ring: item %llu out of order or torn\n",
					    (unsigned long long)next);
					return 1;
				}
			}
		}
		pthread_join(t, NULL);
		tt_ring_fini(&r);
		printf("ring capacity %u: %u items in order\n", caps[c], N_ITEMS);
	}
	return 0;
}
