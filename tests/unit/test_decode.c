/* Link layers, IP, fragments, tunnels and the canonical flow key. */
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/reader/reader.h"
#include "testutil.h"

TestSuite(decode, .timeout = 10);

static const struct tpkt tcp4 = {
    .proto = 6, .src = 1, .dst = 2, .sport = 40000, .dport = 443, .flags = 0x02, .payload = 5};

static int dec(uint32_t lt, const struct tbuf *b, struct tt_decoded *d)
{
	return tt_decode(lt, b->p, (uint32_t)b->n, d);
}

static void expect_tcp4(const struct tt_decoded *d)
{
	cr_expect_eq(d->ip_version, 4);
	cr_expect_eq(d->proto, 6);
	cr_expect_eq(d->sport, 40000);
	cr_expect_eq(d->dport, 443);
	cr_expect_eq(d->l4_off, 20);
	cr_expect_eq(d->l4_len, 25);
	cr_expect_eq(d->src[3], 1);
	cr_expect_eq(d->dst[3], 2);
}

Test(decode, ethernet_with_vlan_and_qinq)
{
	for (int vlans = 0; vlans <= 2; vlans++) {
		struct tbuf b = {0};
		struct tt_decoded d;

		tb_eth(&b, 0x0800, vlans);
		tb_ip(&b, &tcp4);
		cr_assert_eq(dec(1, &b, &d), TT_DEC_FLOW, "vlans %d", vlans);
		expect_tcp4(&d);
		cr_expect_eq(d.l3, b.p + 14 + 4 * vlans);
		tb_free(&b);
	}
}

Test(decode, ethernet_padding_is_not_payload)
{
	struct tbuf b = {0};
	struct tt_decoded d;

	tb_eth(&b, 0x0800, 0);
	tb_ip(&b, &tcp4);
	tb_put(&b, "\0\0\0\0\0\0", 6);
	cr_assert_eq(dec(1, &b, &d), TT_DEC_FLOW);
	cr_expect_eq(d.l3_caplen, 45);
	tb_free(&b);
}

Test(decode, mpls_and_pppoe)
{
	struct tbuf b = {0};
	struct tt_decoded d;

	tb_eth(&b, 0x8847, 0);
	tb_be32(&b, (16u << 12) | 0x000); /* label, not bottom */
	tb_be32(&b, (17u << 12) | 0x100); /* bottom of stack */
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(1, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);
	b.n = 0;
	tb_eth(&b, 0x8864, 0);
	tb_be16(&b, 0x1100);
	tb_be16(&b, 1);
	tb_be16(&b, 47);
	tb_be16(&b, 0x0021);
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(1, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);
	tb_free(&b);
}

Test(decode, linux_cooked_raw_null_loop)
{
	struct tbuf b = {0};
	struct tt_decoded d;
	uint8_t sll[14] = {0};
	uint32_t fam = 2;

	tb_put(&b, sll, 14);
	tb_be16(&b, 0x0800);
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(113, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);

	b.n = 0;
	tb_be16(&b, 0x0800);
	tb_put(&b, sll, 14);
	tb_be32(&b, 0);
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(276, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);

	b.n = 0;
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);

	b.n = 0;
	tb_put(&b, &fam, 4); /* host order */
	tb_ip(&b, &tcp4);
	cr_assert_eq(dec(0, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);

	b.n = 0;
	tb_be32(&b, 24); /* LOOP: network order, BSD AF_INET6 */
	tb_ip(&b, &(struct tpkt){.is_v6 = true,
		      .proto = 17,
		      .src = 1,
		      .dst = 2,
		      .sport = 5,
		      .dport = 53,
		      .payload = 3});
	cr_assert_eq(dec(108, &b, &d), TT_DEC_FLOW);
	cr_expect_eq(d.ip_version, 6);
	cr_expect_eq(d.l4_len, 11);
	tb_free(&b);
}

Test(decode, ipv6_extension_headers)
{
	struct tbuf b = {0}, ip = {0};
	struct tt_decoded d;

	tb_ip(&ip, &(struct tpkt){.is_v6 = true,
		       .proto = 6,
		       .src = 1,
		       .dst = 2,
		       .sport = 7,
		       .dport = 9001,
		       .payload = 10});
	/* Insert hop-by-hop (8 bytes) and destination options (16 bytes). */
	tb_put(&b, ip.p, 40);
	b.p[6] = 0; /* next: hop-by-hop */
	b.p[4] = 0;
	b.p[5] = (uint8_t)(30 + 24);                       /* payload length */
	tb_put(&b, "\x3c\x00\x01\x04\x00\x00\x00\x00", 8); /* next: dest opts */
	tb_put(&b, "\x06\x01\x01\x0c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
	tb_put(&b, ip.p + 40, ip.n - 40);
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FLOW);
	cr_expect_eq(d.proto, 6);
	cr_expect_eq(d.l4_off, 64);
	cr_expect_eq(d.dport, 9001);
	cr_expect_eq(d.l4_len, 30);
	tb_free(&b);
	tb_free(&ip);
}

