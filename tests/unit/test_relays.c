/* The relay-data module: parsers, the time-aware index, the cache, the CLI.
 *
 * Real documents come from the shared corpus (TT_CORPUS_DIR, passed by meson); tests that
 * need it skip with a message when it is missing. Edge cases use small documents that the
 * tests write into a temporary folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <xxhash.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>

#include "testutil.h"
#include "../../src/relays/relays.h"
#include "../../src/cli/cli.h"

#ifndef TT_CORPUS_DIR
#define TT_CORPUS_DIR "../shared/corpus"
#endif

#define S_NS   1000000000ull
#define HOUR_S 3600ull

static char *tmp;

static void setup(void)
{
	tmp = tt_test_tmpdir();
}

static void teardown(void)
{
	if (tmp)
		tt_test_rmrf(tmp);
	free(tmp);
	tmp = NULL;
}

TestSuite(relays, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------------------- */

static void corpus_path(char *buf, size_t len, const char *rel)
{
	struct stat st;

	snprintf(buf, len, "%s/%s", TT_CORPUS_DIR, rel);
	if (stat(buf, &st) != 0)
		cr_skip_test(
		    "corpus file %s not found (TT_CORPUS_DIR=%s): skipped", buf, TT_CORPUS_DIR);
}

/* Lines of a file that start with prefix; *n_last_nonzero counts those whose last field
 * is not "0" (r lines with a DirPort). */
static size_t count_lines(const char *path, const char *prefix, size_t *n_last_nonzero)
{
	size_t n = 0, len, plen = strlen(prefix);
	char *text = tt_test_slurp(path, &len), *line, *save = NULL;

	cr_assert(text, "cannot read %s", path);
	if (n_last_nonzero)
		*n_last_nonzero = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, prefix, plen) != 0)
			continue;
		n++;
		if (n_last_nonzero) {
			const char *sp = strrchr(line, ' ');

			if (sp && strcmp(sp + 1, "0") != 0)
				(*n_last_nonzero)++;
		}
	}
	free(text);
	return n;
}

static void ip(const char *s, uint8_t addr[16], uint8_t *ver)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1)
		*ver = 4;
	else if (inet_pton(AF_INET6, s, addr) == 1)
		*ver = 6;
	else
		cr_assert_fail("bad test address %s", s);
}

/* Lookup of a textual address; returns the count, matches in m[0..63]. */
static size_t look(const struct tt_relays *idx, const char *addr, uint16_t port, uint64_t t_ns,
    struct tt_relay_match *m)
{
	uint8_t a[16], ver;

	ip(addr, a, &ver);
	return tt_relays_lookup(idx, a, ver, port, t_ns, m, 64);
}

static bool has_kind(const struct tt_relay_match *m, size_t n, int kind, const char *fp)
{
	for (size_t i = 0; i < n && i < 64; i++)
		if (m[i].kind == kind && (!fp || strcmp(m[i].fingerprint, fp) == 0))
			return true;
	return false;
}

static bool has_error(const struct tt_relays *idx, const char *text)
{
	for (size_t i = 0; i < tt_relays_n_errors(idx); i++)
		if (strstr(tt_relays_error(idx, i), text))
			return true;
	return false;
}

static uint64_t t_of(const char *s)
{
	uint64_t t;

	cr_assert_eq(tt_relays_parse_time(s, strlen(s), &t), 0, "%s", s);
	return t;
}

static void fmt_hour(uint64_t base_s, long h, char *buf, size_t len)
{
	time_t t = (time_t)(base_s + (uint64_t)h * HOUR_S);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

#define BASE_S 1715965200ull /* 2024-05-17 17:00:00 UTC */

struct router {
	const char *nick, *id, *ip;
	unsigned orport, dirport;
	const char *flags;
	const char *a1, *a2; /* "a" lines, or NULL */
};

/* A small microdesc (or ns) consensus valid [h, h + 3 h), written to dir/name. */
static char *write_consensus(
    const char *name, long h, bool is_ns, const struct router *r, size_t n, const char *extra_line)
{
	char *doc = malloc(65536), va[32], fu[32], vu[32], *path;
	size_t at = 0;

	fmt_hour(BASE_S, h, va, sizeof(va));
	fmt_hour(BASE_S, h + 1, fu, sizeof(fu));
	fmt_hour(BASE_S, h + 3, vu, sizeof(vu));
	at += (size_t)snprintf(doc + at, 65536 - at,
	    "@type network-status-%sconsensus-3 1.0\n"
	    "network-status-version 3%s\nvote-status consensus\nconsensus-method 33\n"
	    "valid-after %s\nfresh-until %s\nvalid-until %s\nvoting-delay 300 300\n"
	    "known-flags Exit Fast Guard Running Stable Valid\n"
	    "dir-source a 0232AF901C31A04EE9848595AF9BB7620D4C5B2E a 193.23.244.244 80 443\n",
	    is_ns ? "" : "microdesc-", is_ns ? "" : " microdesc", va, fu, vu);
	for (size_t i = 0; i < n; i++) {
		if (is_ns)
			at += (size_t)snprintf(doc + at, 65536 - at,
			    "r %s %s FF26jNpQfRpYdz65WYv+O9pFPtY 2024-05-17 03:58:26 %s %u %u\n",
			    r[i].nick, r[i].id, r[i].ip, r[i].orport, r[i].dirport);
		else
			at += (size_t)snprintf(doc + at, 65536 - at,
			    "r %s %s 2038-01-01 00:00:00 %s %u %u\n"
			    "m RZaTxnTsuxvtIPnrUILHzSVMdX2jcK4K8u0uJu3Ex50\n",
			    r[i].nick, r[i].id, r[i].ip, r[i].orport, r[i].dirport);
		if (r[i].a1)
			at += (size_t)snprintf(doc + at, 65536 - at, "a %s\n", r[i].a1);
		if (r[i].a2)
			at += (size_t)snprintf(doc + at, 65536 - at, "a %s\n", r[i].a2);
		at += (size_t)snprintf(
		    doc + at, 65536 - at, "s %s\nv Tor 0.4.8.11\nw Bandwidth=100\n", r[i].flags);
	}
	if (extra_line)
		at += (size_t)snprintf(doc + at, 65536 - at, "%s\n", extra_line);
	at += (size_t)snprintf(doc + at, 65536 - at,
	    "directory-footer\nbandwidth-weights Wbd=0\n"
	    "directory-signature 0232AF901C31A04EE9848595AF9BB7620D4C5B2E X\n"
	    "-----BEGIN SIGNATURE-----\nr not a router line\n-----END SIGNATURE-----\n");
	path = tt_test_write(tmp, name, doc, at);
	free(doc);
	return path;
}

/* Identities: 27 base64 characters; the first one sets the top 6 bits of byte 0. */
#define ID_A "BAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 04000000... */
#define ID_B "CAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 08000000... */
#define ID_C "DAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 0C000000... */
#define FP_A "0400000000000000000000000000000000000000"
#define FP_B "0800000000000000000000000000000000000000"
#define FP_C "0C00000000000000000000000000000000000000"

static struct tt_relays *build_one(const char *path)
{
	struct tt_relays *idx = NULL;

	cr_assert_eq(tt_relays_build(&path, 1, &idx), 0, "build %s", path);
	return idx;
}

/* ---- small pieces ------------------------------------------------------------------- */

Test(relays, parse_time_accepts_utc_and_rejects_garbage)
{
	uint64_t t;

	cr_expect_eq(t_of("2024-05-17 17:00:00"), BASE_S * S_NS);
	cr_expect_eq(t_of("1970-01-01T00:00:00"), 0);
	cr_expect_eq(t_of("2024-02-29 00:00:00"), 1709164800ull * S_NS);
	cr_expect_eq(tt_relays_parse_time("2023-02-29 00:00:00", 19, &t), -EINVAL);
	cr_expect_eq(tt_relays_parse_time("2024-13-01 00:00:00", 19, &t), -EINVAL);
	cr_expect_eq(tt_relays_parse_time("2024-05-17 17:00", 16, &t), -EINVAL);
	cr_expect_eq(tt_relays_parse_time("2024-05-17x17:00:00", 19, &t), -EINVAL);
}

Test(relays, detect_kinds_from_content)
{
	static const struct {
		const char *text;
		int source;
	} cases[] = {
	    {"network-status-version 3 microdesc\nvote-status consensus\n",
		TT_RELAYS_SRC_MICRODESC},
	    {"@type network-status-consensus-3 1.0\nnetwork-status-version 3\n", TT_RELAYS_SRC_NS},
	    {"network-status-version 3\nvote-status vote\n", TT_RELAYS_SRC_NONE},
	    {"@type tordnsel 1.0\nDownloaded 2018-11-01 00:02:01\n", TT_RELAYS_SRC_EXITLIST},
	    {"ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\n", TT_RELAYS_SRC_EXITLIST},
	    {"# tor nodes\n\n1.2.3.4\n", TT_RELAYS_SRC_IPLIST},
	    {"2001:db8::1 # comment\n", TT_RELAYS_SRC_IPLIST},
	    {"@downloaded-at 2024-01-01 00:00:00\nrouter x 1.2.3.4 9001 0 0\n", TT_RELAYS_SRC_NONE},
	    {"hello world\n1.2.3.4\n", TT_RELAYS_SRC_NONE},
	    {"", TT_RELAYS_SRC_NONE},
	};
	struct tt_relays_doc_head h;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tt_relays_detect(cases[i].text, strlen(cases[i].text), &h);
		cr_expect_eq(h.source, cases[i].source, "case %zu", i);
	}
	tt_relays_detect("a\0b", 3, &h);
	cr_expect_eq(h.source, TT_RELAYS_SRC_NONE);
}

