/* The whole pipeline through the public API: results do not depend on the number of
 * workers, bad files are reported and do not stop the run, outputs are complete. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <pcap/pcap.h>

#include "tortrace/tortrace.h"
#include "tortrace/record.h"
#include "../../src/core/core.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tt_test_tmpdir();
	tt_log_set_level(-1); /* the bad files below would print errors */
}

static void teardown(void)
{
	tt_test_rmrf(dir);
	free(dir);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 60);

/* Rounds r0..r1-1 (of rounds) of a capture with many interleaved TCP and UDP flows, v4
 * and v6, some port reuse: a round a second. */
static void make_mix_part(
    struct tbuf *b, unsigned n_flows, unsigned rounds, unsigned r0, unsigned r1)
{
	struct tbuf f = {0};

	tb_pcap_header(b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned r = r0; r < r1; r++) {
		for (unsigned i = 0; i < n_flows; i++) {
			struct tpkt p = {.is_v6 = i % 5 == 0,
			    .proto = i % 3 ? 6 : 17,
			    .src = (uint8_t)(i % 200),
			    .dst = (uint8_t)(200 + i % 50),
			    .sport = (uint16_t)(30000 + i),
			    .dport = i % 2 ? 443 : 9001,
			    .flags = r == 0            ? 0x02
				     : r + 1 == rounds ? 0x11
						       : 0x18,
			    .seq = i,
			    .payload = (uint16_t)((i * 37 + r * 11) % 1400)};
			bool rev = r % 2 == 1;

			if (rev) { /* the reply direction */
				uint8_t t = p.src;
				uint16_t tp = p.sport;

				p.src = p.dst;
				p.dst = t;
				p.sport = p.dport;
				p.dport = tp;
				if (r == 1)
					p.flags = 0x12;
			}
			f.n = 0;
			tb_eth(&f, p.is_v6 ? 0x86dd : 0x0800, i % 7 == 0);
			tb_ip(&f, &p);
			tb_pcap_record(b, 1700000000u + r, i, &f, 0, false);
		}
	}
	tb_free(&f);
}

static void make_mix(struct tbuf *b, unsigned n_flows, unsigned rounds)
{
	make_mix_part(b, n_flows, rounds, 0, rounds);
}

static uint64_t sort_budget; /* 0: the default */

static char *run(const char *const *paths, size_t n, unsigned workers, const char *out, int *status)
{
	struct tt_config cfg;
	char *path, *report;
	size_t len;

	tt_config_defaults(&cfg);
	cfg.paths = paths;
	cfg.n_paths = n;
	cfg.out_dir = out;
	cfg.n_workers = workers;
	cfg.ring_slots = 64; /* small rings: exercise waiting */
	cfg.sort_budget_bytes = sort_budget;
	cfg.is_quiet = true;
	*status = tt_analyze(&cfg);
	len = strlen(out) + 16;
	path = malloc(len);
	snprintf(path, len, "%s/report.json", out);
	report = tt_test_slurp(path, NULL);
	free(path);
	cr_assert(report, "no report in %s", out);
	*strstr(report, "\"run\":") = '\0'; /* timing: the only part allowed to differ */
	return report;
}

static char *join2(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s/%s", a, b);
	return p;
}

Test(pipeline, results_do_not_depend_on_worker_count)
{
	struct tbuf b = {0};
	char *in, *out1, *out4, *r1, *r4, *f1, *f4, *p1, *p4;
	size_t n1, n4;
	int st1, st4;

	make_mix(&b, 3000, 6);
	in = tt_test_write(dir, "mix.pcap", b.p, b.n);
	out1 = join2(dir, "out1");
	out4 = join2(dir, "out4");
	r1 = run((const char *const *)&in, 1, 1, out1, &st1);
	r4 = run((const char *const *)&in, 1, 4, out4, &st4);
	cr_expect_eq(st1, TT_STATUS_OK);
	cr_expect_eq(st4, TT_STATUS_OK);
	cr_expect_str_eq(r1, r4);
	cr_expect(strstr(r1, "\"flows\": 3000,") != NULL, "%s", r1);
	cr_expect(strstr(r1, "\"packets\": 18000,") != NULL);
	p1 = join2(out1, "flows.msgpack");
	p4 = join2(out4, "flows.msgpack");
	f1 = tt_test_slurp(p1, &n1);
	f4 = tt_test_slurp(p4, &n4);
	cr_assert(f1 && f4);
	cr_expect_eq(n1, n4);
	cr_expect_eq(memcmp(f1, f4, n1), 0, "flows.msgpack differs between -j 1 and -j 4");
	free(in), free(out1), free(out4), free(r1), free(r4), free(f1), free(f4), free(p1),
	    free(p4);
	tb_free(&b);
}

