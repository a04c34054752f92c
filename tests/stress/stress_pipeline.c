/* Whole-pipeline stress, for TSan: several files (two that continue each other and are
 * read as one set, one compressed, one broken) through the reader, 1..4 workers with tiny
 * rings (constant backpressure and chunk hand-backs), and the aggregator; the reports must
 * be equal apart from timing. Exit 0 = pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tortrace/tortrace.h"
#include "../../src/core/core.h"
#include "../unit/testutil.h"

/* Rounds r0..r1-1 of n_flows packets, a round every 1000 s. */
static void make(struct tbuf *b, unsigned n_flows, unsigned r0, unsigned r1, unsigned seed)
{
	struct tbuf f = {0};

	tb_pcap_header(b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned r = r0; r < r1; r++) {
		for (unsigned i = 0; i < n_flows; i++) {
			struct tpkt p = {.is_v6 = (i + seed) % 4 == 0,
			    .proto = i % 3 ? 6 : 17,
			    .src = (uint8_t)(i % 250),
			    .dst = (uint8_t)(seed + r % 2),
			    .sport = (uint16_t)(20000 + i),
			    .dport = 443,
			    .flags = 0x18,
			    .payload = (uint16_t)((i * 13 + r) % 1200)};

			f.n = 0;
			tb_eth(&f, p.is_v6 ? 0x86dd : 0x0800, 0);
			tb_ip(&f, &p);
			/* time jumps forward by an hour every few rounds: idle expiry */
			tb_pcap_record(b, 1700000000u + r * 1000u, i, &f, 0, false);
		}
	}
	tb_free(&f);
}

static char *report(const char *out)
{
	char path[600];
	char *s;

	snprintf(path, sizeof(path), "%s/report.json", out);
	s = tt_test_slurp(path, NULL);
	if (!s)
		return NULL;
	*strstr(s, "\"run\":") = '\0';
	return s;
}

int main(void)
{
	char *dir = tt_test_tmpdir(), *first = NULL, *paths[5], out[512];
	struct tbuf a = {0}, b = {0}, a1 = {0}, a2 = {0};
	gzFile g;
	int rc = 0;

	tt_log_set_level(-1);
	make(&a, 2000, 0, 12, 1);
	make(&b, 500, 0, 30, 7);
	/* a cut in two: the second half continues the first (1000 s later, timeout 1800 s) */
	make(&a1, 2000, 0, 6, 1);
	make(&a2, 2000, 6, 12, 1);
	paths[0] = tt_test_write(dir, "a.pcap", a.p, a.n);
	paths[1] = tt_test_write(dir, "b.pcap.gz", "", 0);
	g = gzopen(paths[1], "wb");
	gzwrite(g, b.p, (unsigned)b.n);
	gzclose(g);
	a.n -= 7; /* broken tail */
	paths[2] = tt_test_write(dir, "c-cut.pcap", a.p, a.n);
	paths[3] = tt_test_write(dir, "d1.pcap", a1.p, a1.n);
	paths[4] = tt_test_write(dir, "d2.pcap", a2.p, a2.n);
	for (unsigned w = 1; w <= 4 && rc == 0; w++) {
		struct tt_config cfg;
		char *r;

		tt_config_defaults(&cfg);
		cfg.paths = (const char *const *)paths;
		cfg.n_paths = 5;
		snprintf(out, sizeof(out), "%s/out%u", dir, w);
		cfg.out_dir = out;
		cfg.n_workers = w;
		cfg.ring_slots = 64;
		cfg.tcp_timeout_ns = cfg.udp_timeout_ns = 1800ull * 1000000000u;
		cfg.is_quiet = true;
		if (tt_analyze(&cfg) != TT_STATUS_PARTIAL) {
			fprintf(stderr, "pipeline: -j %u: unexpected status\n", w);
			rc = 1;
		}
		r = report(out);
		if (!r) {
			fprintf(stderr, "pipeline: -j %u: no report\n", w);
			rc = 1;
		} else if (!first) {
			first = r;
			if (!strstr(r, "\"chain\": \"chained: starts ")) {
				fprintf(stderr, "pipeline: d2.pcap is not chained to d1.pcap\n");
				rc = 1;
			}
		} else {
			if (strcmp(first, r) != 0) {
				fprintf(stderr, "pipeline: -j %u report differs from -j 1\n", w);
				rc = 1;
			}
			free(r);
		}
		printf("pipeline -j %u: %s\n", w, rc ? "FAIL" : "ok");
	}
	free(first);
	for (int i = 0; i < 5; i++)
		free(paths[i]);
	tt_test_rmrf(dir);
	free(dir);
	tb_free(&a);
	tb_free(&b);
	tb_free(&a1);
	tb_free(&a2);
	return rc;
}
