/* Decompression ahead of the reader (src/reader/ahead.c), for TSan: a folder of gzip and
 * zstd captures (several blocks each, files that continue each other, a cut gzip, a
 * corrupt zstd, an uncompressed capture between them) analysed with read-ahead off and
 * with 1 and 3 helpers, 1 and 3 workers and tiny rings: the reports must be equal apart
 * from "run". Then a stop request while the helpers decompress: tt_analyze() must return
 * promptly, its helpers joined. Exit 0 = pass. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>
#include <zstd.h>

#include "tortrace/tortrace.h"
#include "../../src/core/core.h"
#include "../unit/testutil.h"

#define N_FILES 10

/* Rounds r0..r1-1 of n_flows packets, a round every 10 s. */
static void make(struct tbuf *b, unsigned n_flows, unsigned r0, unsigned r1, unsigned seed)
{
	struct tbuf f = {0};

	tb_pcap_header(b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned r = r0; r < r1; r++) {
		for (unsigned i = 0; i < n_flows; i++) {
			struct tpkt p = {.is_v6 = (i + seed) % 5 == 0,
			    .proto = i % 4 ? 6 : 17,
			    .src = (uint8_t)(i % 200),
			    .dst = (uint8_t)(seed + r % 3),
			    .sport = (uint16_t)(10000 + i),
			    .dport = 9001,
			    .flags = 0x18,
			    .payload = (uint16_t)((i * 31 + r * 7 + seed) % 1400)};

			f.n = 0;
			tb_eth(&f, p.is_v6 ? 0x86dd : 0x0800, 0);
			tb_ip(&f, &p);
			tb_pcap_record(b, 1700000000u + r * 10u, i, &f, 0, false);
		}
	}
	tb_free(&f);
}

