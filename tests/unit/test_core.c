/* The SPSC ring, chunks, and the record codec. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tortrace/record.h"
#include "../../src/core/core.h"

TestSuite(core, .timeout = 10);

Test(core, ring_rejects_bad_capacity)
{
	struct tt_ring r;

	cr_expect_eq(tt_ring_init(&r, 0, 8), -EINVAL);
	cr_expect_eq(tt_ring_init(&r, 100, 8), -EINVAL);
	cr_expect_eq(tt_ring_init(&r, 64, 0), -EINVAL);
}

Test(core, ring_fills_drains_and_wraps_in_order)
{
	struct tt_ring r;
	uint64_t in[40], out[40], next_in = 0, next_out = 0;

	cr_assert_eq(tt_ring_init(&r, 64, sizeof(uint64_t)), 0);
	cr_expect_eq(tt_ring_pop(&r, out, 40), 0);
	for (int round = 0; round < 100; round++) {
		uint32_t want = (uint32_t)(round % 40) + 1, got;

		for (uint32_t i = 0; i < want; i++)
			in[i] = next_in + i;
		got = tt_ring_push(&r, in, want);
		next_in += got;
		got = tt_ring_pop(&r, out, (uint32_t)(round % 23) + 1);
		for (uint32_t i = 0; i < got; i++)
			cr_assert_eq(out[i], next_out + i);
		next_out += got;
	}
	/* fill to capacity: exactly 64 fit */
	while (tt_ring_pop(&r, out, 40) > 0)
		;
	for (int i = 0; i < 64; i++)
		cr_assert_eq(tt_ring_push(&r, in, 1), 1);
	cr_expect_eq(tt_ring_push(&r, in, 1), 0);
	tt_ring_fini(&r);
}

Test(core, chunk_freed_by_last_reference)
{
	struct tt_chunk *c = tt_chunk_new(100);

	cr_assert(c);
	atomic_store(&c->refs, 3);
	tt_chunk_put(c);
	tt_chunk_put(c);
	cr_expect_eq(atomic_load(&c->refs), 1);
	tt_chunk_put(c); /* frees; ASan checks */
}

static struct tt_flow_record sample(void)
{
	struct tt_flow_record r = {.src_port = 44824,
	    .dst_port = 9100,
	    .proto = 6,
	    .ip_version = 4,
	    .tcp_flags = {0x1a, 0x12},
	    .end = TT_END_IDLE,
	    .app = {TT_APP_TLS, TT_APP_TLS},
	    .flags = TT_FLOW_SYN_SEEN,
	    .file_id = 3,
	    .last_file_id = 5,
	    .first_ts_ns = 1795702867196030000ull,
	    .last_ts_ns = 1795702923476865000ull,
	    .pkts = {1120, 4774},
	    .bytes = {339428, 6652327},
	    .payload_bytes = {265500, 6337235},
	    .n_frags = 2};

	memcpy(r.src_ip, "\x0a\x4d\x00\x64", 4);
	memcpy(r.dst_ip, "\x0a\x4d\x00\x15", 4);
	return r;
}

