/* Capture formats and byte sources: every format variant, compression, and every error
 * path with its byte offset. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <zlib.h>
#include <zstd.h>

#include "../../src/reader/reader.h"
#include "testutil.h"

static char *dir;
static unsigned n_released;

static void setup(void)
{
	dir = tt_test_tmpdir();
	n_released = 0;
}

static void teardown(void)
{
	tt_test_rmrf(dir);
	free(dir);
}

TestSuite(capture, .init = setup, .fini = teardown, .timeout = 30);

/* Under ASan the disposition that unguarded_sigbus_still_crashes falls back to would be
 * ASan's own SIGBUS report (an abort); the test wants the default, the core dump. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_sigbus=0";
}

static void release(void *ctx, struct tt_chunk *c)
{
	(void)ctx;
	n_released++;
	tt_chunk_put(c);
}

static void frame(struct tbuf *f, uint8_t src, uint16_t payload)
{
	struct tpkt p = {.proto = 6,
	    .src = src,
	    .dst = 9,
	    .sport = 1000,
	    .dport = 443,
	    .flags = 0x18,
	    .payload = payload};

	f->n = 0;
	tb_eth(f, 0x0800, 0);
	tb_ip(f, &p);
}

/* Open path and read all frames; returns the frame count, or the negative error; fills
 * err/off from the capture when it failed. */
struct result {
	int rc;
	unsigned n;
	uint64_t first_ts, last_ts;
	uint32_t linktype;
	uint64_t err_off;
	char err[200];
};

static struct result read_all(const char *path)
{
	struct result res = {0};
	struct tt_source s;
	struct tt_capture c;
	struct tt_frame f;
	int rc = tt_source_open(&s, path, release, NULL);

	if (rc < 0) {
		res.rc = rc;
		snprintf(res.err, sizeof(res.err), "%s", s.err);
		return res;
	}
	rc = tt_capture_open(&c, &s);
	while (rc == 0 && (rc = tt_capture_next(&c, &s, &f)) == 1) {
		if (res.n++ == 0)
			res.first_ts = f.ts_ns;
		res.last_ts = f.ts_ns;
		res.linktype = f.linktype;
		cr_assert_leq(f.caplen, f.wirelen);
		rc = 0;
	}
	res.rc = rc;
	res.err_off = c.err_off;
	snprintf(res.err, sizeof(res.err), "%s", c.err);
	tt_capture_close(&c);
	tt_source_close(&s);
	return res;
}

static void make_pcap(struct tbuf *b, uint32_t magic, bool is_swapped, unsigned n)
{
	struct tbuf f = {0};

	tb_pcap_header(b, magic, 1, 65535, is_swapped);
	for (unsigned i = 0; i < n; i++) {
		frame(&f, (uint8_t)i, (uint16_t)(i * 7 % 300));
		tb_pcap_record(b, 1700000000u + i, 123456, &f, 0, is_swapped);
	}
	tb_free(&f);
}

Test(capture, pcap_microseconds_both_byte_orders)
{
	for (int sw = 0; sw < 2; sw++) {
		struct tbuf b = {0};
		char *path;
		struct result r;

		make_pcap(&b, 0xa1b2c3d4u, sw, 5);
		path = tt_test_write(dir, "us.pcap", b.p, b.n);
		r = read_all(path);
		cr_assert_eq(r.rc, 0, "%s", r.err);
		cr_expect_eq(r.n, 5);
		cr_expect_eq(r.first_ts, 1700000000ull * 1000000000u + 123456000u);
		cr_expect_eq(r.linktype, 1);
		cr_expect_eq(n_released, 1); /* one mapping per file */
		n_released = 0;
		free(path);
		tb_free(&b);
	}
}

Test(capture, pcap_nanoseconds)
{
	struct tbuf b = {0};
	char *path;
	struct result r;

	make_pcap(&b, 0xa1b23c4du, true, 3);
	path = tt_test_write(dir, "ns.pcap", b.p, b.n);
	r = read_all(path);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_expect_eq(r.n, 3);
	cr_expect_eq(r.last_ts, 1700000002ull * 1000000000u + 123456u);
	free(path);
	tb_free(&b);
}

