/* The flow table and the first-payload inspector. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/workers/workers.h"

TestSuite(workers, .timeout = 20);

static void key(struct tt_flow_key *k, uint32_t i)
{
	uint8_t a[16] = {10, 0, 0, 0}, b[16] = {10, 1, 0, 0};

	memcpy(a + 1, &i, 3);
	tt_flow_key_make(k, 4, 6, a, b, (uint16_t)i, 443);
}

/* Random inserts and removes against a reference array; a tiny hash space forces long
 * probe runs so that backward-shift deletion is exercised. */
Test(workers, flow_table_matches_reference_under_churn)
{
	enum { N = 20000 };
	struct tt_flow_table t;
	bool *live = calloc(N, sizeof(*live));
	uint64_t s = 0x9e3779b97f4a7c15ull;

	cr_assert_eq(tt_flow_table_init(&t), 0);
	for (int op = 0; op < 200000; op++) {
		struct tt_flow_key k;
		struct tt_flow *f;
		uint32_t i, h;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		i = (uint32_t)(s % N);
		h = (uint32_t)(i * 2654435761u) & 0x3ff; /* only 1024 distinct hashes */
		key(&k, i);
		f = tt_flow_table_find(&t, &k, h);
		cr_assert_eq(f != NULL, live[i], "op %d key %u", op, i);
		if (f) {
			cr_assert_eq(f->rec.src_port, (uint16_t)i);
			tt_flow_table_remove(&t, f);
			live[i] = false;
		} else {
			f = tt_flow_table_insert(&t, &k, h);
			cr_assert(f);
			f->rec.src_port = (uint16_t)i;
			live[i] = true;
		}
	}
	for (uint32_t i = 0; i < N; i++) {
		struct tt_flow_key k;

		key(&k, i);
		cr_assert_eq(
		    tt_flow_table_find(&t, &k, (uint32_t)(i * 2654435761u) & 0x3ff) != NULL,
		    live[i]);
	}
	tt_flow_table_fini(&t);
	free(live);
}

Test(workers, lru_order_follows_touches)
{
	struct tt_flow_table t;
	struct tt_flow_key k[3];
	struct tt_flow *f[3];

	cr_assert_eq(tt_flow_table_init(&t), 0);
	for (int i = 0; i < 3; i++) {
		key(&k[i], (uint32_t)i);
		f[i] = tt_flow_table_insert(&t, &k[i], (uint32_t)i);
		f[i]->rec.src_port = (uint16_t)i;
	}
	cr_expect_eq(tt_flow_table_oldest(&t)->rec.src_port, 0);
	tt_flow_table_touch(&t, tt_flow_table_find(&t, &k[0], 0));
	cr_expect_eq(tt_flow_table_oldest(&t)->rec.src_port, 1);
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[1], 1));
	cr_expect_eq(tt_flow_table_oldest(&t)->rec.src_port, 2);
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[2], 2));
	tt_flow_table_remove(&t, tt_flow_table_find(&t, &k[0], 0));
	cr_expect_null(tt_flow_table_oldest(&t));
	tt_flow_table_fini(&t);
}

Test(workers, first_payload_names_the_protocol)
{
	const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};

	cr_expect_eq(tt_inspect_first_payload(6, 5000, 9001, tls, sizeof(tls)), TT_APP_TLS);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 80, (const uint8_t *)"GET /tor/ HTTP/1.0", 18),
	    TT_APP_HTTP);
	cr_expect_eq(tt_inspect_first_payload(6, 22, 5000, (const uint8_t *)"SSH-2.0-OpenSSH", 15),
	    TT_APP_SSH);
	cr_expect_eq(tt_inspect_first_payload(17, 5000, 53, tls, 1), TT_APP_DNS);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 443, (const uint8_t *)"\x8f\x11", 2), TT_APP_UNKNOWN);
	cr_expect_eq(
	    tt_inspect_first_payload(6, 5000, 443, (const uint8_t *)"GE", 2), TT_APP_UNKNOWN);
}