Test(core, record_round_trip)
{
	struct tt_flow_record r = sample(), back;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t off = 0;
	char ip[48];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(tt_record_pack(&pk, &r), 0);
	r.ip_version = 6;
	memset(r.src_ip, 0xfe, 16);
	cr_assert_eq(tt_record_pack(&pk, &r), 0);
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(tt_record_unpack(&u.data, &back, NULL, NULL), 0);
	r = sample();
	cr_expect_eq(memcmp(&r, &back, sizeof(r)), 0);
	tt_record_ip_str(&back, true, ip, sizeof(ip));
	cr_expect_str_eq(ip, "10.77.0.21");
	cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(tt_record_unpack(&u.data, &back, NULL, NULL), 0);
	cr_expect_eq(back.ip_version, 6);
	tt_record_ip_str(&back, false, ip, sizeof(ip));
	cr_expect_str_eq(ip, "fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

Test(core, record_unpack_skips_unknown_keys_and_rejects_non_records)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct tt_flow_record back;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* a map without the required keys */
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "future_key", 10);
	msgpack_pack_int(&pk, 7);
	/* not a map */
	msgpack_pack_int(&pk, 7);
	msgpack_unpacked_init(&u);
	msgpack_unpack_next(&u, sb.data, sb.size, &off);
	cr_expect_eq(tt_record_unpack(&u.data, &back, NULL, NULL), -EBADMSG);
	msgpack_unpack_next(&u, sb.data, sb.size, &off);
	cr_expect_eq(tt_record_unpack(&u.data, &back, NULL, NULL), -EBADMSG);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

Test(core, record_order_is_total)
{
	struct tt_flow_record a = sample(), b = sample();

	cr_expect_eq(tt_record_cmp(&a, &b), 0);
	b.first_ts_ns++;
	cr_expect_lt(tt_record_cmp(&a, &b), 0);
	cr_expect_gt(tt_record_cmp(&b, &a), 0);
	b = sample();
	b.file_id = 2;
	cr_expect_gt(tt_record_cmp(&a, &b), 0);
	b = sample();
	b.dst_port = 1;
	cr_expect_gt(tt_record_cmp(&a, &b), 0);
}

Test(core, record_round_trip_with_tls)
{
	struct tt_flow_record r = sample(), back;
	struct tt_flow_tls tls, tls_back;
	uint8_t buf[TT_RECORD_MAX_BYTES];
	msgpack_unpacked u;
	size_t off = 0, n;

	r.flags |= TT_FLOW_TLS;
	r.tls = &tls;
	tls = (struct tt_flow_tls){.version = 0x0304,
	    .cipher = 0x1302,
	    .ch_traits = 127,
	    .n_records = 20,
	    .cell_app = {2, 5},
	    .cell_exact = {2, 4},
	    .has_ch = true,
	    .has_sh = true,
	    .is_versions = true,
	    .is_bundle = true,
	    .is_d1 = true,
	    .is_d2 = true};
	strcpy(tls.sni, "www.pbebe3uuhzp3cdh4.com");
	strcpy(tls.ja3, "5e6627dc19afa982e6b46b97808cb718");
	strcpy(tls.ja4, "t13d181100_796efca44d18_d41ae481755e");
	memset(tls.cert_subject, 'x', sizeof(tls.cert_subject) - 1); /* 63 bytes: str8 */
	n = tt_record_encode(&r, buf);
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, n);
	cr_assert_eq(tt_record_unpack(&u.data, &back, &tls_back, NULL), 0);
	cr_assert_eq(back.tls, &tls_back);
	cr_expect_eq(memcmp(&tls, &tls_back, sizeof(tls)), 0);
	back.tls = r.tls;
	cr_expect_eq(memcmp(&r, &back, sizeof(r)), 0);
	msgpack_unpacked_destroy(&u);
}

static unsigned longest_name(const char *(*name)(unsigned), unsigned n)
{
	unsigned best = 0;

	for (unsigned i = 0; i < n; i++) {
		cr_assert_lt(strlen(name(i)), 32, "name %u (%s) is not a fixstr", i, name(i));
		if (strlen(name(i)) > strlen(name(best)))
			best = i;
	}
	return best;
}

/* Every field at its largest: full-length strings, all-ones integers, IPv6, tls and relay
 * present, the longest names. The encoding must fit the bound computed from the schema
 * table (the hand count it replaces, 768, did not), and decode back equal. */