Test(capture, pcapng_interfaces_resolutions_and_block_kinds)
{
	for (int sw = 0; sw < 2; sw++) {
		struct tbuf b = {0}, f = {0};
		char *path;
		struct result r;
		uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};

		tb_ng_shb(&b, sw);
		tb_ng_idb(&b, 1, 0, -1, sw);  /* µs default */
		tb_ng_idb(&b, 101, 0, 9, sw); /* raw IP, ns */
		frame(&f, 1, 10);
		tb_ng_epb(&b, 0, 1700000000ull * 1000000u + 5, &f, sw);
		tb_ng_block(&b, 0x0BAD, junk, sizeof(junk), sw); /* unknown: skipped */
		tb_ng_spb(&b, &f, sw);
		f.n = 0;
		tb_ip(&f,
		    &(struct tpkt){
			.proto = 17, .src = 1, .dst = 2, .sport = 53, .dport = 53, .payload = 12});
		tb_ng_epb(&b, 1, 1700000001ull * 1000000000u + 7, &f, sw);
		/* a second section, other byte order, its own interface */
		tb_ng_shb(&b, !sw);
		tb_ng_idb(&b, 1, 0, 3, !sw); /* ms */
		frame(&f, 2, 10);
		tb_ng_epb(&b, 0, 1700000002000ull, &f, !sw);
		path = tt_test_write(dir, "x.pcapng", b.p, b.n);
		r = read_all(path);
		cr_assert_eq(r.rc, 0, "%s", r.err);
		cr_expect_eq(r.n, 4);
		cr_expect_eq(r.first_ts, 1700000000ull * 1000000000u + 5000u);
		cr_expect_eq(r.last_ts, 1700000002ull * 1000000000u);
		free(path);
		tb_free(&b);
		tb_free(&f);
	}
}

static void write_gzip(const char *path, const struct tbuf *b)
{
	gzFile g = gzopen(path, "wb");

	cr_assert(g);
	cr_assert_eq(gzwrite(g, b->p, (unsigned)b->n), (int)b->n);
	gzclose(g);
}

Test(capture, gzip_and_zstd_streams_across_chunks)
{
	struct tbuf b = {0};
	char *gz, *zs;
	struct result r;
	size_t bound;
	void *z;
	FILE *fz;

	/* ~9 MB decompressed: several 4 MiB chunks, records straddling their ends. */
	make_pcap(&b, 0xa1b2c3d4u, false, 30000);
	gz = tt_test_write(dir, "x.pcap.gz", "", 0);
	write_gzip(gz, &b);
	r = read_all(gz);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_expect_eq(r.n, 30000);
	cr_expect_gt(n_released, 1);

	bound = ZSTD_compressBound(b.n);
	z = malloc(bound);
	bound = ZSTD_compress(z, bound, b.p, b.n, 3);
	cr_assert(!ZSTD_isError(bound));
	zs = tt_test_write(dir, "x.pcap.zst", z, bound);
	r = read_all(zs);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_expect_eq(r.n, 30000);

	/* A cut compressed stream: what was read is kept, the error says where. */
	fz = fopen(zs, "r+b");
	cr_assert(fz);
	cr_assert_eq(ftruncate(fileno(fz), (off_t)(bound / 2)), 0);
	fclose(fz);
	r = read_all(zs);
	cr_expect_lt(r.rc, 0);
	cr_expect_gt(r.n, 1000);
	cr_expect_lt(r.n, 30000);
	free(z);
	free(gz);
	free(zs);
	tb_free(&b);
}

struct bad_case {
	char name[40];
	char want[48]; /* a fragment of the error message */
	uint64_t want_off;
	unsigned want_frames;
};

