#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tb_put(struct tbuf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

void tb_u8(struct tbuf *b, uint8_t v)
{
	tb_put(b, &v, 1);
}

void tb_be16(struct tbuf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	tb_put(b, x, 2);
}

void tb_be32(struct tbuf *b, uint32_t v)
{
	tb_be16(b, (uint16_t)(v >> 16));
	tb_be16(b, (uint16_t)v);
}

void tb_h16(struct tbuf *b, uint16_t v, bool is_swapped)
{
	if (is_swapped)
		v = __builtin_bswap16(v);
	tb_put(b, &v, 2);
}

void tb_h32(struct tbuf *b, uint32_t v, bool is_swapped)
{
	if (is_swapped)
		v = __builtin_bswap32(v);
	tb_put(b, &v, 4);
}

void tb_h64(struct tbuf *b, uint64_t v, bool is_swapped)
{
	if (is_swapped)
		v = __builtin_bswap64(v);
	tb_put(b, &v, 8);
}

void tb_free(struct tbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void tb_ip(struct tbuf *b, const struct tpkt *p)
{
	size_t plen = p->data ? strlen(p->data) : p->payload;
	size_t l4 = p->proto == 6 ? 20 : 8;

	if (p->is_v6) {
		uint8_t a[16] = {0xfd};

		tb_be32(b, 0x60000000u);
		tb_be16(b, (uint16_t)(l4 + plen));
		tb_u8(b, p->proto);
		tb_u8(b, 64);
		a[15] = p->src;
		tb_put(b, a, 16);
		a[15] = p->dst;
		tb_put(b, a, 16);
	} else {
		tb_u8(b, 0x45);
		tb_u8(b, 0);
		tb_be16(b, (uint16_t)(20 + l4 + plen));
		tb_be32(b, 0); /* id, flags, fragment offset */
		tb_u8(b, 64);
		tb_u8(b, p->proto);
		tb_be16(b, 0); /* checksum: not checked */
		tb_be32(b, 0x0a000000u | p->src);
		tb_be32(b, 0x0a000000u | p->dst);
	}
	tb_be16(b, p->sport);
	tb_be16(b, p->dport);
	if (p->proto == 6) {
		tb_be32(b, p->seq);
		tb_be32(b, 0);
		tb_u8(b, 5 << 4);
		tb_u8(b, p->flags);
		tb_be16(b, 65535);
		tb_be32(b, 0);
	} else {
		tb_be16(b, (uint16_t)(8 + plen));
		tb_be16(b, 0);
	}
	if (p->data) {
		tb_put(b, p->data, plen);
	} else {
		for (size_t i = 0; i < plen; i++)
			tb_u8(b, 'x');
	}
}

void tb_eth(struct tbuf *b, uint16_t ethertype, int n_vlans)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

	tb_put(b, macs, 12);
	for (int i = 0; i < n_vlans; i++) {
		tb_be16(b, i == 0 && n_vlans > 1 ? 0x88a8 : 0x8100);
		tb_be16(b, (uint16_t)(100 + i));
	}
	tb_be16(b, ethertype);
}

void tb_pcap_header(
    struct tbuf *b, uint32_t magic, uint32_t linktype, uint32_t snaplen, bool is_swapped)
{
	tb_h32(b, magic, is_swapped);
	tb_h16(b, 2, is_swapped);
	tb_h16(b, 4, is_swapped);
	tb_h32(b, 0, is_swapped);
	tb_h32(b, 0, is_swapped);
	tb_h32(b, snaplen, is_swapped);
	tb_h32(b, linktype, is_swapped);
}

void tb_pcap_record(struct tbuf *b, uint32_t sec, uint32_t frac, const struct tbuf *frame,
    uint32_t wirelen, bool is_swapped)
{
	tb_h32(b, sec, is_swapped);
	tb_h32(b, frac, is_swapped);
	tb_h32(b, (uint32_t)frame->n, is_swapped);
	tb_h32(b, wirelen ? wirelen : (uint32_t)frame->n, is_swapped);
	tb_put(b, frame->p, frame->n);
}

void tb_ng_block(struct tbuf *b, uint32_t type, const void *body, size_t n, bool is_swapped)
{
	static const uint8_t pad[4] = {0};
	size_t padded = (n + 3) & ~(size_t)3;

	tb_h32(b, type, is_swapped);
	tb_h32(b, (uint32_t)(12 + padded), is_swapped);
	tb_put(b, body, n);
	tb_put(b, pad, padded - n);
	tb_h32(b, (uint32_t)(12 + padded), is_swapped);
}

void tb_ng_shb(struct tbuf *b, bool is_swapped)
{
	struct tbuf body = {0};

	tb_h32(&body, 0x1A2B3C4Du, is_swapped);
	tb_h16(&body, 1, is_swapped);
	tb_h16(&body, 0, is_swapped);
	tb_h64(&body, UINT64_MAX, is_swapped);
	tb_ng_block(b, 0x0A0D0D0Au, body.p, body.n, is_swapped);
	tb_free(&body);
}

void tb_ng_idb(struct tbuf *b, uint16_t linktype, uint32_t snaplen, int tsresol, bool is_swapped)
{
	struct tbuf body = {0};

	tb_h16(&body, linktype, is_swapped);
	tb_h16(&body, 0, is_swapped);
	tb_h32(&body, snaplen, is_swapped);
	if (tsresol >= 0) {
		tb_h16(&body, 9, is_swapped);
		tb_h16(&body, 1, is_swapped);
		tb_u8(&body, (uint8_t)tsresol);
		tb_u8(&body, 0);
		tb_u8(&body, 0);
		tb_u8(&body, 0);
		tb_h16(&body, 0, is_swapped); /* opt_endofopt */
		tb_h16(&body, 0, is_swapped);
	}
	tb_ng_block(b, 1, body.p, body.n, is_swapped);
	tb_free(&body);
}

void tb_ng_epb(
    struct tbuf *b, uint32_t ifid, uint64_t ts, const struct tbuf *frame, bool is_swapped)
{
	struct tbuf body = {0};

	tb_h32(&body, ifid, is_swapped);
	tb_h32(&body, (uint32_t)(ts >> 32), is_swapped);
	tb_h32(&body, (uint32_t)ts, is_swapped);
	tb_h32(&body, (uint32_t)frame->n, is_swapped);
	tb_h32(&body, (uint32_t)frame->n, is_swapped);
	tb_put(&body, frame->p, frame->n);
	tb_ng_block(b, 6, body.p, body.n, is_swapped);
	tb_free(&body);
}

void tb_ng_spb(struct tbuf *b, const struct tbuf *frame, bool is_swapped)
{
	struct tbuf body = {0};

	tb_h32(&body, (uint32_t)frame->n, is_swapped);
	tb_put(&body, frame->p, frame->n);
	tb_ng_block(b, 3, body.p, body.n, is_swapped);
	tb_free(&body);
}

char *tt_test_tmpdir(void)
{
	char *d = strdup("/tmp/tortrace-test-XXXXXX");

	if (!d || !mkdtemp(d))
		abort();
	return d;
}

char *tt_test_write(const char *dir, const char *name, const void *data, size_t n)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *path = malloc(len);
	FILE *f;

	if (!path)
		abort();
	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (n && fwrite(data, 1, n, f) != n)
		abort();
	fclose(f);
	return path;
}

char *tt_test_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct tbuf b = {0};
	char chunk[65536];
	size_t got;

	if (!f)
		return NULL;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		tb_put(&b, chunk, got);
	fclose(f);
	tb_u8(&b, 0);
	if (n)
		*n = b.n - 1;
	return (char *)b.p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tt_test_rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