Test(core, record_at_its_largest_fits_the_computed_bound)
{
	struct tt_flow_record r, back;
	struct tt_flow_tls tls, tls_back;
	struct tt_flow_relay relay, relay_back;
	uint8_t *buf = malloc(TT_RECORD_MAX_BYTES); /* exact size, so ASan sees an overrun */
	msgpack_unpacked u;
	size_t off = 0, n;

	cr_assert(buf);
	memset(&r, 0xff, sizeof(r));
	r.ip_version = 6;
	r.app[0] = r.app[1] = (uint8_t)longest_name(tt_app_name, TT_APP_COUNT);
	r.end = (uint8_t)longest_name(tt_end_name, TT_END_EVICT + 1);
	r.initiator = (uint8_t)longest_name(tt_initiator_name, TT_INIT_COUNT);
	r.verdict = (uint8_t)longest_name(tt_verdict_name, TT_VERDICT_COUNT);
	r.score = 0.987654f;
	r.tls = &tls;
	r.relay = &relay;
	memset(&tls, 0xff, sizeof(tls));
	tls.has_ch = tls.has_sh = tls.has_cert = true;
	tls.is_versions = tls.is_bundle = tls.is_d1 = tls.is_d2 = true;
	tls.is_midstream = tls.is_d3 = tls.is_d4 = true;
	memset(tls.sni, 's', sizeof(tls.sni) - 1);
	tls.sni[sizeof(tls.sni) - 1] = '\0';
	memset(tls.ja3, 'a', sizeof(tls.ja3) - 1);
	tls.ja3[sizeof(tls.ja3) - 1] = '\0';
	memset(tls.ja4, 'b', sizeof(tls.ja4) - 1);
	tls.ja4[sizeof(tls.ja4) - 1] = '\0';
	memset(tls.cert_subject, 'c', sizeof(tls.cert_subject) - 1);
	tls.cert_subject[sizeof(tls.cert_subject) - 1] = '\0';
	memset(tls.cert_issuer, 'd', sizeof(tls.cert_issuer) - 1);
	tls.cert_issuer[sizeof(tls.cert_issuer) - 1] = '\0';
	memset(&relay, 0xff, sizeof(relay));
	relay.is_src = 1;
	memset(relay.fingerprint, 'F', sizeof(relay.fingerprint) - 1);
	relay.fingerprint[sizeof(relay.fingerprint) - 1] = '\0';
	memset(relay.nickname, 'n', sizeof(relay.nickname) - 1);
	relay.nickname[sizeof(relay.nickname) - 1] = '\0';

	n = tt_record_encode(&r, buf);
	cr_log_info("largest record: %zu bytes, bound %d", n, (int)TT_RECORD_MAX_BYTES);
	cr_assert_leq(n, TT_RECORD_MAX_BYTES);
	cr_expect_gt(n, 768, "the old hand count was not exceeded: is every field at its max?");
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, n);
	cr_assert_eq(tt_record_unpack(&u.data, &back, &tls_back, &relay_back), 0);
	cr_assert_eq(back.tls, &tls_back);
	cr_assert_eq(back.relay, &relay_back);
	/* The structs' padding is 0xff in r and 0 in back, so compare what the fields say:
	 * every field is encoded, so equal fields re-encode to the same bytes. */
	{
		uint8_t *again = malloc(TT_RECORD_MAX_BYTES);

		cr_assert(again);
		cr_assert_eq(tt_record_encode(&back, again), n);
		cr_expect_eq(memcmp(buf, again, n), 0);
		free(again);
	}
	cr_expect_eq(back.n_frags, UINT64_MAX);
	cr_expect_eq(back.file_id, UINT32_MAX);
	cr_expect_eq(back.dst_port, UINT16_MAX);
	cr_expect_eq(memcmp(back.src_ip, r.src_ip, 16), 0);
	cr_expect_float_eq(back.score, r.score, 1e-9);
	cr_expect_str_eq(tls_back.cert_issuer, tls.cert_issuer);
	cr_expect_eq(tls_back.cell_exact[1], 0xff);
	cr_expect(tls_back.is_d2);
	cr_expect_str_eq(relay_back.fingerprint, relay.fingerprint);
	cr_expect_eq(relay_back.to_ns, UINT64_MAX);
	cr_expect_eq(relay_back.is_src, 1);
	msgpack_unpacked_destroy(&u);
	free(buf);
}

Test(core, record_decodes_keys_in_any_order_and_the_evict_end)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct tt_flow_record back;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	msgpack_pack_str_with_body(&pk, "end", 3);
	msgpack_pack_str_with_body(&pk, "evict", 5);
	msgpack_pack_str_with_body(&pk, "dst", 3);
	msgpack_pack_bin_with_body(&pk, "\x0a\x00\x00\x02", 4);
	msgpack_pack_int(&pk, 5); /* a key that is not a string: skipped */
	msgpack_pack_int(&pk, 5);
	msgpack_pack_str_with_body(&pk, "src", 3);
	msgpack_pack_bin_with_body(&pk, "\x0a\x00\x00\x01", 4);
	msgpack_pack_str_with_body(&pk, "ipv", 3);
	msgpack_pack_int(&pk, 4);
	msgpack_pack_str_with_body(&pk, "proto", 5);
	msgpack_pack_int(&pk, 17);
	msgpack_pack_str_with_body(&pk, "file", 4);
	msgpack_pack_int(&pk, 70000);
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(tt_record_unpack(&u.data, &back, NULL, NULL), 0);
	cr_expect_eq(back.end, TT_END_EVICT);
	cr_expect_str_eq(tt_end_name(back.end), "evict");
	cr_expect_eq(back.file_id, 70000);
	/* No "last_file" (a record from before capture sets): it ended where it started. */
	cr_expect_eq(back.last_file_id, 70000);
	cr_expect_eq(back.proto, 17);
	cr_expect_eq(back.dst_ip[3], 2);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