/* ---- real documents ----------------------------------------------------------------- */

struct doc_case {
	char file[64];
	int source;
	char prefix[16]; /* what a router line starts with, for grep -c */
};

ParameterizedTestParameters(relays, real_documents_parse_completely)
{
	static struct doc_case cases[] = {
	    {"relays/consensus-2015-10-10T02-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/consensus-2017-03-10T10-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/consensus-2021-07-21T22-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/consensus-2022-08-06T09-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/consensus-2022-11-19T10-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/consensus-2022-11-19T10-ns", TT_RELAYS_SRC_NS, "r "},
	    {"relays/consensus-2024-05-17T17-microdesc", TT_RELAYS_SRC_MICRODESC, "r "},
	    {"relays/samples/consensus-2012-07-12-sample", TT_RELAYS_SRC_NS, "r "},
	    {"relays/samples/consensus-2017-05-25-sample", TT_RELAYS_SRC_NS, "r "},
	    {"relays/exit-addresses-2024-03-12", TT_RELAYS_SRC_EXITLIST, "ExitNode "},
	    {"relays/exit-lists-2018-11/2018-11-01-00-02-01", TT_RELAYS_SRC_EXITLIST, "ExitNode "},
	    {"relays/torbulkexitlist-2024-03-12", TT_RELAYS_SRC_IPLIST, ""},
	    {"relays/iplist-tor-nodes-2024-02-27.lst", TT_RELAYS_SRC_IPLIST, ""},
	    {"relays/iplist-tor-exit-nodes-2024-02-27.lst", TT_RELAYS_SRC_IPLIST, ""},
	    {"tornet/default-s1/consensus/auth1-cached-consensus", TT_RELAYS_SRC_NS, "r "},
	    {"tornet/default-s1/consensus/client-cached-microdesc-consensus",
		TT_RELAYS_SRC_MICRODESC, "r "},
	};
	return cr_make_param_array(struct doc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct doc_case *c, relays, real_documents_parse_completely)
{
	char path[512];
	struct tt_relays *idx;
	struct tt_relays_doc d;
	struct tt_relays_info in;
	size_t n_routers, n_dir = 0, n_a = 0;

	corpus_path(path, sizeof(path), c->file);
	idx = build_one(path);
	tt_relays_get_info(idx, &in);
	cr_assert_eq(in.n_docs, 1, "%s", c->file);
	cr_assert_eq(tt_relays_doc(idx, 0, &d), 0);
	cr_expect_eq(d.source, c->source, "%s: kind %d", c->file, d.source);
	cr_expect_eq(d.n_bad_lines, 0, "%s: %s", c->file,
	    tt_relays_n_errors(idx) ? tt_relays_error(idx, 0) : "");
	cr_expect_eq(in.n_errors, 0);
	if (c->prefix[0]) {
		n_routers = count_lines(path, c->prefix, c->prefix[0] == 'r' ? &n_dir : NULL);
	} else {
		/* plain lists: every line that is not blank or a comment */
		size_t n_all = count_lines(path, "", NULL),
		       n_comment = count_lines(path, "#", NULL);

		n_routers = n_all - n_comment;
	}
	cr_expect_eq(d.n_routers, n_routers, "%s: %llu routers, grep says %zu", c->file,
	    (unsigned long long)d.n_routers, n_routers);
	if (c->source == TT_RELAYS_SRC_NS || c->source == TT_RELAYS_SRC_MICRODESC) {
		n_a = count_lines(path, "a ", NULL);
		/* one ORPort entry per r line, one DirPort entry when it is not 0, one per a line
		 */
		cr_expect_eq(d.n_entries, n_routers + n_dir + n_a, "%s", c->file);
		cr_expect(d.valid_after_ns > 0 && d.valid_until_ns > d.valid_after_ns);
	}
	if (c->source == TT_RELAYS_SRC_EXITLIST)
		cr_expect_eq(d.n_entries, count_lines(path, "ExitAddress ", NULL));
	cr_expect_eq(strlen(tt_relays_digest(idx)), 32);
	cr_expect_eq(strlen(d.digest), 32);
	tt_relays_free(idx);
}

Test(relays, corpus_folder_loads_every_kind_and_skips_the_rest)
{
	char path[512];
	struct tt_relays *idx;
	struct tt_relays_info in;

	corpus_path(path, sizeof(path), "relays");
	idx = build_one(path);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_NS], 3);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_MICRODESC], 6);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_EXITLIST], 5);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_IPLIST], 3);
	cr_expect_eq(in.n_skipped, 1, "SOURCES.md is skipped");
	cr_expect_eq(in.n_failed, 0);
	cr_expect_eq(in.n_errors, 0);
	cr_expect_eq(in.earliest_ns, t_of("2012-07-12 10:00:00"));
	cr_expect_eq(in.latest_ns, t_of("2024-05-17 20:00:00"));
	tt_relays_free(idx);
}

/* ---- tornet: the private network's consensus against its hosts.csv ------------------- */

struct tornet_case {
	char run[32];
};

ParameterizedTestParameters(relays, tornet_relays_match_at_capture_time)
{
	static struct tornet_case cases[] = {{"default-s1"}, {"bridge-s2"}, {"obfs4-s5"}};

	return cr_make_param_array(struct tornet_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* The first flow of the capture to ip:port, from client.flows.csv (0 if none). */
static uint64_t first_flow_ns(const char *run_dir, const char *ip_, unsigned port)
{
	char path[600], *text, *line, *save = NULL, pat[96];
	uint64_t best = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/client.flows.csv", run_dir);
	text = tt_test_slurp(path, &len);
	if (!text)
		return 0;
	snprintf(pat, sizeof(pat), ",%s,%u,", ip_, port);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, pat);
		int comma = 0;

		if (!p)
			continue;
		/* first_ts is the 9th field */
		for (p = line; *p && comma < 8; p++)
			comma += *p == ',';
		{
			double ts = strtod(p, NULL);
			uint64_t ns = (uint64_t)(ts * 1e9);

			if (best == 0 || ns < best)
				best = ns;
		}
	}
	free(text);
	return best;
}