static char *write_gz(const char *dir, const char *name, const struct tbuf *b, bool is_cut)
{
	uLongf n = compressBound((uLong)b->n) + 64;
	uint8_t *z = malloc(n);
	z_stream s = {0};
	char *path;

	/* gzip framing (windowBits 15 + 16), level 1: fast to make */
	deflateInit2(&s, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	s.next_in = b->p;
	s.avail_in = (uInt)b->n;
	s.next_out = z;
	s.avail_out = (uInt)n;
	deflate(&s, Z_FINISH);
	n = s.total_out;
	deflateEnd(&s);
	path = tt_test_write(dir, name, z, is_cut ? n / 2 : n);
	free(z);
	return path;
}

static char *write_zst(const char *dir, const char *name, const struct tbuf *b, bool is_corrupt)
{
	size_t n = ZSTD_compressBound(b->n);
	uint8_t *z = malloc(n);
	char *path;

	ZSTD_CCtx *c = ZSTD_createCCtx();

	/* with a checksum, so that the corruption is the decoder's error, not the parser's */
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	n = ZSTD_compress2(c, z, n, b->p, b->n);
	ZSTD_freeCCtx(c);
	if (is_corrupt)
		memset(z + n / 2, 0xff, 64);
	path = tt_test_write(dir, name, z, n);
	free(z);
	return path;
}

static char *report(const char *out)
{
	char path[600];
	char *s, *run;

	snprintf(path, sizeof(path), "%s/report.json", out);
	s = tt_test_slurp(path, NULL);
	if (s && (run = strstr(s, "\"run\":")) != NULL)
		*run = '\0';
	return s;
}

static int analyze(char **paths, size_t n, const char *out, unsigned workers,
    const atomic_bool *stop, const char *ahead)
{
	struct tt_config cfg;

	setenv("TT_DECOMPRESS_AHEAD", ahead, 1);
	tt_config_defaults(&cfg);
	cfg.paths = (const char *const *)paths;
	cfg.n_paths = n;
	cfg.out_dir = out;
	cfg.n_workers = workers;
	cfg.ring_slots = 64;
	cfg.is_quiet = true;
	cfg.is_no_html = true;
	cfg.stop = stop;
	return tt_analyze(&cfg);
}

struct stopper {
	atomic_bool stop;
	unsigned delay_ms;
};

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;
	struct timespec ts = {
	    .tv_sec = s->delay_ms / 1000, .tv_nsec = (s->delay_ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
	atomic_store(&s->stop, true);
	return NULL;
}

int main(void)
{
	static const char *const ahead[] = {"0", "1", "3"};
	char *dir = tt_test_tmpdir(), *first = NULL, *paths[N_FILES], out[512], name[64];
	struct tbuf caps[N_FILES];
	int rc = 0;

	tt_log_set_level(-1);
	memset(caps, 0, sizeof(caps));
	/* 0-3: one set in four files (gz, zst, gz, zst); 4: plain; 5: cut gzip; 6: corrupt
	 * zstd; 7-9: other captures. Each is 1-3 MiB once decompressed: several blocks. */
	for (unsigned i = 0; i < 4; i++)
		make(&caps[i], 1500, i * 4, i * 4 + 4, 1);
	for (unsigned i = 4; i < N_FILES; i++)
		make(&caps[i], 1000 + 300 * i, 0, 3, i);
	for (unsigned i = 0; i < N_FILES; i++) {
		snprintf(
		    name, sizeof(name), "f%02u.pcap%s", i, i == 4 ? "" : (i % 2 ? ".zst" : ".gz"));
		if (i == 4)
			paths[i] = tt_test_write(dir, name, caps[i].p, caps[i].n);
		else if (i % 2)
			paths[i] = write_zst(dir, name, &caps[i], i == 7);
		else
			paths[i] = write_gz(dir, name, &caps[i], i == 6);
	}
	for (unsigned a = 0; a < 3 && rc == 0; a++) {
		for (unsigned w = 1; w <= 3 && rc == 0; w += 2) {
			char *r;
			int st;

			if (a == 0 && w > 1)
				continue;
			snprintf(out, sizeof(out), "%s/out-%s-%u", dir, ahead[a], w);
			st = analyze(paths, N_FILES, out, w, NULL, ahead[a]);
			r = report(out);
			if (st != TT_STATUS_PARTIAL || !r) {
				fprintf(stderr, "ahead %s -j %u: status %d, report %s\n", ahead[a],
				    w, st, r ? "ok" : "missing");
				rc = 1;
			} else if (!first) {
				first = r;
				if (!strstr(r, "gzip stream cut short") ||
				    !strstr(r,
					"of the decompressed data\",\n      \"partial\": true") ||
				    !strstr(r, "\"chain\": \"chained: starts ")) {
					fprintf(stderr,
					    "ahead: the baseline lacks its faults or its "
					    "set:\n%s\n",
					    r);
					rc = 1;
				}
			} else {
				if (strcmp(first, r) != 0) {
					fprintf(stderr,
					    "ahead %s -j %u: report differs from ahead 0 -j 1\n",
					    ahead[a], w);
					rc = 1;
				}
				free(r);
			}
			printf("ahead %s -j %u: %s\n", ahead[a], w, rc ? "FAIL" : "ok");
		}
	}
	/* Stop while the helpers decompress: every helper is joined before tt_analyze()
	 * returns (TSan and ASan would see a thread left running or its memory leaked). */
	for (unsigned delay = 0; delay <= 20 && rc == 0; delay += 10) {
		struct stopper s = {.delay_ms = delay};
		pthread_t t;
		uint64_t t0 = tt_now_ns(), dt;
		int st;

		atomic_init(&s.stop, false);
		snprintf(out, sizeof(out), "%s/out-stop-%u", dir, delay);
		pthread_create(&t, NULL, stopper_main, &s);
		st = analyze(paths, N_FILES, out, 2, &s.stop, "2");
		pthread_join(t, NULL);
		dt = tt_now_ns() - t0;
		if (st == TT_STATUS_USAGE || dt > 20ull * 1000000000u) {
			fprintf(stderr, "stop after %u ms: status %d after %.1f s\n", delay, st,
			    (double)dt / 1e9);
			rc = 1;
		}
		printf("stop after %u ms: status %d, %.2f s: %s\n", delay, st, (double)dt / 1e9,
		    rc ? "FAIL" : "ok");
	}
	unsetenv("TT_DECOMPRESS_AHEAD");
	free(first);
	for (unsigned i = 0; i < N_FILES; i++) {
		free(paths[i]);
		tb_free(&caps[i]);
	}
	tt_test_rmrf(dir);
	free(dir);
	return rc;
}