/* Build the broken file for case i into b. */
static void make_bad(int i, struct tbuf *b)
{
	struct tbuf f = {0};

	frame(&f, 1, 40);
	switch (i) {
	case 0: /* empty */
		break;
	case 1: /* not a capture */
		tb_put(b, "hello, world\n", 13);
		break;
	case 2: /* global header cut */
		tb_pcap_header(b, 0xa1b2c3d4u, 1, 65535, false);
		b->n = 10;
		break;
	case 3: /* record header cut after two records */
		make_pcap(b, 0xa1b2c3d4u, false, 2);
		tb_put(b, "abcdefgh", 8);
		break;
	case 4: /* record body cut */
		make_pcap(b, 0xa1b2c3d4u, false, 3);
		b->n -= 10;
		break;
	case 5: /* caplen larger than the snap length and than any sane record */
		make_pcap(b, 0xa1b2c3d4u, false, 1);
		tb_h32(b, 1, false);
		tb_h32(b, 0, false);
		tb_h32(b, 300000, false);
		tb_h32(b, 300000, false);
		tb_put(b, f.p, f.n);
		break;
	case 6: /* pcapng with a bad byte-order magic */
		tb_ng_shb(b, false);
		b->p[8] = 0x99;
		break;
	case 7: /* pcapng packet for an interface never defined */
		tb_ng_shb(b, false);
		tb_ng_idb(b, 1, 0, -1, false);
		tb_ng_epb(b, 3, 0, &f, false);
		break;
	case 8: /* pcapng block length not a multiple of 4 */
		tb_ng_shb(b, false);
		tb_ng_idb(b, 1, 0, -1, false);
		tb_h32(b, 6, false);
		tb_h32(b, 33, false);
		tb_put(b, "0123456789012345678901234567890123456789", 40);
		break;
	}
	tb_free(&f);
}