Test(pipeline, bad_files_are_reported_and_the_rest_is_analysed)
{
	struct tbuf good = {0}, cut = {0};
	char *sub = join2(dir, "in"), *out = join2(dir, "out"), *report;
	const char *paths[2];
	int status;

	make_mix(&good, 10, 4);
	make_mix(&cut, 10, 4);
	cut.n -= 30; /* the last record is cut */
	cr_assert_eq(mkdir(sub, 0700), 0);
	free(tt_test_write(sub, "a-good.pcap", good.p, good.n));
	free(tt_test_write(sub, "b-cut.pcap", cut.p, cut.n));
	free(tt_test_write(sub, "c-junk.txt", "not a capture at all\n", 21));
	free(tt_test_write(sub, "d-empty.pcap", "", 0));
	paths[0] = sub;
	paths[1] = "/nonexistent/capture.pcap";
	report = run(paths, 2, 2, out, &status);
	cr_expect_eq(status, TT_STATUS_PARTIAL);
	cr_expect(strstr(report, "\"files\": 5,") != NULL, "%s", report);
	cr_expect(strstr(report, "\"files_failed\": 4,") != NULL, "%s", report);
	cr_expect(strstr(report, "truncated record: ") != NULL, "%s", report);
	cr_expect(strstr(report, "not a capture file") != NULL);
	cr_expect(strstr(report, "empty file at byte offset 0") != NULL);
	cr_expect(strstr(report, "cannot open: No such file or directory") != NULL);
	/* 40 good packets and 39 kept from the cut file; 10 flows each */
	cr_expect(strstr(report, "\"packets\": 79,") != NULL, "%s", report);
	cr_expect(strstr(report, "\"flows\": 20,") != NULL, "%s", report);
	cr_expect(strstr(report, "\"partial\": true") != NULL);
	free(sub), free(out), free(report);
	tb_free(&good);
	tb_free(&cut);
}

Test(pipeline, filter_keeps_only_matching_packets)
{
	struct tbuf b = {0};
	char *in, *out = join2(dir, "out"), *report, *rpath;
	struct tt_config cfg;

	make_mix(&b, 30, 2);
	in = tt_test_write(dir, "mix.pcap", b.p, b.n);
	tt_config_defaults(&cfg);
	cfg.paths = (const char *const *)&in;
	cfg.n_paths = 1;
	cfg.out_dir = out;
	cfg.is_quiet = true;
	cfg.bpf = "udp";
	cr_expect_eq(tt_analyze(&cfg), TT_STATUS_OK);
	rpath = join2(out, "report.json");
	report = tt_test_slurp(rpath, NULL);
	/* 10 of 30 flows are UDP, 2 of them VLAN-tagged, which plain "udp" does not match
	 * (BPF needs "vlan and udp"): 8 flows, 16 packets kept, 44 filtered out. */
	cr_expect(strstr(report, "\"flows\": 8,") != NULL, "%s", report);
	cr_expect(strstr(report, "\"filtered_out\": 44,") != NULL, "%s", report);
	cfg.bpf = "this is not a filter";
	cr_expect_eq(tt_analyze(&cfg), TT_STATUS_USAGE);
	free(in), free(out), free(report), free(rpath);
	tb_free(&b);
}