ParameterizedTest(struct tornet_case *c, relays, tornet_relays_match_at_capture_time)
{
	char rel[128], dir[512], hosts[600], *text, *line, *save = NULL;
	struct tt_relay_match m[64];
	struct tt_relays *idx;
	struct tt_relays_info in;
	size_t len, n_checked = 0, n;

	snprintf(rel, sizeof(rel), "tornet/%s/consensus", c->run);
	corpus_path(dir, sizeof(dir), rel);
	idx = build_one(dir);
	tt_relays_get_info(idx, &in);
	cr_assert_eq(in.n_docs, 3);
	cr_assert_eq(in.n_errors, 0);
	snprintf(rel, sizeof(rel), "tornet/%s", c->run);
	corpus_path(dir, sizeof(dir), rel);
	snprintf(hosts, sizeof(hosts), "%s/hosts.csv", dir);
	text = tt_test_slurp(hosts, &len);
	cr_assert(text, "no %s", hosts);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char addr[64], name[32], role[32], fp[48];
		unsigned orport, dirport;
		uint64_t t_flow, t_in = in.earliest_ns + 10 * S_NS;

		if (sscanf(line, "%63[^,],%31[^,],%31[^,],%u,%u,%47[^,]", addr, name, role, &orport,
			&dirport, fp) != 6 ||
		    orport == 0 || strlen(fp) != 40)
			continue;
		if (strcmp(role, "bridge") == 0) {
			/* bridges are not in the consensus */
			cr_expect_eq(look(idx, addr, 0, 0, m), 0, "bridge %s", addr);
			continue;
		}
		/* inside the consensus validity: a strong match with the right identity */
		n = look(idx, addr, (uint16_t)orport, t_in, m);
		cr_assert(
		    has_kind(m, n, TT_RELAY_MATCH_ORPORT, fp), "%s %s:%u", name, addr, orport);
		cr_expect_str_eq(m[0].nickname, name);
		cr_expect_eq(m[0].flags & TT_RELAY_FLAG_RUNNING, TT_RELAY_FLAG_RUNNING);
		if (strcmp(role, "guard") == 0)
			cr_expect(m[0].flags & TT_RELAY_FLAG_GUARD, "%s has Guard", name);
		if (strcmp(role, "exit") == 0)
			cr_expect(m[0].flags & TT_RELAY_FLAG_EXIT, "%s has Exit", name);
		if (dirport) {
			n = look(idx, addr, (uint16_t)dirport, t_in, m);
			cr_expect(has_kind(m, n, TT_RELAY_MATCH_DIRPORT, fp), "%s DirPort", name);
		}
		/* at the capture's own time (the first flow to it): listed, maybe "near" since
		 * a test network's consensus lives for only 40 s */
		t_flow = first_flow_ns(dir, addr, orport);
		if (t_flow) {
			n = look(idx, addr, (uint16_t)orport, t_flow, m);
			cr_expect(n > 0 && strcmp(m[0].fingerprint, fp) == 0 &&
				      (m[0].kind == TT_RELAY_MATCH_ORPORT ||
					  m[0].kind == TT_RELAY_MATCH_ORPORT_NEAR),
			    "%s at its first flow", name);
		}
		/* another port on the same host: ip-only */
		n = look(idx, addr, 7, t_in, m);
		cr_expect(n > 0 && m[0].kind == TT_RELAY_MATCH_IP_ONLY, "%s ip-only", name);
		/* a day after the consensus expired: nothing */
		n = look(idx, addr, (uint16_t)orport, in.latest_ns + 25 * HOUR_S * S_NS, m);
		cr_expect_eq(n, 0, "%s a day later", name);
		n_checked++;
	}
	free(text);
	cr_expect_geq(n_checked, 6, "hosts.csv lists the relays");
	/* the client and the servers are not relays */
	cr_expect_eq(look(idx, "10.77.0.100", 0, 0, m), 0);
	cr_expect_eq(look(idx, "10.77.0.200", 443, 0, m), 0);
	tt_relays_free(idx);
}

Test(relays, tor_datadirectory_is_detected_by_content)
{
	char src[512], *text, *p;
	size_t len;
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[64];
	static const char state[] = "# Tor state file\nTorVersion Tor 0.4.9.11\n";
	static const char mds[] = "@last-listed 2026-11-26 14:22:00\nonion-key\n";

	corpus_path(src, sizeof(src), "tornet/default-s1/consensus/auth1-cached-consensus");
	text = tt_test_slurp(src, &len);
	free(tt_test_write(tmp, "cached-consensus", text, len));
	free(text);
	corpus_path(
	    src, sizeof(src), "tornet/default-s1/consensus/client-cached-microdesc-consensus");
	text = tt_test_slurp(src, &len);
	free(tt_test_write(tmp, "cached-microdesc-consensus", text, len));
	free(text);
	free(tt_test_write(tmp, "state", state, sizeof(state) - 1));
	free(tt_test_write(tmp, "cached-microdescs", mds, sizeof(mds) - 1));
	free(tt_test_write(tmp, "lock", "", 0));
	idx = build_one(tmp);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_NS], 1);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_MICRODESC], 1);
	cr_expect_eq(in.n_skipped, 3);
	cr_expect_eq(in.n_errors, 0);
	cr_expect(look(idx, "10.77.0.22", 9100, 0, m) > 0);
	p = m[0].fingerprint;
	cr_expect_str_eq(p, "585633F81C63BA1930C2ABBB8233F31919BDC352");
	cr_expect_eq(m[0].sources, (1u << TT_RELAYS_SRC_NS) | (1u << TT_RELAYS_SRC_MICRODESC),
	    "both flavours merged");
	tt_relays_free(idx);
}

/* ---- exit lists and plain lists ------------------------------------------------------ */

Test(relays, exit_list_address_matches_around_its_scan)
{
	char path[512];
	struct tt_relays *idx;
	struct tt_relay_match m[64];
	const char *fp = "FE39F07EBE7870DCE124AB30DF3ABD0700A43F75";
	size_t n;

	corpus_path(path, sizeof(path), "relays/exit-addresses-2024-03-12");
	idx = build_one(path);
	/* ExitAddress 185.241.208.232 2024-03-12 08:10:51: [scan - 24 h, scan + 48 h) */
	n = look(idx, "185.241.208.232", 443, t_of("2024-03-12 08:10:51"), m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_EXIT, fp));
	cr_expect_eq(m[0].port, 0);
	cr_expect_eq(m[0].sources, 1u << TT_RELAYS_SRC_EXITLIST);
	n = look(idx, "185.241.208.232", 0, t_of("2024-03-11 08:20:00"), m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_EXIT, fp), "a day before");
	n = look(idx, "185.241.208.232", 0, t_of("2024-03-14 08:00:00"), m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_EXIT, fp), "two days after");
	n = look(idx, "185.241.208.232", 0, t_of("2024-03-20 00:00:00"), m);
	cr_expect_eq(n, 0, "a week later");
	n = look(idx, "185.241.208.232", 0, t_of("2024-03-10 00:00:00"), m);
	cr_expect_eq(n, 0, "two days before");
	tt_relays_free(idx);
}