ParameterizedTestParameters(capture, bad_input)
{
	/* Offsets: a pcap header is 24 bytes; test record i is 16 + 54 + (7 i % 300) bytes
	 * (70, then 77); the test SHB is 28 bytes and the IDB 20. */
	static struct bad_case cases[] = {
	    {"empty", "empty file", 0, 0},
	    {"junk", "not a capture file", 0, 0},
	    {"cut_global_header", "pcap file header: truncated", 0, 0},
	    {"cut_record_header", "truncated record header", 24 + 70 + 77, 2},
	    {"cut_record", "truncated record", 24 + 70 + 77, 2},
	    {"huge_caplen", "larger than the snap length", 24 + 70, 1},
	    {"ng_bad_bom", "bad byte-order magic", 8, 0},
	    {"ng_bad_interface", "names interface 3", 28 + 20 + 8, 0},
	    {"ng_bad_length", "bad length 33", 28 + 20 + 4, 0},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, capture, bad_input)
{
	static const char *const names[] = {"empty", "junk", "cut_global_header",
	    "cut_record_header", "cut_record", "huge_caplen", "ng_bad_bom", "ng_bad_interface",
	    "ng_bad_length"};
	struct tbuf b = {0};
	char *path;
	struct result r;
	int i;

	for (i = 0; strcmp(names[i], c->name) != 0; i++)
		;
	make_bad(i, &b);
	path = tt_test_write(dir, c->name, b.p, b.n);
	r = read_all(path);
	cr_expect_lt(r.rc, 0, "%s: rc %d", c->name, r.rc);
	cr_expect(
	    strstr(r.err, c->want) != NULL, "%s: error '%s' lacks '%s'", c->name, r.err, c->want);
	if (r.rc != -EBADMSG || i > 0)
		cr_expect_eq(
		    r.err_off, c->want_off, "%s: offset %lu", c->name, (unsigned long)r.err_off);
	cr_expect_eq(r.n, c->want_frames, "%s: %u frames", c->name, r.n);
	free(path);
	tb_free(&b);
}

Test(capture, missing_file_and_directory)
{
	struct result r = read_all("/nonexistent/file.pcap");

	cr_expect_eq(r.rc, -ENOENT);
	cr_expect(strstr(r.err, "No such file") != NULL, "%s", r.err);
	r = read_all(dir);
	cr_expect_eq(r.rc, -EISDIR);
}

Test(capture, mapped_file_larger_than_a_window)
{
	/* 64 MiB windows: ~75 MB of records, so records straddle window ends. */
	struct tbuf b = {0}, f = {0};
	char *path;
	struct result r;
	unsigned n = 52000;

	tb_pcap_header(&b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned i = 0; i < n; i++) {
		frame(&f, (uint8_t)i, (uint16_t)(1300 + i % 151));
		tb_pcap_record(&b, 1700000000u + i, 0, &f, 0, false);
	}
	path = tt_test_write(dir, "big.pcap", b.p, b.n);
	tb_free(&b);
	r = read_all(path);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_expect_eq(r.n, n);
	cr_expect_eq(r.last_ts, (1700000000ull + n - 1) * 1000000000u);
	cr_expect_eq(n_released, 2, "windows released: %u", n_released);
	free(path);
	tb_free(&f);
}

/* if_tsresol extremes are converted exactly (128-bit products), and what does not fit
 * in uint64 nanoseconds is an error at the packet block instead of a wrapped value. */
Test(capture, pcapng_timestamps_exact_or_rejected)
{
	static const struct {
		int tsresol;
		uint64_t units, want_ns;
	} ok[] = {
	    {15, UINT64_MAX, 18446744073709ull},               /* 1e-15 s: 18446.744073709 s */
	    {0x80 | 40, UINT64_MAX, 16777215999999999ull},     /* 2^-40 s, floored */
	    {0x80 | 30, 3ull << 30, 3000000000ull},            /* 2^-30 s */
	    {0, 1700000000ull, 1700000000ull * 1000000000u},   /* seconds */
	    {12, 1700000000123456789ull, 1700000000123456ull}, /* ps */
	};
	struct tbuf b = {0}, f = {0};
	char *path;
	struct result r;

	frame(&f, 1, 10);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b.n = 0;
		tb_ng_shb(&b, false);
		tb_ng_idb(&b, 1, 0, ok[i].tsresol, false);
		tb_ng_epb(&b, 0, ok[i].units, &f, false);
		path = tt_test_write(dir, "ts.pcapng", b.p, b.n);
		r = read_all(path);
		cr_expect_eq(r.rc, 0, "tsresol %#x: %s", ok[i].tsresol, r.err);
		cr_expect_eq(r.last_ts, ok[i].want_ns, "tsresol %#x: %llu", ok[i].tsresol,
		    (unsigned long long)r.last_ts);
		free(path);
	}
	/* 1 s resolution: 2^64-1 s is not a time in uint64 ns. */
	b.n = 0;
	tb_ng_shb(&b, false);
	tb_ng_idb(&b, 1, 0, 0, false);
	tb_ng_epb(&b, 0, 5, &f, false);
	tb_ng_epb(&b, 0, UINT64_MAX, &f, false);
	path = tt_test_write(dir, "ts.pcapng", b.p, b.n);
	r = read_all(path);
	cr_expect_eq(r.rc, -EBADMSG);
	cr_expect_eq(r.n, 1);
	cr_expect(strstr(r.err, "timestamp out of range") != NULL, "%s", r.err);
	cr_expect_eq(r.err_off, 28 + 32 + (28 + f.n + 3) / 4 * 4 + 4 + 12, "%llu",
	    (unsigned long long)r.err_off);
	free(path);
	tb_free(&b);
	tb_free(&f);
}

/* tt_source_discard() lands on the right byte in mapped and streamed sources, decodes in
 * pieces, and says when the input ends first. */