Test(pipeline, spilled_sorted_runs_give_the_same_output)
{
	struct tbuf b = {0};
	char *in, *out1, *out2, *r1, *r2, *f1, *f2, *p1, *p2;
	size_t n1, n2;
	int st1, st2;
	DIR *d;
	struct dirent *e;

	make_mix(&b, 3000, 6);
	in = tt_test_write(dir, "mix.pcap", b.p, b.n);
	out1 = join2(dir, "out1");
	out2 = join2(dir, "out2");
	sort_budget = 0;
	r1 = run((const char *const *)&in, 1, 2, out1, &st1);
	sort_budget = 16 * 1024; /* a few dozen records: many runs to merge */
	r2 = run((const char *const *)&in, 1, 2, out2, &st2);
	sort_budget = 0;
	cr_expect_eq(st2, TT_STATUS_OK);
	cr_expect_str_eq(r1, r2);
	p1 = join2(out1, "flows.msgpack");
	p2 = join2(out2, "flows.msgpack");
	f1 = tt_test_slurp(p1, &n1);
	f2 = tt_test_slurp(p2, &n2);
	cr_assert(f1 && f2);
	cr_expect_eq(n1, n2);
	cr_expect_eq(memcmp(f1, f2, n1), 0, "flows.msgpack differs after spilling");
	/* the runs were unlinked: only the outputs are left */
	d = opendir(out2);
	cr_assert(d);
	while ((e = readdir(d)) != NULL)
		cr_expect(e->d_name[0] == '.' || strcmp(e->d_name, "report.json") == 0 ||
			      strcmp(e->d_name, "flows.msgpack") == 0 ||
			      strcmp(e->d_name, "report.html") == 0,
		    "left behind: %s", e->d_name);
	closedir(d);
	free(in), free(out1), free(out2), free(r1), free(r2), free(f1), free(f2), free(p1),
	    free(p2);
	tb_free(&b);
}

/* How many times the msgpack string s (up to 31 bytes) occurs in buf. */
static unsigned count_str(const char *buf, size_t n, const char *s)
{
	char pat[32];
	size_t len = strlen(s);
	unsigned c = 0;

	pat[0] = (char)(0xa0 | len); /* fixstr */
	memcpy(pat + 1, s, len);
	for (size_t i = 0; i + len + 1 <= n; i++)
		c += memcmp(buf + i, pat, len + 1) == 0;
	return c;
}

static char *analyze_paths_with_stop(
    const char *const *in, size_t n_in, const char *out, unsigned workers)
{
	static atomic_bool stop = true; /* a stop request before the run starts */
	struct tt_config cfg;
	char *path = join2(out, "flows.msgpack");

	tt_config_defaults(&cfg);
	cfg.paths = in;
	cfg.n_paths = n_in;
	cfg.out_dir = out;
	cfg.n_workers = workers;
	cfg.is_quiet = true;
	cfg.stop = &stop;
	tt_analyze(&cfg);
	return path;
}

static char *analyze_with_stop(const char *in, const char *out, unsigned workers)
{
	return analyze_paths_with_stop(&in, 1, out, workers);
}

/* Only the reader reads the stop flag. It checks it every 1024 frames, so it reads this
 * 60-packet file to its end and the file is complete: its flows end "eof", not "stop"
 * (the workers used to read the flag themselves and end them "stop" whenever it was set
 * by the time they flushed, a race with the reader). */
Test(pipeline, flows_end_stop_only_when_the_reader_stopped)
{
	struct tbuf b = {0};
	char *in, *out = join2(dir, "out"), *flows, *report, *rpath;
	size_t n;

	make_mix(&b, 30, 2);
	in = tt_test_write(dir, "small.pcap", b.p, b.n);
	for (unsigned w = 1; w <= 3; w += 2) {
		char *path = analyze_with_stop(in, out, w);

		flows = tt_test_slurp(path, &n);
		cr_assert(flows);
		cr_expect_eq(count_str(flows, n, "stop"), 0, "-j %u", w);
		cr_expect_eq(count_str(flows, n, "eof"), 30, "-j %u", w);
		rpath = join2(out, "report.json");
		report = tt_test_slurp(rpath, NULL);
		cr_expect(strstr(report, "\"partial\": false") != NULL, "%s", report);
		free(flows), free(path), free(report), free(rpath);
	}
	free(in), free(out);
	tb_free(&b);
}

/* The reader stops after 1024 of 1800 frames: it marks the file partial and tells the
 * workers with the file's end marker, and every flow of the file ends "stop". */