Test(relays, exit_list_with_several_addresses_per_relay)
{
	static const char doc[] = "@type tordnsel 1.0\n"
				  "Downloaded 2024-03-12 14:02:01\n"
				  "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\n"
				  "Published 2024-03-11 13:07:19\n"
				  "LastStatus 2024-03-12 08:00:00\n"
				  "ExitAddress 198.51.100.7 2024-03-12 08:10:51\n"
				  "ExitAddress 2001:db8::7 2024-03-12 09:10:51\n"
				  "ExitAddress 198.51.100.8 2024-03-12 10:10:51\n"
				  "ExitNode nothex\n"
				  "ExitAddress 198.51.100.9 2024-03-12 10:10:51\n"
				  "Frobnicate yes\n";
	struct tt_relays *idx;
	struct tt_relay_match m[64];
	char *path = tt_test_write(tmp, "exits", doc, sizeof(doc) - 1);
	uint64_t t = t_of("2024-03-12 12:00:00");

	idx = build_one(path);
	cr_expect_eq(look(idx, "198.51.100.7", 0, t, m), 1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_EXIT);
	cr_expect_eq(look(idx, "2001:db8::7", 0, t, m), 1);
	cr_expect_eq(look(idx, "198.51.100.8", 0, t, m), 1);
	cr_expect_eq(look(idx, "198.51.100.9", 0, t, m), 0, "after a bad ExitNode");
	cr_expect_eq(tt_relays_n_errors(idx), 3);
	cr_expect(strstr(tt_relays_error(idx, 0), "exits:9: bad ExitNode line"), "%s",
	    tt_relays_error(idx, 0));
	cr_expect(strstr(tt_relays_error(idx, 1), "exits:10: ExitAddress without"));
	cr_expect(strstr(tt_relays_error(idx, 2), "exits:11: unknown exit-list line"));
	tt_relays_free(idx);
	free(path);
}

Test(relays, plain_list_is_undated_and_portless)
{
	char path[512];
	struct tt_relays *idx;
	struct tt_relay_match m[64];
	size_t n;

	corpus_path(path, sizeof(path), "relays/torbulkexitlist-2024-03-12");
	idx = build_one(path);
	n = look(idx, "185.241.208.232", 0, 0, m);
	cr_expect_eq(n, 1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_LISTED_UNDATED);
	cr_expect_eq(m[0].from_ns, 0);
	cr_expect_eq(m[0].to_ns, UINT64_MAX);
	cr_expect_str_eq(m[0].fingerprint, "");
	cr_expect_eq(look(idx, "185.241.208.232", 9001, t_of("2031-01-01 00:00:00"), m), 1);
	cr_expect_eq(look(idx, "185.241.208.233", 0, 0, m), 0);
	tt_relays_free(idx);
}

Test(relays, plain_list_bad_lines_and_comments)
{
	static const char doc[] =
	    "# Tor exits\n\n192.0.2.1\n  192.0.2.2   # trailing comment\r\n"
	    "not-an-ip\n192.0.2.300\n2001:0db8:0000:0000:0000:0000:0000:0001\n"
	    "192.0.2.5/32\n2001:db8::5/128\n198.51.100.9/30\n2001:db8::100/120\n10.0.0.0/8\n";
	char *path = tt_test_write(tmp, "list.txt", doc, sizeof(doc) - 1);
	struct tt_relays *idx = build_one(path);
	struct tt_relay_match m[64];

	cr_expect_eq(look(idx, "192.0.2.1", 0, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.2", 0, 0, m), 1);
	cr_expect_eq(look(idx, "2001:db8::1", 0, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.5", 0, 0, m), 1);
	cr_expect_eq(look(idx, "2001:db8::5", 0, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.0", 0, 0, m), 0);
	/* small prefixes are expanded (host bits cleared), large ones refused */
	cr_expect_eq(look(idx, "198.51.100.8", 0, 0, m), 1);
	cr_expect_eq(look(idx, "198.51.100.11", 0, 0, m), 1);
	cr_expect_eq(look(idx, "198.51.100.12", 0, 0, m), 0);
	cr_expect_eq(look(idx, "2001:db8::1ff", 0, 0, m), 1);
	cr_expect_eq(look(idx, "2001:db8::200", 0, 0, m), 0);
	cr_expect_eq(look(idx, "10.0.0.1", 0, 0, m), 0);
	cr_expect_eq(tt_relays_n_errors(idx), 3);
	cr_expect(strstr(tt_relays_error(idx, 2), "list.txt:12: network larger than 256"), "%s",
	    tt_relays_error(idx, 2));
	cr_expect(strstr(tt_relays_error(idx, 0), "list.txt:5: not an IP address 'not-an-ip'"),
	    "%s", tt_relays_error(idx, 0));
	cr_expect(strstr(tt_relays_error(idx, 1), "list.txt:6:"));
	tt_relays_free(idx);
	free(path);
}

/* ---- merging, IPv6, bad lines --------------------------------------------------------- */

Test(relays, consecutive_hourly_documents_merge)
{
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[64];
	char name[32];
	size_t n;

	/* A: every hour 0..47 (Guard from hour 10 on); B: hours 0-1 and 5-6 (gap of three
	 * hours: hour 5 starts after the hour-1 document expires at hour 4); C: moves from
	 * 192.0.2.3 to 192.0.2.4 at hour 20. */
	for (long h = 0; h < 48; h++) {
		struct router r[3];
		size_t k = 0;

		r[k++] = (struct router){"relayA", ID_A, "192.0.2.1", 9001, 9030,
		    h >= 10 ? "Fast Guard Running Valid" : "Fast Running Valid", NULL, NULL};
		if (h <= 1 || h == 5 || h == 6)
			r[k++] = (struct router){
			    "relayB", ID_B, "192.0.2.2", 443, 0, "Running Valid", NULL, NULL};
		r[k++] = (struct router){"relayC", ID_C, h < 20 ? "192.0.2.3" : "192.0.2.4", 9001,
		    0, "Exit Running Valid", NULL, NULL};
		snprintf(name, sizeof(name), "c-%02ld", h);
		free(write_consensus(name, h, h % 2 == 0, r, k, NULL));
	}
	idx = build_one(tmp);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs, 48);
	cr_expect_eq(in.n_relays, 3);
	/* A: OR + Dir; B: two; C: one per address */
	cr_expect_eq(in.n_intervals, 2 + 2 + 2, "got %llu", (unsigned long long)in.n_intervals);
	n = look(idx, "192.0.2.1", 9001, (BASE_S + 30 * HOUR_S) * S_NS, m);
	cr_assert_eq(n, 1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT);
	cr_expect_str_eq(m[0].fingerprint, FP_A);
	cr_expect_eq(m[0].from_ns, BASE_S * S_NS);
	cr_expect_eq(m[0].to_ns, (BASE_S + 50 * HOUR_S) * S_NS);
	cr_expect(m[0].flags & TT_RELAY_FLAG_GUARD, "flags are the union");
	cr_expect_eq(m[0].sources, (1u << TT_RELAYS_SRC_NS) | (1u << TT_RELAYS_SRC_MICRODESC));
	/* B: two intervals, [0, 4 h) and [5 h, 9 h) */
	n = look(idx, "192.0.2.2", 443, (BASE_S + 4 * HOUR_S + 1800) * S_NS, m);
	cr_expect_eq(n, 2, "both B intervals are within a day");
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT_NEAR);
	n = look(idx, "192.0.2.2", 443, (BASE_S + 5 * HOUR_S) * S_NS, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT, FP_B));
	cr_expect_eq(m[0].from_ns, (BASE_S + 5 * HOUR_S) * S_NS);
	cr_expect_eq(m[0].to_ns, (BASE_S + 9 * HOUR_S) * S_NS);
	/* C: old address until hour 22 (the hour-19 document's valid-until) */
	n = look(idx, "192.0.2.3", 9001, (BASE_S + 21 * HOUR_S) * S_NS, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT, FP_C));
	n = look(idx, "192.0.2.3", 9001, (BASE_S + 23 * HOUR_S) * S_NS, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT_NEAR, FP_C));
	n = look(idx, "192.0.2.4", 9001, (BASE_S + 19 * HOUR_S) * S_NS, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT_NEAR, FP_C));
	n = look(idx, "192.0.2.4", 9001, (BASE_S + 20 * HOUR_S) * S_NS, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT, FP_C));
	/* a lookup at any time and on any port sees everything at the address */
	cr_expect_eq(look(idx, "192.0.2.1", 0, 0, m), 2);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT);
	cr_expect_eq(m[1].kind, TT_RELAY_MATCH_DIRPORT);
	/* the DirPort of the same relay is not reported as ip-only */
	cr_expect_eq(look(idx, "192.0.2.1", 9001, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.1", 22, 0, m), 2);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_IP_ONLY);
	tt_relays_free(idx);
}

Test(relays, ipv6_a_lines)
{
	struct router r[] = {
	    {"six", ID_A, "192.0.2.1", 9001, 0, "Running Valid", "[2001:db8::1]:9001",
		"[2001:db8:0:0::2]:443"},
	    {"badsix", ID_B, "192.0.2.2", 9001, 0, "Running Valid", "[2001:db8::zz]:9001", NULL},
	};
	char *path = write_consensus("six", 0, false, r, 2, NULL);
	struct tt_relays *idx = build_one(path);
	struct tt_relay_match m[64];
	uint64_t t = (BASE_S + 1800) * S_NS;
	size_t n;

	n = look(idx, "2001:db8::1", 9001, t, m);
	cr_assert_eq(n, 1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT);
	cr_expect_eq(m[0].ip_version, 6);
	cr_expect_str_eq(m[0].nickname, "six");
	n = look(idx, "2001:db8::2", 443, t, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_ORPORT, FP_A));
	n = look(idx, "2001:db8::2", 9001, t, m);
	cr_expect(has_kind(m, n, TT_RELAY_MATCH_IP_ONLY, FP_A));
	cr_expect_eq(look(idx, "2001:db8::3", 0, 0, m), 0);
	/* the v4 address of the same relay is still there */
	cr_expect_eq(look(idx, "192.0.2.1", 9001, t, m), 1);
	/* an IPv4 address is not confused with the IPv6 address of the same bytes */
	cr_expect_eq(look(idx, "::c000:201", 9001, t, m), 0);
	/* the bad a line is reported, its router still loads */
	cr_expect_eq(tt_relays_n_errors(idx), 1);
	cr_expect(strstr(tt_relays_error(idx, 0), "bad address in a line"), "%s",
	    tt_relays_error(idx, 0));
	cr_expect_eq(look(idx, "192.0.2.2", 9001, t, m), 1);
	tt_relays_free(idx);
	free(path);
}