Test(decode, ipv4_fragments)
{
	struct tbuf b = {0};
	struct tt_decoded d;

	tb_ip(&b, &tcp4);
	b.p[4] = 0x12;
	b.p[5] = 0x34;
	b.p[6] = 0x20; /* MF, offset 0 */
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FLOW);
	cr_expect(d.is_frag_first);
	cr_expect_eq(d.frag_id, 0x1234);
	b.p[6] = 0x00;
	b.p[7] = 0x10; /* offset 128, last */
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FRAG);
	cr_expect_eq(d.frag_id, 0x1234);
	cr_expect_eq(d.proto, 6);
	tb_free(&b);
}

Test(decode, ip_in_ip_and_gre_are_opened)
{
	struct tbuf b = {0}, inner = {0};
	struct tt_decoded d;

	tb_ip(&inner, &tcp4);
	/* outer IPv4, protocol 4 */
	tb_u8(&b, 0x45);
	tb_u8(&b, 0);
	tb_be16(&b, (uint16_t)(20 + inner.n));
	tb_be32(&b, 0);
	tb_u8(&b, 64);
	tb_u8(&b, 4);
	tb_be16(&b, 0);
	tb_be32(&b, 0xc0000201);
	tb_be32(&b, 0xc0000202);
	tb_put(&b, inner.p, inner.n);
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);

	/* GRE with a key: 8 bytes, protocol IPv4 */
	b.n = 0;
	tb_u8(&b, 0x45);
	tb_u8(&b, 0);
	tb_be16(&b, (uint16_t)(28 + inner.n));
	tb_be32(&b, 0);
	tb_u8(&b, 64);
	tb_u8(&b, 47);
	tb_be16(&b, 0);
	tb_be32(&b, 0xc0000201);
	tb_be32(&b, 0xc0000202);
	tb_be16(&b, 0x2000);
	tb_be16(&b, 0x0800);
	tb_be32(&b, 42);
	tb_put(&b, inner.p, inner.n);
	cr_assert_eq(dec(101, &b, &d), TT_DEC_FLOW);
	expect_tcp4(&d);
	tb_free(&b);
	tb_free(&inner);
}

Test(decode, truncated_non_ip_and_unknown_link)
{
	struct tbuf b = {0};
	struct tt_decoded d;

	tb_eth(&b, 0x0806, 0); /* ARP */
	tb_put(&b, "0123456789012345678901234567", 28);
	cr_expect_eq(dec(1, &b, &d), TT_DEC_NON_IP);
	b.n = 0;
	tb_eth(&b, 0x0800, 0);
	tb_ip(&b, &tcp4);
	for (size_t cut = 0; cut < 14 + 24; cut++) {
		int rc = tt_decode(1, b.p, (uint32_t)cut, &d);

		cr_expect(rc == TT_DEC_TRUNCATED, "cut at %zu gave %d", cut, rc);
	}
	cr_expect_eq(dec(147, &b, &d), TT_DEC_BAD_LINK);
	cr_expect(!tt_linktype_known(147));
	tb_free(&b);
}

Test(decode, flow_key_is_the_same_both_ways)
{
	uint8_t a[16] = {10, 0, 0, 1}, z[16] = {10, 0, 0, 2};
	struct tt_flow_key k1, k2;
	bool lo1 = tt_flow_key_make(&k1, 4, 6, a, z, 5000, 80);
	bool lo2 = tt_flow_key_make(&k2, 4, 6, z, a, 80, 5000);

	cr_expect(lo1);
	cr_expect(!lo2);
	cr_expect_eq(memcmp(&k1, &k2, sizeof(k1)), 0);
	cr_expect_eq(tt_flow_key_hash(&k1), tt_flow_key_hash(&k2));
	/* Same address both sides: ports decide. */
	tt_flow_key_make(&k1, 4, 17, a, a, 53, 1000);
	tt_flow_key_make(&k2, 4, 17, a, a, 1000, 53);
	cr_expect_eq(memcmp(&k1, &k2, sizeof(k1)), 0);
	/* Protocol is part of the key. */
	tt_flow_key_make(&k2, 4, 6, a, a, 53, 1000);
	cr_expect_neq(tt_flow_key_hash(&k1), tt_flow_key_hash(&k2));
}