Test(pipeline, flows_of_a_file_cut_by_stop_end_stop)
{
	struct tbuf b = {0};
	char *in, *out = join2(dir, "out"), *flows, *report, *rpath, *path;
	size_t n;

	make_mix(&b, 600, 3);
	in = tt_test_write(dir, "big.pcap", b.p, b.n);
	path = analyze_with_stop(in, out, 2);
	flows = tt_test_slurp(path, &n);
	cr_assert(flows);
	cr_expect_gt(count_str(flows, n, "stop"), 0);
	cr_expect_eq(count_str(flows, n, "eof"), 0);
	cr_expect_eq(count_str(flows, n, "idle"), 0);
	rpath = join2(out, "report.json");
	report = tt_test_slurp(rpath, NULL);
	cr_expect(strstr(report, "\"partial\": true") != NULL, "%s", report);
	free(flows), free(path), free(report), free(rpath), free(in), free(out);
	tb_free(&b);
}

/* A capture set cut by a stop request: the first file (600 frames) is read whole, the
 * second continues it and the reader stops after 1024 of its 1800 frames. The set's end
 * marker tells the workers: every flow of the set, begun in the first file, ends "stop";
 * the first file is complete, the second partial, and both are one set. */
Test(pipeline, a_capture_set_cut_by_stop_ends_its_flows_stop)
{
	struct tbuf a = {0}, b = {0};
	char *in[2], *out = join2(dir, "out"), *flows, *report, *rpath, *path;
	size_t n;

	make_mix_part(&a, 600, 4, 0, 1);
	make_mix_part(&b, 600, 4, 1, 4);
	in[0] = tt_test_write(dir, "cap1.pcap", a.p, a.n);
	in[1] = tt_test_write(dir, "cap2.pcap", b.p, b.n);
	path = analyze_paths_with_stop((const char *const *)in, 2, out, 2);
	flows = tt_test_slurp(path, &n);
	cr_assert(flows);
	cr_expect_eq(count_str(flows, n, "stop"), 600);
	cr_expect_eq(count_str(flows, n, "eof"), 0);
	cr_expect_eq(count_str(flows, n, "idle"), 0);
	rpath = join2(out, "report.json");
	report = tt_test_slurp(rpath, NULL);
	cr_assert(report);
	cr_expect(strstr(report, "\"chain\": \"chained: starts 0.999") != NULL, "%s", report);
	cr_expect(strstr(report, "\"partial\": false") < strstr(report, "\"partial\": true"), "%s",
	    report);
	cr_expect(strstr(report, "\"files\": 2,") != NULL, "%s", report);
	/* The flows are counted in the file where they started: the totals and the first. */
	{
		const char *p = strstr(report, "\"flows_tcp\": 400");

		cr_expect(p && (p = strstr(p + 1, "\"flows_tcp\": 400")) != NULL, "%s", report);
		cr_expect(p && strstr(p + 1, "\"flows_tcp\": 0") != NULL, "%s", report);
	}
	free(flows), free(path), free(report), free(rpath), free(in[0]), free(in[1]), free(out);
	tb_free(&a);
	tb_free(&b);
}

/* ---- flows caught in the middle (no SYN) ------------------------------------------ */

/* The TCP record of one analysed capture (the first TCP flow of flows.msgpack). */
struct midstream_out {
	struct tt_flow_record r;
	struct tt_flow_tls tls;
	struct tt_flow_relay relay;
	bool has_tcp;
};

static void analyze_one(const char *in, struct midstream_out *o)
{
	char *out = join2(dir, "ms-out"), *path = join2(out, "flows.msgpack");
	struct tt_config cfg;
	msgpack_unpacked u;
	size_t n = 0, off = 0;
	char *buf;

	tt_config_defaults(&cfg);
	cfg.paths = (const char *const *)&in;
	cfg.n_paths = 1;
	cfg.out_dir = out;
	cfg.n_workers = 1;
	cfg.is_quiet = true;
	cr_assert_eq(tt_analyze(&cfg), TT_STATUS_OK);
	buf = tt_test_slurp(path, &n);
	cr_assert(buf);
	memset(o, 0, sizeof(*o));
	msgpack_unpacked_init(&u);
	while (!o->has_tcp && msgpack_unpack_next(&u, buf, n, &off) == MSGPACK_UNPACK_SUCCESS) {
		if (tt_record_unpack(&u.data, &o->r, &o->tls, &o->relay) == 0 && o->r.proto == 6)
			o->has_tcp = true;
	}
	msgpack_unpacked_destroy(&u);
	free(buf);
	tt_test_rmrf(out);
	free(out);
	free(path);
	cr_assert(o->has_tcp, "no TCP flow in %s", in);
}