Test(relays, bad_lines_are_reported_with_file_and_line_and_the_rest_loads)
{
	struct router r[] = {
	    {"good1", ID_A, "192.0.2.1", 9001, 0, "Running Valid", NULL, NULL},
	    {"bad", ID_B, "300.0.2.2", 9001, 0, "Running Valid", NULL, NULL},
	    {"good2", ID_C, "192.0.2.3", 9001, 0, "Running Valid", NULL, NULL},
	};
	static const char junk[] = "just some notes\n";
	static const char nodates[] = "network-status-version 3\nvote-status consensus\n"
				      "r x BAAAAAAAAAAAAAAAAAAAAAAAAAA 2038-01-01 00:00:00 "
				      "192.0.2.9 9001 0\n";
	char *path = write_consensus("doc", 0, false, r, 3, "r too few fields");
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[64];

	free(tt_test_write(tmp, "notes.txt", junk, sizeof(junk) - 1));
	free(tt_test_write(tmp, "nodates", nodates, sizeof(nodates) - 1));
	idx = build_one(tmp);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs, 1);
	cr_expect_eq(in.n_skipped, 1);
	cr_expect_eq(in.n_failed, 1, "the consensus without dates");
	cr_expect_eq(in.n_errors, 3);
	cr_assert_eq(tt_relays_n_errors(idx), 3);
	/* "bad" is the second router: 10 header lines, then 5 lines per router */
	cr_expect(has_error(idx, "/doc:16: bad IPv4 address '300.0.2.2'"));
	cr_expect(has_error(idx, "/doc:26: r line has the wrong number of fields 'r too few"));
	cr_expect(has_error(idx, "/nodates:3: consensus without a usable valid-after"));
	cr_expect_eq(look(idx, "192.0.2.1", 9001, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.3", 9001, 0, m), 1);
	cr_expect_eq(look(idx, "192.0.2.9", 9001, 0, m), 0);
	tt_relays_free(idx);
	free(path);
}

Test(relays, missing_path_is_an_error)
{
	const char *p = "/nonexistent/relays/path";
	struct tt_relays *idx = NULL;

	cr_expect_eq(tt_relays_build(&p, 1, &idx), -ENOENT);
	cr_expect_null(idx);
}

/* ---- cache ------------------------------------------------------------------------- */

static void expect_same(const struct tt_relays *a, const struct tt_relays *b)
{
	struct tt_relays_info ia, ib;
	struct tt_relay_match ma[64], mb[64];
	static const char *const addrs[] = {
	    "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "198.51.100.7", "203.0.113.9"};

	tt_relays_get_info(a, &ia);
	tt_relays_get_info(b, &ib);
	ia.is_from_cache = ib.is_from_cache = false;
	cr_expect_eq(memcmp(&ia, &ib, sizeof(ia)), 0, "info");
	cr_expect_str_eq(tt_relays_digest(a), tt_relays_digest(b));
	cr_expect_eq(tt_relays_n_errors(a), tt_relays_n_errors(b));
	for (size_t i = 0; i < tt_relays_n_errors(a); i++)
		cr_expect_str_eq(tt_relays_error(a, i), tt_relays_error(b, i));
	cr_expect_eq(tt_relays_n_docs(a), tt_relays_n_docs(b));
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		size_t na = look(a, addrs[i], 0, 0, ma), nb = look(b, addrs[i], 0, 0, mb);

		cr_expect_eq(na, nb, "%s", addrs[i]);
		cr_expect_eq(
		    memcmp(ma, mb, (na < 64 ? na : 64) * sizeof(ma[0])), 0, "%s", addrs[i]);
	}
}

static void make_small_archive(void)
{
	static const char exits[] = "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\n"
				    "ExitAddress 198.51.100.7 2024-05-17 18:10:51\n";
	char name[32];

	for (long h = 0; h < 6; h++) {
		struct router r[] = {
		    {"relayA", ID_A, "192.0.2.1", 9001, 9030, "Running Valid", "[2001:db8::1]:9001",
			NULL},
		    {"relayB", ID_B, h < 3 ? "192.0.2.2" : "192.0.2.3", 443, 0,
			"Exit Running Valid", NULL, NULL},
		};

		snprintf(name, sizeof(name), "c-%02ld", h);
		free(write_consensus(name, h, false, r, 2, h == 2 ? "a [::1]:zz" : NULL));
	}
	free(tt_test_write(tmp, "exits", exits, sizeof(exits) - 1));
}

Test(relays, cache_round_trip_is_equal)
{
	char cache[600];
	struct tt_relays *built, *loaded;
	struct tt_relays_info in;

	make_small_archive();
	built = build_one(tmp);
	snprintf(cache, sizeof(cache), "%s.cache", tmp);
	cr_assert_eq(tt_relays_save(built, cache), 0);
	cr_assert_eq(tt_relays_load_cache(cache, &loaded), 0);
	tt_relays_get_info(loaded, &in);
	cr_expect(in.is_from_cache);
	cr_expect_eq(in.n_errors, 1);
	expect_same(built, loaded);
	cr_expect_eq(tt_relays_is_fresh(loaded, (const char *const *)&tmp, 1), 1);
	tt_relays_free(loaded);
	tt_relays_free(built);
	unlink(cache);
}

Test(relays, cache_is_rebuilt_when_sources_change)
{
	char cache[600], *extra;
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[64];
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
	const char *paths[] = {tmp};
	static const char list[] = "203.0.113.9\n";

	make_small_archive();
	/* the cache lives inside the folder it indexes: it must not count as a source */
	snprintf(cache, sizeof(cache), "%s/relays.cache", tmp);
	cr_assert_eq(tt_relays_open(tmp, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache);
	cr_expect_eq(in.n_docs, 7);
	tt_relays_free(idx);
	cr_assert_eq(tt_relays_open(tmp, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect(in.is_from_cache, "second open uses the cache");
	cr_expect_eq(in.n_docs, 7);
	cr_expect_eq(in.n_skipped, 0);
	cr_expect_eq(tt_relays_is_fresh(idx, paths, 1), 1);
	/* a new file: stale */
	extra = tt_test_write(tmp, "list", list, sizeof(list) - 1);
	cr_expect_eq(tt_relays_is_fresh(idx, paths, 1), 0);
	tt_relays_free(idx);
	cr_assert_eq(tt_relays_open(tmp, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache);
	cr_expect_eq(look(idx, "203.0.113.9", 0, 0, m), 1);
	tt_relays_free(idx);
	/* a changed mtime: stale */
	cr_assert_eq(tt_relays_open(tmp, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect(in.is_from_cache);
	cr_assert_eq(utimensat(AT_FDCWD, extra, ts, 0), 0);
	cr_expect_eq(tt_relays_is_fresh(idx, paths, 1), 0);
	tt_relays_free(idx);
	/* a removed file: stale, and the rebuild no longer has it */
	unlink(extra);
	cr_assert_eq(tt_relays_open(tmp, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache);
	cr_expect_eq(look(idx, "203.0.113.9", 0, 0, m), 0);
	tt_relays_free(idx);
	free(extra);
}

Test(relays, corrupt_cache_is_refused)
{
	char cache[600], *data;
	size_t len;
	struct tt_relays *idx = NULL;
	const char *paths[] = {tmp};

	make_small_archive();
	snprintf(cache, sizeof(cache), "%s.cache", tmp);
	idx = build_one(tmp);
	cr_assert_eq(tt_relays_save(idx, cache), 0);
	tt_relays_free(idx);
	data = tt_test_slurp(cache, &len);
	/* flip a byte in the middle: the checksum catches it */
	data[len / 2] ^= 0x40;
	free(tt_test_write("/", cache + 1, data, len));
	idx = NULL;
	cr_expect_eq(tt_relays_load_cache(cache, &idx), -EBADMSG);
	cr_expect_null(idx);
	/* truncated */
	data[len / 2] ^= 0x40;
	free(tt_test_write("/", cache + 1, data, len - 100));
	cr_expect_eq(tt_relays_load_cache(cache, &idx), -EBADMSG);
	/* not a cache at all */
	free(tt_test_write("/", cache + 1, "hello", 5));
	cr_expect_eq(tt_relays_load_cache(cache, &idx), -EBADMSG);
	/* open() rebuilds over it */
	cr_expect_eq(tt_relays_open_paths(paths, 1, cache, &idx), 0);
	cr_expect_not_null(idx);
	tt_relays_free(idx);
	cr_expect_eq(tt_relays_load_cache(cache, &idx), 0, "rewritten");
	tt_relays_free(idx);
	free(data);
	unlink(cache);
}

/* ---- hostile caches ---------------------------------------------------------------- */

/* The cache layout as a tamperer sees it (TTRELAYS v2): the header checksum is an XXH3-64
 * of the bytes after the 232-byte header, at offset 32; sect[i] = (off, count) at 104. */
#define CACHE_HDR      232
#define CACHE_CHECKSUM 32
#define CACHE_NADDR    80
#define CACHE_SECT     104
enum { C_FILES, C_SOURCES, C_RELAYS, C_IVALS, C_SLOTS, C_ROOTS, C_ERRORS, C_STRINGS };

static uint64_t rd64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void wr32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static char *sect_at(char *data, int s, uint64_t *count)
{
	*count = rd64(data + CACHE_SECT + 16 * s + 8);
	return data + rd64(data + CACHE_SECT + 16 * s);
}

/* XXH3 is not a MAC: anyone who edits a cache can recompute its checksum. */
static void rehash(char *data, size_t len)
{
	wr64(data + CACHE_CHECKSUM, XXH3_64bits(data + CACHE_HDR, len - CACHE_HDR));
}

/* The index of the first occupied slot whose run has at least `min_count` intervals. */
static uint64_t find_slot(char *data, uint32_t min_count)
{
	uint64_t n;
	char *slots = sect_at(data, C_SLOTS, &n);

	for (uint64_t i = 0; i < n; i++) {
		uint32_t cnt;

		memcpy(&cnt, slots + 8 * i + 4, 4);
		if (cnt >= min_count)
			return i;
	}
	cr_assert_fail("no slot with %u intervals", min_count);
	return 0;
}

enum tamper {
	T_SLOTS_FULL,     /* every slot occupied: no empty slot ends a probe */
	T_SLOT_MID_RUN,   /* a slot's run starts inside another address's run */
	T_SLOT_TOO_LONG,  /* a run that runs into the next address */
	T_SLOT_DUPLICATE, /* two slots for one address, another address unreachable */
	T_SLOT_MOVED,     /* an address moved out of its probe chain */
	T_NADDR_WRONG,    /* header address count differs from the table */
	T_IVAL_V4_PAD,    /* an IPv4 address with bytes after the first 4 */
	T_IVAL_BACKWARDS, /* an interval that ends before it starts */
	T_IVAL_UNSORTED,  /* intervals out of order */
	T_STRING_OFF,     /* a path offset past the string pool */
	T_TAMPER_COUNT,
};

static void tamper(char *data, size_t len, int how)
{
	uint64_t n_slots, n_ivals, n_files, s;
	char *slots = sect_at(data, C_SLOTS, &n_slots);
	char *ivals = sect_at(data, C_IVALS, &n_ivals);
	char *files = sect_at(data, C_FILES, &n_files);
	char tmpv[8];

	cr_assert_gt(n_ivals, 4);
	switch (how) {
	case T_SLOTS_FULL:
		for (uint64_t i = 0; i < n_slots; i++) {
			wr32(slots + 8 * i, 0);
			wr32(slots + 8 * i + 4, 1);
		}
		break;
	case T_SLOT_MID_RUN:
		s = find_slot(data, 2);
		{
			uint32_t first, cnt;

			memcpy(&first, slots + 8 * s, 4);
			memcpy(&cnt, slots + 8 * s + 4, 4);
			wr32(slots + 8 * s, first + 1);
			wr32(slots + 8 * s + 4, cnt - 1);
		}
		break;
	case T_SLOT_TOO_LONG:
		s = find_slot(data, 1);
		{
			uint32_t first, cnt;

			memcpy(&first, slots + 8 * s, 4);
			memcpy(&cnt, slots + 8 * s + 4, 4);
			if (first + cnt >= n_ivals) { /* the last run: take another */
				for (uint64_t i = 0; i < n_slots; i++) {
					memcpy(&first, slots + 8 * i, 4);
					memcpy(&cnt, slots + 8 * i + 4, 4);
					if (cnt && first + cnt < n_ivals) {
						s = i;
						break;
					}
				}
			}
			wr32(slots + 8 * s + 4, cnt + 1);
		}
		break;
	case T_SLOT_DUPLICATE: {
		uint64_t a = find_slot(data, 1), b;

		for (b = a + 1; b < n_slots; b++)
			if (rd64(slots + 8 * b) >> 32)
				break;
		cr_assert_lt(b, n_slots);
		memcpy(slots + 8 * b, slots + 8 * a, 8);
		break;
	}
	case T_SLOT_MOVED: {
		/* Swap an occupied slot with the empty slot furthest from it: its address is
		 * no longer on its probe chain (an empty slot comes first). */
		uint64_t a = find_slot(data, 1), b = (a + n_slots / 2) % n_slots;

		while (rd64(slots + 8 * b) >> 32)
			b = (b + 1) % n_slots;
		memcpy(tmpv, slots + 8 * a, 8);
		memcpy(slots + 8 * a, slots + 8 * b, 8);
		memcpy(slots + 8 * b, tmpv, 8);
		break;
	}
	case T_NADDR_WRONG:
		wr64(data + CACHE_NADDR, rd64(data + CACHE_NADDR) + 1);
		break;
	case T_IVAL_V4_PAD:
		/* the last intervals are IPv6 (sorted by version): the first is IPv4 */
		cr_assert_eq((uint8_t)ivals[50], 4);
		ivals[15] = 1;
		break;
	case T_IVAL_BACKWARDS:
		/* from_ns at 16, to_ns at 24 */
		memcpy(tmpv, ivals + 16, 8);
		memcpy(ivals + 16, ivals + 24, 8);
		memcpy(ivals + 24, tmpv, 8);
		break;
	case T_IVAL_UNSORTED: {
		char rec[56];

		memcpy(rec, ivals, 56);
		memcpy(ivals, ivals + 56 * (n_ivals - 1), 56);
		memcpy(ivals + 56 * (n_ivals - 1), rec, 56);
		break;
	}
	case T_STRING_OFF:
		cr_assert_gt(n_files, 0);
		wr32(files + 80, 0x7fffffff); /* path_off */
		break;
	}
	rehash(data, len);
}

struct tamper_case {
	int how; /* enum tamper */
};

ParameterizedTestParameters(relays, tampered_cache_is_refused)
{
	static struct tamper_case cases[] = {
	    {T_SLOTS_FULL},
	    {T_SLOT_MID_RUN},
	    {T_SLOT_TOO_LONG},
	    {T_SLOT_DUPLICATE},
	    {T_SLOT_MOVED},
	    {T_NADDR_WRONG},
	    {T_IVAL_V4_PAD},
	    {T_IVAL_BACKWARDS},
	    {T_IVAL_UNSORTED},
	    {T_STRING_OFF},
	};
	return cr_make_param_array(struct tamper_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* A cache with a recomputed checksum but broken structure is refused as corrupt. Before
 * the structural checks, T_SLOTS_FULL loaded and every lookup of an absent address
 * probed forever: the suite's timeout catches that. */
ParameterizedTest(struct tamper_case *c, relays, tampered_cache_is_refused)
{
	char cache[600], *data;
	size_t len;
	struct tt_relays *idx = NULL;
	struct tt_relay_match m[64];
	int rc;

	make_small_archive();
	snprintf(cache, sizeof(cache), "%s.cache", tmp);
	idx = build_one(tmp);
	cr_assert_eq(tt_relays_save(idx, cache), 0);
	tt_relays_free(idx);
	data = tt_test_slurp(cache, &len);
	cr_assert(data);
	cr_assert_eq(tt_relays_load_cache(cache, &idx), 0, "untampered copy loads");
	tt_relays_free(idx);
	idx = NULL;
	tamper(data, len, c->how);
	free(tt_test_write("/", cache + 1, data, len));
	rc = tt_relays_load_cache(cache, &idx);
	if (rc == 0) { /* must at least answer promptly */
		look(idx, "192.0.2.77", 443, 0, m);
		look(idx, "2001:db8::77", 0, 0, m);
		tt_relays_free(idx);
	}
	cr_expect_eq(rc, -EBADMSG, "tamper case %d loaded (%d)", c->how, rc);
	free(data);
	unlink(cache);
}

/* tt_relays_open_paths ignores a tampered cache, rebuilds from the sources and writes a
 * good cache over it. */
Test(relays, tampered_cache_is_rebuilt_by_open, .timeout = 10)
{
	char cache[600], *data;
	size_t len;
	struct tt_relays *idx = NULL;
	struct tt_relays_info in;
	struct tt_relay_match m[64];
	const char *paths[] = {tmp};

	make_small_archive();
	snprintf(cache, sizeof(cache), "%s.cache", tmp);
	cr_assert_eq(tt_relays_open_paths(paths, 1, cache, &idx), 0);
	tt_relays_free(idx);
	data = tt_test_slurp(cache, &len);
	tamper(data, len, T_SLOTS_FULL);
	free(tt_test_write("/", cache + 1, data, len));
	cr_assert_eq(tt_relays_open_paths(paths, 1, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache, "the tampered cache was not used");
	cr_expect_eq(look(idx, "192.0.2.77", 443, 0, m), 0);
	cr_expect_gt(look(idx, "192.0.2.1", 9001, 0, m), 0);
	tt_relays_free(idx);
	cr_expect_eq(tt_relays_load_cache(cache, &idx), 0, "rewritten");
	tt_relays_free(idx);
	free(data);
	unlink(cache);
}

/* Probing is bounded by the longest probe run in the table, not by finding an empty slot:
 * a table crowded by colliding addresses still answers misses correctly. */
Test(relays, lookups_in_a_crowded_table_find_every_address)
{
	char *list = malloc(64 * 20), *path;
	size_t at = 0;
	struct tt_relays *idx;
	struct tt_relay_match m[4];
	char a[32], cache[600];

	for (int i = 0; i < 64; i++)
		at += (size_t)snprintf(list + at, 64 * 20 - at, "198.51.100.%d\n", i);
	path = tt_test_write(tmp, "list", list, at);
	idx = build_one(path);
	snprintf(cache, sizeof(cache), "%s.cache", tmp);
	cr_assert_eq(tt_relays_save(idx, cache), 0);
	tt_relays_free(idx);
	cr_assert_eq(tt_relays_load_cache(cache, &idx), 0);
	for (int i = 0; i < 256; i++) {
		snprintf(a, sizeof(a), "198.51.100.%d", i);
		cr_expect_eq(look(idx, a, 0, 0, m), i < 64 ? 1u : 0u, "%s", a);
	}
	tt_relays_free(idx);
	unlink(cache);
	free(path);
	free(list);
}

/* ---- non-regular files ------------------------------------------------------------- */

/* A FIFO as the cache path: open() of a FIFO for reading blocks until a writer comes, so
 * it must be refused without a blocking open, when loading and when saving. */
Test(relays, fifo_cache_path_fails_fast, .timeout = 10)
{
	char fifo[600];
	struct tt_relays *idx = NULL;
	struct stat st;
	const char *paths[] = {tmp};

	make_small_archive();
	snprintf(fifo, sizeof(fifo), "%s.fifo", tmp);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_expect_eq(tt_relays_load_cache(fifo, &idx), -EINVAL);
	cr_expect_null(idx);
	cr_expect_eq(tt_relays_open_paths(paths, 1, fifo, &idx), -EINVAL);
	cr_expect_null(idx);
	idx = build_one(tmp);
	cr_expect_eq(tt_relays_save(idx, fifo), -EINVAL);
	tt_relays_free(idx);
	cr_assert_eq(stat(fifo, &st), 0);
	cr_expect(S_ISFIFO(st.st_mode), "the FIFO was left alone");
	/* a folder is refused too */
	cr_expect_eq(tt_relays_load_cache(tmp, &idx), -EISDIR);
	unlink(fifo);
}

/* FIFOs (and symlinks to them) among the sources are skipped, not opened. */
Test(relays, fifo_among_sources_is_skipped, .timeout = 10)
{
	char fifo[600], link_[600];
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[4];
	static const char list[] = "192.0.2.9\n";

	free(tt_test_write(tmp, "list", list, sizeof(list) - 1));
	snprintf(fifo, sizeof(fifo), "%s/a-fifo", tmp);
	snprintf(link_, sizeof(link_), "%s/b-link", tmp);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(symlink(fifo, link_), 0);
	idx = build_one(tmp);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_files, 1);
	cr_expect_eq(look(idx, "192.0.2.9", 0, 0, m), 1);
	tt_relays_free(idx);
	/* and a FIFO given as the path itself is refused */
	{
		const char *paths[] = {fifo};

		cr_expect_eq(tt_relays_build(paths, 1, &idx), -EINVAL);
	}
}

/* ---- unusable relay data ------------------------------------------------------------- */

struct empty_case {
	char name[24];
	char text[200];
	size_t len; /* 0: strlen(text); SIZE_MAX: random bytes */
	char why[64];
};

ParameterizedTestParameters(relays, unusable_relay_data_has_no_entries)
{
	static struct empty_case cases[] = {
	    {"empty", "", 0, "none a consensus, exit list or IP list"},
	    {"garbage.bin", "", SIZE_MAX, "none a consensus, exit list or IP list"},
	    {"header-only",
		"network-status-version 3 microdesc\nvote-status consensus\n"
		"valid-after 2024-05-17 17:00:00\nfresh-until 2024-05-17 18:00:00\n"
		"valid-until 2024-05-17 20:00:00\ndirectory-footer\n",
		0, "1 document with no entries"},
	    {"comments-only", "# nothing here\n\n# at all\n", 0,
		"none a consensus, exit list or IP list"},
	};
	return cr_make_param_array(struct empty_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Files that hold no relay entries build an empty index (without qsort(NULL, 0), which
 * UBSan reports), and tt_relays_describe_empty says why. */
ParameterizedTest(struct empty_case *c, relays, unusable_relay_data_has_no_entries)
{
	char *path, buf[512], *bytes = NULL;
	size_t len = c->len ? c->len : strlen(c->text);
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relay_match m[4];

	if (c->len == SIZE_MAX) {
		len = 1 << 16;
		bytes = malloc(len);
		srand(1);
		for (size_t i = 0; i < len; i++)
			bytes[i] = (char)(rand() & 0xff);
	}
	path = tt_test_write(tmp, c->name, bytes ? bytes : c->text, len);
	idx = build_one(tmp);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_intervals, 0);
	if (strstr(c->why, "none")) { /* no document: no span */
		cr_expect_eq(in.earliest_ns, 0);
		cr_expect_eq(in.latest_ns, 0);
	}
	cr_expect_eq(look(idx, "198.51.100.7", 0, 0, m), 0);
	cr_expect(tt_relays_is_empty(idx));
	tt_relays_describe_empty(idx, buf, sizeof(buf));
	cr_expect(strstr(buf, c->why), "%s: '%s' lacks '%s'", c->name, buf, c->why);
	cr_expect(strstr(buf, "1 file"), "%s: '%s'", c->name, buf);
	tt_relays_free(idx);
	free(path);
	free(bytes);
}

Test(relays, empty_folder_has_no_entries)
{
	struct tt_relays *idx = build_one(tmp);
	char buf[256];

	cr_expect(tt_relays_is_empty(idx));
	tt_relays_describe_empty(idx, buf, sizeof(buf));
	cr_expect(strstr(buf, "no files"), "'%s'", buf);
	tt_relays_free(idx);
	make_small_archive();
	idx = build_one(tmp);
	cr_expect_not(tt_relays_is_empty(idx));
	tt_relays_free(idx);
}

Test(relays, digest_depends_on_content_only)
{
	struct tt_relays *a, *b;
	char *d2 = tt_test_tmpdir();
	static const char l1[] = "192.0.2.1\n", l2[] = "192.0.2.2\n";

	free(tt_test_write(tmp, "one", l1, sizeof(l1) - 1));
	free(tt_test_write(tmp, "two", l2, sizeof(l2) - 1));
	free(tt_test_write(d2, "zzz", l1, sizeof(l1) - 1));
	free(tt_test_write(d2, "aaa", l2, sizeof(l2) - 1));
	a = build_one(tmp);
	b = build_one(d2);
	cr_expect_str_eq(tt_relays_digest(a), tt_relays_digest(b));
	tt_relays_free(b);
	free(tt_test_write(d2, "aaa", l1, sizeof(l1) - 1));
	b = build_one(d2);
	cr_expect_str_neq(tt_relays_digest(a), tt_relays_digest(b));
	tt_relays_free(a);
	tt_relays_free(b);
	tt_test_rmrf(d2);
	free(d2);
}

/* ---- time spans ------------------------------------------------------------------- */

Test(relays, lookup_range_covers_a_day)
{
	struct router r[] = {{"x", ID_A, "192.0.2.1", 9001, 0, "Running Valid", NULL, NULL}};
	char *path = write_consensus("doc", 0, false, r, 1, NULL); /* 17:00 to 20:00 */
	struct tt_relays *idx = build_one(path);
	struct tt_relay_match m[4];
	uint8_t a[16], ver;
	uint64_t day = (BASE_S - 17 * HOUR_S) * S_NS; /* 2024-05-17 00:00 */

	ip("192.0.2.1", a, &ver);
	cr_expect_eq(
	    tt_relays_lookup_range(idx, a, ver, 9001, day, day + TT_RELAYS_DAY_NS, m, 4), 1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT);
	cr_expect_eq(tt_relays_lookup_range(idx, a, ver, 9001, day + TT_RELAYS_DAY_NS,
			 day + 2 * TT_RELAYS_DAY_NS, m, 4),
	    1);
	cr_expect_eq(m[0].kind, TT_RELAY_MATCH_ORPORT_NEAR);
	/* max = 0 only counts */
	cr_expect_eq(tt_relays_lookup(idx, a, ver, 0, 0, m, 0), 1);
	tt_relays_free(idx);
	free(path);
}

/* ---- CLI --------------------------------------------------------------------------- */

static int cli(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4,
    const char *a5, const char *a6)
{
	char *argv[8] = {(char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
	    (char *)a6, NULL};
	int argc = 0;

	while (argc < 7 && argv[argc])
		argc++;
	return tt_relays_cli(argc, argv);
}

static void setup_quiet(void)
{
	cr_redirect_stdout();
	cr_redirect_stderr();
	if (!tmp)
		setup();
}

Test(relays, cli_exit_statuses, .init = setup_quiet)
{
	make_small_archive();
	cr_expect_eq(cli("relays", "lookup", "--relays", tmp, "192.0.2.1:9001", NULL, NULL), 0);
	cr_expect_eq(cli("relays", "lookup", "--relays", tmp, "--at", "2024-05-17T18:30:00Z",
			 "192.0.2.1:9001"),
	    0);
	cr_expect_eq(
	    cli("relays", "lookup", "--relays", tmp, "--at", "2024-05-20", "192.0.2.1"), 1);
	cr_expect_eq(
	    cli("relays", "lookup", "--json", "--relays", tmp, "[2001:db8::1]:9001", NULL), 0);
	cr_expect_eq(cli("relays", "lookup", "--relays", tmp, "203.0.113.1", NULL, NULL), 1);
	cr_expect_eq(cli("relays", "lookup", "--relays", tmp, "--at", "yesterday", "192.0.2.1"), 2);
	cr_expect_eq(cli("relays", "lookup", "--relays", tmp, "999.1.1.1", NULL, NULL), 2);
	cr_expect_eq(cli("relays", "lookup", "192.0.2.1", NULL, NULL, NULL, NULL), 2);
	cr_expect_eq(
	    cli("relays", "lookup", "--relays", "/nonexistent", "192.0.2.1", NULL, NULL), 2);
	cr_expect_eq(cli("relays", "frob", NULL, NULL, NULL, NULL, NULL), 2);
	cr_expect_eq(cli("relays", NULL, NULL, NULL, NULL, NULL, NULL), 2);
	cr_expect_eq(cli("relays", "info", "--relays", tmp, "--errors", "--files", NULL), 0);
	cr_expect_eq(cli("relays", "info", "--relays", tmp, "--json", "--files", "--errors"), 0);
}