Test(capture, discard_skips_exactly)
{
	size_t n = 9u << 20; /* several 4 MiB chunks when streamed */
	uint8_t *buf = malloc(n);
	char *plain, *gz;
	struct tt_source s;

	cr_assert(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	plain = tt_test_write(dir, "d.bin", buf, n);
	gz = tt_test_write(dir, "d.gz", "", 0);
	write_gzip(gz, &(struct tbuf){.p = buf, .n = n});
	for (int k = 0; k < 2; k++) {
		const uint64_t at[] = {5, 1u << 20, (5u << 20) + 3, (9u << 20) - 4};

		cr_assert_eq(tt_source_open(&s, k ? gz : plain, release, NULL), 0, "%s", s.err);
		for (size_t i = 0; i < 4; i++) {
			cr_assert_eq(tt_source_discard(&s, at[i] - s.off), 0, "%s", s.err);
			cr_assert_eq(s.off, at[i]);
			cr_assert_eq(tt_source_need(&s, 4), 0);
			cr_expect_eq(memcmp(s.p, buf + at[i], 4), 0, "%s at %llu",
			    k ? "gzip" : "mapped", (unsigned long long)at[i]);
		}
		cr_expect_eq(tt_source_discard(&s, 4), 0);
		cr_expect_eq(tt_source_need(&s, 1), 1);
		cr_expect_eq(tt_source_discard(&s, 1), 1, "past the end");
		tt_source_close(&s);
		cr_assert_eq(tt_source_open(&s, k ? gz : plain, release, NULL), 0, "%s", s.err);
		cr_expect_eq(tt_source_discard(&s, n + 1), 1, "past the end");
		tt_source_close(&s);
	}
	free(plain);
	free(gz);
	free(buf);
}

/* A mapped capture cut while it is read: with the guard installed the pages past the new
 * end read as zeros instead of killing the process, the fault is counted, and the source
 * tells that the file shrank. */
Test(capture, mapped_file_truncated_while_read)
{
	struct tbuf b = {0}, f = {0};
	char *path;
	struct tt_source s;
	struct tt_capture c;
	struct tt_frame fr;
	uint64_t faults, now = 0, cut;
	unsigned n = 8000, got = 0;
	int rc, fd;

	tb_pcap_header(&b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned i = 0; i < n; i++) {
		frame(&f, (uint8_t)i, 1000);
		tb_pcap_record(&b, 1700000000u + i, 0, &f, 0, false);
	}
	cut = 24 + (uint64_t)(n / 2) * (16 + f.n) + 100; /* inside record n/2 */
	path = tt_test_write(dir, "shrink.pcap", b.p, b.n);
	cr_assert_eq(tt_mapguard_install(), 0);
	faults = tt_mapguard_faults();
	cr_assert_eq(tt_source_open(&s, path, release, NULL), 0, "%s", s.err);
	cr_assert_eq(tt_capture_open(&c, &s), 0, "%s", c.err);
	cr_assert_eq(tt_capture_next(&c, &s, &fr), 1);
	fd = open(path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, (off_t)cut), 0);
	close(fd);
	cr_expect(!tt_source_shrank(&s, &now) || now == cut);
	while ((rc = tt_capture_next(&c, &s, &fr)) == 1) {
		(void)*(volatile const uint8_t *)(fr.data + fr.caplen - 1);
		if (tt_mapguard_faults() != faults)
			break;
		cr_assert_eq(fr.ts_ns, (1700000000ull + 1 + got) * 1000000000u);
		got++;
	}
	cr_expect_eq(got, n / 2 - 1, "records read whole before the cut: %u", got);
	cr_expect_gt(tt_mapguard_faults(), faults);
	cr_expect(tt_source_shrank(&s, &now));
	cr_expect_eq(now, cut);
	tt_capture_close(&c);
	tt_source_close(&s);
	tt_mapguard_uninstall();
	free(path);
	tb_free(&b);
	tb_free(&f);
}

/* Any other SIGBUS still ends the process: a cut mapping that is not registered. */
Test(capture, unguarded_sigbus_still_crashes, .signal = SIGBUS)
{
	char *path = tt_test_write(dir, "x.bin", "", 0);
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDWR);
	volatile const uint8_t *m;

	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, 2 * page), 0);
	m = mmap(NULL, (size_t)(2 * page), PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert(m != MAP_FAILED);
	cr_assert_eq(tt_mapguard_install(), 0);
	cr_assert_eq(ftruncate(fd, 0), 0);
	(void)m[page];
	cr_assert_fail("no SIGBUS");
}