/* Copy a fixture without its first k packets. */
static char *drop_first(const char *name, unsigned k)
{
	char err[PCAP_ERRBUF_SIZE], *in = join2(TT_TEST_DATA, name), *out = join2(dir, "cut.pcap");
	pcap_t *p = pcap_open_offline(in, err);
	pcap_dumper_t *d;
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned i = 0;

	cr_assert(p, "%s", err);
	d = pcap_dump_open(p, out);
	cr_assert(d);
	while (pcap_next_ex(p, &h, &data) == 1)
		if (i++ >= k)
			pcap_dump((u_char *)d, h, data);
	pcap_dump_close(d);
	pcap_close(p);
	free(in);
	return out;
}

/* A tor link seen from its middle: the capture starts with the relay's (port 9001)
 * segment, 100 bytes into a record; then both sides send TLS 1.3 records of one cell
 * (514 + 17 = 531 bytes), two per segment. */
static char *cell_flow_pcap(void)
{
	struct tbuf b = {0}, f = {0};
	char rec[536 * 2 + 100 + 1];
	uint32_t seq[2] = {1000, 5000};
	char *path;

	tb_pcap_header(&b, 0xa1b2c3d4u, 1, 65535, false);
	for (unsigned i = 0; i < 16; i++) {
		bool is_server = i % 2 == 0;
		size_t at = 0;
		struct tpkt p = {.proto = 6, .flags = 0x18, .data = rec};

		if (i == 0) {
			memset(rec, 0x5a, 100); /* the tail of a record begun before the capture */
			at = 100;
		}
		for (int r = 0; r < 2; r++) {
			const char hdr[5] = {0x17, 0x03, 0x03, 0x02, 0x13}; /* 531 */

			memcpy(rec + at, hdr, 5);
			memset(rec + at + 5, (char)(0xa1 + i), 531);
			at += 536;
		}
		rec[at] = '\0';
		p.src = is_server ? 7 : 1;
		p.dst = is_server ? 1 : 7;
		p.sport = is_server ? 9001 : 40000;
		p.dport = is_server ? 40000 : 9001;
		p.seq = seq[is_server];
		seq[is_server] += (uint32_t)at;
		f.n = 0;
		tb_eth(&f, 0x0800, 0);
		tb_ip(&f, &p);
		tb_pcap_record(&b, 1715967000u, i * 1000, &f, 0, false);
	}
	path = tt_test_write(dir, "cells.pcap", b.p, b.n);
	tb_free(&b);
	tb_free(&f);
	return path;
}

Test(pipeline, syn_less_cell_flow_is_oriented_and_gets_d3)
{
	char *in = cell_flow_pcap();
	struct midstream_out o;

	analyze_one(in, &o);
	cr_expect_eq(o.r.initiator, TT_INIT_GUESSED_PORT);
	cr_expect_eq(o.r.src_port, 40000);
	cr_expect_eq(o.r.dst_port, 9001);
	cr_expect(!(o.r.flags & TT_FLOW_SYN_SEEN));
	cr_assert(o.r.tls, "no mid-stream inspection");
	cr_expect(o.tls.is_midstream);
	cr_expect_geq(o.tls.ms_fit[0], 6);
	cr_expect_geq(o.tls.ms_fit[1], 6);
	cr_expect(o.tls.is_d3);
	cr_expect(o.r.evidence & (1u << TT_EV_D3), "evidence %#x", o.r.evidence);
	free(in);
}

/* The HTTPS fixture without its handshake: oriented by its port, inspected mid-stream,
 * and no D3 (its records are not cells). */
Test(pipeline, syn_less_https_flow_gets_no_d3)
{
	char *in = drop_first("tls/tornet-https.pcap", 10);
	struct midstream_out o;

	analyze_one(in, &o);
	cr_expect_eq(o.r.initiator, TT_INIT_GUESSED_PORT);
	cr_expect_eq(o.r.src_port, 42930);
	cr_expect_eq(o.r.dst_port, 443);
	cr_assert(o.r.tls);
	cr_expect(o.tls.is_midstream);
	cr_expect(!o.tls.is_d3);
	cr_expect(!(o.r.evidence & (1u << TT_EV_D3)));
	cr_expect_eq(o.r.verdict, TT_VERDICT_NONE);
	free(in);
}

/* The tornet tor link (a dirauth's ORPort, 9001) without its first packets: oriented from
 * either side's first packet. Its 22 packets hold 6 server records after the cut, 3 of
 * them cells, so D3 (6 records, 80 %) does not fire on it. */
Test(pipeline, syn_less_tor_link_is_oriented)
{
	struct {
		unsigned k, initiator;
		bool is_midstream; /* k 4: the hellos are still there (D1/D2 judge it) */
	} cases[] = {{4, TT_INIT_GUESSED_PORT, false}, {6, TT_INIT_FIRST_PACKET, true}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *in = drop_first("tls/tornet-tor-link.pcap", cases[i].k);
		struct midstream_out o;

		analyze_one(in, &o);
		cr_expect_eq(o.r.initiator, cases[i].initiator, "k %u", cases[i].k);
		cr_expect_eq(o.r.src_port, 58338, "k %u", cases[i].k);
		cr_expect_eq(o.r.dst_port, 9001, "k %u", cases[i].k);
		cr_assert(o.r.tls, "k %u", cases[i].k);
		cr_expect_eq(o.tls.is_midstream, cases[i].is_midstream, "k %u", cases[i].k);
		free(in);
	}
}

/* A flow seen from its SYN keeps its orientation and is not inspected mid-stream. */
Test(pipeline, flow_with_syn_is_oriented_by_it)
{
	char *in = join2(TT_TEST_DATA, "tls/tornet-tor-link.pcap");
	struct midstream_out o;

	analyze_one(in, &o);
	cr_expect_eq(o.r.initiator, TT_INIT_SYN);
	cr_expect_eq(o.r.src_port, 58338);
	cr_expect(o.r.tls && !o.tls.is_midstream && !o.tls.is_d3);
	free(in);
}

/* Issue 7 regressions. A real tor 0.4.9 bridge link caught mid-download (no handshake,
 * 2 client records, 26 relay records of 4 KiB chunks that cut cells): before the header
 * follower and D4 it had 20 records at most and no framing item; now its relay bursts
 * add up to whole cells (D4). */
Test(pipeline, midstream_bridge_download_gets_d4)
{
	char *in = join2(TT_TEST_DATA, "tls/tornet-bridge-midstream.pcap");
	struct midstream_out o;

	analyze_one(in, &o);
	cr_expect_eq(o.r.dst_port, 9001);
	cr_assert(o.r.tls, "no mid-stream inspection");
	cr_expect(o.tls.is_midstream);
	cr_expect_geq(o.tls.ms_app[1], 20, "relay records %u", o.tls.ms_app[1]);
	cr_expect_geq(o.tls.ms_burst[1], 16);
	cr_expect(o.tls.is_d4);
	cr_expect(o.r.evidence & (1u << TT_EV_D4), "evidence %#x", o.r.evidence);
	free(in);
}

/* A 2013 tor link (TLS 1.0, AES-CBC, empty fragments): D2 by the suite's framing. */
Test(pipeline, tls10_cbc_tor_link_gets_d2)
{
	char *in = join2(TT_TEST_DATA, "tls/tor2013-cells.pcap");
	struct midstream_out o;

	analyze_one(in, &o);
	cr_assert(o.r.tls);
	cr_expect_eq(o.tls.version, 0x0301);
	cr_expect(o.tls.is_d2, "cells %u/%u %u/%u", o.tls.cell_exact[0], o.tls.cell_app[0],
	    o.tls.cell_exact[1], o.tls.cell_app[1]);
	cr_expect(o.r.evidence & (1u << TT_EV_D2), "evidence %#x", o.r.evidence);
	free(in);
}
