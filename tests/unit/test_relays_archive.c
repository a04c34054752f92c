/* Relay data in archives: tar (plain, xz, gz, bz2, zstd) and single compressed documents,
 * read by the index directly, give the same index as the same documents unpacked.
 *
 * The archives are made at test time with the tar/xz/gzip/bzip2/zstd commands from real
 * documents (the shared corpus and the bundled sample); tests skip with a message when
 * the corpus or a command is missing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "testutil.h"
#include "../../src/relays/relays.h"

#ifndef TT_CORPUS_DIR
#define TT_CORPUS_DIR "../shared/corpus"
#endif
#ifndef TT_TEST_DATA
#define TT_TEST_DATA "tests/data"
#endif
#define SAMPLE_CONSENSUS TT_TEST_DATA "/../../samples/tornet-default-s1/consensus"

#define MAX_ADDRS 3000
#define N_DOCS    10 /* in make_docs() */

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

TestSuite(relays_archive, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------- */

static void need_command(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	if (system(cmd) != 0)
		cr_skip_test("the %s command is not installed: skipped", name);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

/* tmp/docs: real documents of every dated kind, with names that sort as tar --sort=name
 * sorts them. Skips when the corpus is missing. */
static void make_docs(void)
{
	static const char *const corpus[] = {
	    "relays/consensus-2022-11-19T10-microdesc", /* the same hour in both flavours */
	    "relays/consensus-2022-11-19T10-ns",
	    "relays/consensus-2024-05-17T17-microdesc",
	    "relays/samples/consensus-2012-07-12-sample",
	    "relays/samples/consensus-2017-05-25-sample",
	    "relays/exit-lists-2018-11/2018-11-01-00-02-01",
	    "relays/exit-lists-2018-11/2018-11-02-01-02-01",
	};
	struct stat st;
	char path[1024];

	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", TT_CORPUS_DIR, corpus[i]);
		if (stat(path, &st) != 0)
			cr_skip_test("corpus file %s not found (TT_CORPUS_DIR=%s): skipped", path,
			    TT_CORPUS_DIR);
	}
	run("mkdir -p '%s/docs'", tmp);
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
		run("cp '%s/%s' '%s/docs/'", TT_CORPUS_DIR, corpus[i], tmp);
	run("cp '%s'/* '%s/docs/'", SAMPLE_CONSENSUS, tmp);
}

static struct tt_relays *build(const char *path)
{
	struct tt_relays *idx = NULL;

	cr_assert_eq(tt_relays_build(&path, 1, &idx), 0, "build %s", path);
	return idx;
}

struct addrs {
	uint8_t a[MAX_ADDRS][16];
	uint8_t ver[MAX_ADDRS];
	uint16_t port[MAX_ADDRS];
	uint64_t t_ns[MAX_ADDRS];
	size_t n, seen;
	uint64_t doc_t_ns;
};

static void on_addr(void *ctx, const struct tt_relays_entry *e)
{
	struct addrs *s = ctx;

	if (s->n < MAX_ADDRS && s->seen++ % 5 == 0) {
		memcpy(s->a[s->n], e->addr, 16);
		s->ver[s->n] = e->ip_version;
		s->port[s->n] = e->port;
		s->t_ns[s->n] = e->from_ns + (e->to_ns - e->from_ns) / 2;
		s->n++;
	}
}

static void on_bad(void *ctx, uint64_t line, const char *msg)
{
	(void)ctx;
	(void)line;
	(void)msg;
}

/* Addresses listed in the documents of tmp/docs (every 5th entry). */
static struct addrs *collect_addrs(void)
{
	static const struct tt_relays_parse_ops ops = {on_addr, on_bad};
	struct addrs *s = calloc(1, sizeof(*s));
	struct tt_relays *idx;
	char docs[1024];

	snprintf(docs, sizeof(docs), "%s/docs", tmp);
	idx = build(docs); /* for the list of documents */
	for (size_t i = 0; i < tt_relays_n_docs(idx); i++) {
		struct tt_relays_doc d;
		struct tt_relays_doc_stats st;
		size_t len;
		char *text;

		cr_assert_eq(tt_relays_doc(idx, i, &d), 0);
		text = tt_test_slurp(d.path, &len);
		cr_assert(text);
		tt_relays_parse(text, len, &ops, s, &st);
		free(text);
	}
	tt_relays_free(idx);
	cr_assert_gt(s->n, 100);
	return s;
}

/* The name of a document without its folder, archive or compression suffix: what a
 * folder and an archive of the same documents share. Returns a static buffer (one call
 * at a time). */
static const char *doc_base_buf(const struct tt_relays *idx, uint32_t i, char *buf, size_t len)
{
	static const char *const suffixes[] = {".xz", ".zst", ".gz", ".bz2"};
	struct tt_relays_doc d;
	const char *p;
	size_t n;

	cr_assert_eq(tt_relays_doc(idx, i, &d), 0);
	p = d.path;
	for (const char *q = d.path; *q; q++)
		if (*q == '/' || *q == ':')
			p = q + 1;
	snprintf(buf, len, "%s", p);
	n = strlen(buf);
	for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
		size_t m = strlen(suffixes[k]);

		if (n > m && strcmp(buf + n - m, suffixes[k]) == 0)
			buf[n - m] = '\0';
	}
	return buf;
}

#define doc_base(idx, i) doc_base_buf((idx), (i), (char[512]){0}, 512)

static uint64_t doc_va(const struct tt_relays *idx, uint32_t i)
{
	struct tt_relays_doc d;

	cr_assert_eq(tt_relays_doc(idx, i, &d), 0);
	return d.valid_after_ns;
}

static uint64_t doc_vu(const struct tt_relays *idx, uint32_t i)
{
	struct tt_relays_doc d;

	cr_assert_eq(tt_relays_doc(idx, i, &d), 0);
	return d.valid_until_ns;
}

/* Same counts, digest and lookups. The documents a match names are compared by name when
 * both indexes read them in the same order; otherwise by time (of two documents of the
 * same hour, ns and microdesc, either may open the interval). */
static void expect_same_index(const struct tt_relays *a, const struct tt_relays *b,
    const struct addrs *s, const char *what, bool is_same_order)
{
	static struct tt_relay_match ma[64], mb[64];
	struct tt_relays_info ia, ib;

	tt_relays_get_info(a, &ia);
	tt_relays_get_info(b, &ib);
	cr_expect_eq(ia.n_docs, ib.n_docs, "%s: documents %llu vs %llu", what,
	    (unsigned long long)ia.n_docs, (unsigned long long)ib.n_docs);
	for (int k = 0; k < TT_RELAYS_SRC_COUNT; k++)
		cr_expect_eq(
		    ia.n_docs_by_source[k], ib.n_docs_by_source[k], "%s: kind %d", what, k);
	cr_expect_eq(ia.n_relays, ib.n_relays, "%s: relays", what);
	cr_expect_eq(ia.n_intervals, ib.n_intervals, "%s: intervals %llu vs %llu", what,
	    (unsigned long long)ia.n_intervals, (unsigned long long)ib.n_intervals);
	cr_expect_eq(ia.n_addresses, ib.n_addresses, "%s: addresses", what);
	cr_expect_eq(ia.n_source_bytes, ib.n_source_bytes, "%s: bytes", what);
	cr_expect_eq(ia.earliest_ns, ib.earliest_ns, "%s", what);
	cr_expect_eq(ia.latest_ns, ib.latest_ns, "%s", what);
	cr_expect_eq(ia.n_errors, ib.n_errors, "%s: errors", what);
	cr_expect_str_eq(tt_relays_digest(a), tt_relays_digest(b), "%s: digest", what);
	for (size_t i = 0; i < s->n; i++) {
		for (int pass = 0; pass < 2; pass++) {
			uint16_t port = pass ? s->port[i] : 0;
			uint64_t t = pass ? s->t_ns[i] : 0;
			size_t na = tt_relays_lookup(a, s->a[i], s->ver[i], port, t, ma, 64);
			size_t nb = tt_relays_lookup(b, s->a[i], s->ver[i], port, t, mb, 64);

			cr_assert_eq(
			    na, nb, "%s: address %zu: %zu vs %zu matches", what, i, na, nb);
			cr_assert_gt(na, 0, "%s: address %zu not found", what, i);
			for (size_t j = 0; j < na && j < 64; j++) {
				struct tt_relay_match x = ma[j], y = mb[j];

				if (!is_same_order) {
					cr_assert_eq(doc_va(a, x.first_doc), doc_va(b, y.first_doc),
					    "%s: address %zu match %zu: first document", what, i,
					    j);
					cr_assert_eq(doc_vu(a, x.last_doc), doc_vu(b, y.last_doc),
					    "%s: address %zu match %zu: last document", what, i, j);
					goto rest;
				}
				cr_assert_str_eq(doc_base(a, x.first_doc), doc_base(b, y.first_doc),
				    "%s: address %zu match %zu: first document %s vs %s", what, i,
				    j, doc_base(a, x.first_doc), doc_base(b, y.first_doc));
				cr_assert_str_eq(doc_base(a, x.last_doc), doc_base(b, y.last_doc),
				    "%s: address %zu match %zu: last document %s vs %s", what, i, j,
				    doc_base(a, x.last_doc), doc_base(b, y.last_doc));
			rest:
				x.first_doc = y.first_doc = x.last_doc = y.last_doc = 0;
				cr_assert_eq(memcmp(&x, &y, sizeof(x)), 0,
				    "%s: address %zu match %zu differs (%s %s %llu..%llu flags %x "
				    "sources %x kind %u / %s %s %llu..%llu flags %x sources %x "
				    "kind %u)",
				    what, i, j, x.fingerprint, x.nickname,
				    (unsigned long long)x.from_ns, (unsigned long long)x.to_ns,
				    x.flags, x.sources, x.kind, y.fingerprint, y.nickname,
				    (unsigned long long)y.from_ns, (unsigned long long)y.to_ns,
				    y.flags, y.sources, y.kind);
			}
		}
	}
}

static bool has_error(const struct tt_relays *idx, const char *text)
{
	for (size_t i = 0; i < tt_relays_n_errors(idx); i++)
		if (strstr(tt_relays_error(idx, i), text))
			return true;
	return false;
}

/* ---- archives of real documents ---------------------------------------------------- */

struct fmt_case {
	char name[24];
	char tool[16];  /* a command the case needs */
	char make[160]; /* run in tmp/docs; @OUT@ is the archive's path */
	bool is_sorted; /* members in name order (as the folder is walked) */
	size_t n_archives;
};

ParameterizedTestParameters(relays_archive, archive_gives_the_same_index_as_the_folder)
{
	static struct fmt_case cases[] = {
	    {"docs.tar", "tar", "tar --sort=name -cf '@OUT@' *", true, 1},
	    {"docs.tar.xz", "xz", "tar --sort=name -cf - * | xz -6 > '@OUT@'", true, 1},
	    {"docs.tar.gz", "gzip", "tar --sort=name -cf - * | gzip > '@OUT@'", true, 1},
	    {"docs.tar.bz2", "bzip2", "tar --sort=name -cf - * | bzip2 > '@OUT@'", true, 1},
	    {"docs.tar.zst", "zstd", "tar --sort=name -cf - * | zstd -q > '@OUT@'", true, 1},
	    /* members in reverse name order: out of time order for the index */
	    {"reversed.tar.xz", "xz", "ls | sort -r | tar -cf - -T - | xz > '@OUT@'", false, 1},
	    /* one compressed document each, no tar */
	    {"single", "xz", "for f in *; do xz -c \"$f\" > '@OUT@'/\"$f\".xz; done", true, 0},
	    {"single-zst", "zstd", "for f in *; do zstd -q -c \"$f\" > '@OUT@'/\"$f\".zst; done",
		true, 0},
	};

	return cr_make_param_array(struct fmt_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct fmt_case *c, relays_archive, archive_gives_the_same_index_as_the_folder)
{
	char docs[1024], out[1024];
	struct tt_relays *folder, *packed;
	struct tt_relays_info in;
	struct addrs *s;

	need_command("tar");
	need_command(c->tool);
	make_docs();
	snprintf(docs, sizeof(docs), "%s/docs", tmp);
	snprintf(out, sizeof(out), "%s/%s", tmp, c->name);
	if (c->n_archives == 0)
		run("mkdir -p '%s'", out);
	{
		char make[1536];
		const char *at = strstr(c->make, "@OUT@");

		cr_assert(at);
		snprintf(make, sizeof(make), "%.*s%s%s", (int)(at - c->make), c->make, out, at + 5);
		run("cd '%s' && %s", docs, make);
	}
	s = collect_addrs();
	folder = build(docs);
	packed = build(out);
	tt_relays_get_info(packed, &in);
	cr_expect_eq(in.n_files, c->n_archives ? c->n_archives : N_DOCS, "%s: files", c->name);
	cr_expect_eq(in.n_archives, c->n_archives ? c->n_archives : N_DOCS, "%s", c->name);
	cr_expect_eq(in.n_docs, N_DOCS, "%s: documents", c->name);
	cr_expect_eq(in.n_failed, 0, "%s: %s", c->name,
	    tt_relays_n_errors(packed) ? tt_relays_error(packed, 0) : "");
	expect_same_index(folder, packed, s, c->name, c->is_sorted);
	if (c->is_sorted) /* the same documents in the same order: the same numbers */
		for (size_t i = 0; i < tt_relays_n_docs(folder); i++)
			cr_expect_str_eq(
			    doc_base(folder, (uint32_t)i), doc_base(packed, (uint32_t)i));
	if (c->n_archives == 1) { /* members are named ARCHIVE:MEMBER */
		struct tt_relays_doc d;
		char want[1100];

		cr_assert_eq(tt_relays_doc(packed, 0, &d), 0);
		snprintf(want, sizeof(want), "%s:", c->name);
		cr_expect(strstr(d.path, want) != NULL, "%s", d.path);
	}
	tt_relays_free(folder);
	tt_relays_free(packed);
	free(s);
}

Test(relays_archive, truncated_archive_keeps_what_came_before)
{
	char docs[1024], arc[1024], other[1024], *data, *first_doc = NULL;
	struct tt_relays *idx;
	struct tt_relays_info in;
	size_t len;

	need_command("xz");
	make_docs();
	snprintf(docs, sizeof(docs), "%s/docs", tmp);
	run("mkdir -p '%s/in' '%s/other'", tmp, tmp);
	snprintf(arc, sizeof(arc), "%s/in/cut.tar.xz", tmp);
	/* small documents first, the big consensuses last: the cut falls in those */
	run("cd '%s' && tar -cf - auth1-cached-consensus 2018-11-01-00-02-01 "
	    "consensus-2022-11-19T10-ns consensus-2024-05-17T17-microdesc | xz -0 > '%s'",
	    docs, arc);
	data = tt_test_slurp(arc, &len);
	free(tt_test_write(tmp, "in/cut.tar.xz", data, len * 6 / 10));
	free(data);
	/* the rest of the relay data still loads */
	snprintf(other, sizeof(other), "%s/in/client-cached-microdesc-consensus", tmp);
	run("cp '%s/client-cached-microdesc-consensus' '%s'", docs, other);
	snprintf(other, sizeof(other), "%s/in", tmp);
	idx = build(other);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_files, 2);
	cr_expect_geq(in.n_docs, 3, "the documents before the cut and the plain file");
	cr_expect_lt(in.n_docs, 5);
	cr_expect_eq(in.n_failed, 1, "the member the cut falls in");
	cr_expect(has_error(idx, "cut.tar.xz:"), "error names the archive: %s",
	    tt_relays_n_errors(idx) ? tt_relays_error(idx, 0) : "(none)");
	cr_expect(has_error(idx, "damaged archive"), "%s",
	    tt_relays_n_errors(idx) ? tt_relays_error(idx, 0) : "(none)");
	cr_expect(has_error(idx, "near byte"));
	for (size_t i = 0; i < tt_relays_n_docs(idx); i++) {
		struct tt_relays_doc d;

		tt_relays_doc(idx, i, &d);
		if (strstr(d.path, ":auth1-cached-consensus")) {
			first_doc = strdup(d.path);
			cr_expect_not(d.is_failed);
			cr_expect_eq(d.n_routers, 8);
		}
	}
	cr_expect(first_doc != NULL, "the first member is kept");
	free(first_doc);
	tt_relays_free(idx);
}

Test(relays_archive, archive_cut_in_its_first_block_is_one_error)
{
	char path[1024];
	struct tt_relays *idx;
	struct tt_relays_info in;
	static const char junk[] = "\xFD"
				   "7zXZ\0\0\4garbage";

	free(tt_test_write(tmp, "bad.xz", junk, sizeof(junk) - 1));
	snprintf(path, sizeof(path), "%s/bad.xz", tmp);
	idx = build(path);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs, 0);
	cr_expect_eq(in.n_failed, 1);
	cr_expect(has_error(idx, "bad.xz: damaged archive"), "%s",
	    tt_relays_n_errors(idx) ? tt_relays_error(idx, 0) : "(none)");
	cr_expect(tt_relays_is_empty(idx));
	tt_relays_free(idx);
}

Test(relays_archive, tar_members_that_are_not_relay_documents_are_skipped)
{
	char dir[1024], arc[1024];
	struct tt_relays *idx;
	struct tt_relays_info in;
	struct tt_relays_doc d;

	need_command("tar");
	snprintf(dir, sizeof(dir), "%s/m", tmp);
	run("mkdir -p '%s/sub' && cp '%s/auth1-cached-consensus' '%s/sub/' && "
	    "printf 'hello\\n' > '%s/README.txt' && head -c 3000 /dev/urandom > '%s/blob.bin' "
	    "&& printf 'not a relay\\n1.2.3.4\\n' > '%s/sub/notes'",
	    dir, SAMPLE_CONSENSUS, dir, dir, dir, dir);
	snprintf(arc, sizeof(arc), "%s/mixed.tar", tmp);
	run("cd '%s' && tar --sort=name -cf '%s' .", dir, arc);
	idx = build(arc);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_files, 1);
	cr_expect_eq(in.n_docs, 1);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_NS], 1);
	cr_expect_eq(in.n_skipped, 3, "README.txt, blob.bin, sub/notes: %llu",
	    (unsigned long long)in.n_skipped);
	cr_expect_eq(in.n_errors, 0);
	cr_expect_eq(tt_relays_n_docs(idx), 1, "skipped members have no record");
	cr_assert_eq(tt_relays_doc(idx, 0, &d), 0);
	cr_expect(strstr(d.path, "mixed.tar:./sub/auth1-cached-consensus") != NULL, "%s", d.path);
	tt_relays_free(idx);
}

Test(relays_archive, gz_of_one_document_is_that_document)
{
	char plain[1024], gz[1024];
	struct tt_relays *a, *b;
	struct tt_relays_doc da, db;

	need_command("gzip");
	snprintf(plain, sizeof(plain), "%s/auth1-cached-microdesc-consensus", SAMPLE_CONSENSUS);
	snprintf(gz, sizeof(gz), "%s/consensus.gz", tmp);
	run("gzip -c '%s' > '%s'", plain, gz);
	a = build(plain);
	b = build(gz);
	cr_assert_eq(tt_relays_n_docs(b), 1);
	cr_assert_eq(tt_relays_doc(a, 0, &da), 0);
	cr_assert_eq(tt_relays_doc(b, 0, &db), 0);
	cr_expect_str_eq(db.path, gz, "a compressed document is named after its file");
	cr_expect_eq(db.source, TT_RELAYS_SRC_MICRODESC);
	cr_expect_str_eq(da.digest, db.digest, "the digest is of the document, not the gz");
	cr_expect_eq(da.n_entries, db.n_entries);
	cr_expect_eq(db.size_bytes, da.size_bytes);
	cr_expect_str_eq(tt_relays_digest(a), tt_relays_digest(b));
	tt_relays_free(a);
	tt_relays_free(b);
}

Test(relays_archive, gz_of_something_else_is_skipped)
{
	char gz[1024];
	struct tt_relays *idx;
	struct tt_relays_info in;

	need_command("gzip");
	snprintf(gz, sizeof(gz), "%s/notes.gz", tmp);
	run("printf 'hello world\\n' | gzip > '%s'", gz);
	idx = build(gz);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs, 0);
	cr_expect_eq(in.n_skipped, 1);
	cr_expect_eq(in.n_failed, 0);
	cr_expect_eq(in.n_errors, 0);
	tt_relays_free(idx);
}

Test(relays_archive, bad_line_in_a_member_names_archive_member_and_line)
{
	static const char exits[] = "@type tordnsel 1.0\n"
				    "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\n"
				    "ExitAddress 198.51.100.7 2024-05-17 18:10:51\n"
				    "ExitAddress 999.1.1.1 2024-05-17 18:10:51\n";
	char arc[1024];
	struct tt_relays *idx;

	need_command("xz");
	run("mkdir -p '%s/x/lists'", tmp);
	free(tt_test_write(tmp, "x/lists/2024-05-17-18-00-00", exits, sizeof(exits) - 1));
	snprintf(arc, sizeof(arc), "%s/exit-list-2024-05.tar.xz", tmp);
	run("cd '%s/x' && tar -cf - lists | xz > '%s'", tmp, arc);
	idx = build(arc);
	cr_expect(has_error(idx, "exit-list-2024-05.tar.xz:lists/2024-05-17-18-00-00:4: "), "%s",
	    tt_relays_n_errors(idx) ? tt_relays_error(idx, 0) : "(none)");
	tt_relays_free(idx);
}

Test(relays_archive, cache_is_fresh_until_the_archive_changes)
{
	char dir[1024], arc[1024], cache[1024];
	const char *p = arc;
	struct tt_relays *idx;
	struct tt_relays_info in;

	need_command("xz");
	snprintf(dir, sizeof(dir), "%s/c", tmp);
	snprintf(arc, sizeof(arc), "%s/c.tar.xz", tmp);
	snprintf(cache, sizeof(cache), "%s/relays.cache", tmp);
	run("mkdir -p '%s' && cp '%s'/auth1-cached-consensus '%s/'", dir, SAMPLE_CONSENSUS, dir);
	run("cd '%s' && tar -cf - . | xz > '%s'", dir, arc);
	cr_assert_eq(tt_relays_open(arc, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache);
	cr_expect_eq(in.n_docs, 1);
	tt_relays_free(idx);
	cr_assert_eq(tt_relays_open(arc, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect(in.is_from_cache, "an unchanged archive: the cache is used");
	cr_expect_eq(tt_relays_is_fresh(idx, &p, 1), 1);
	tt_relays_free(idx);
	/* another member: the archive's size and mtime change */
	run("cp '%s'/client-cached-microdesc-consensus '%s/' && cd '%s' && tar -cf - . | xz > "
	    "'%s' && touch -d '2001-01-01' '%s'",
	    SAMPLE_CONSENSUS, dir, dir, arc, arc);
	cr_assert_eq(tt_relays_load_cache(cache, &idx), 0);
	cr_expect_eq(tt_relays_is_fresh(idx, &p, 1), 0);
	tt_relays_free(idx);
	cr_assert_eq(tt_relays_open(arc, cache, &idx), 0);
	tt_relays_get_info(idx, &in);
	cr_expect_not(in.is_from_cache, "a changed archive rebuilds the cache");
	cr_expect_eq(in.n_docs, 2);
	tt_relays_free(idx);
}

Test(relays_archive, relay_document_after_many_other_members_is_found)
{
	char dir[1024], arc[1024];
	struct tt_relays *idx;
	struct tt_relays_info in;

	need_command("xz");
	/* like microdescs-YYYY-MM.tar.xz when its micro/ members come first: more than the
	 * first pass looks at (256 members) before the first consensus */
	snprintf(dir, sizeof(dir), "%s/microdescs-2026-11", tmp);
	run("mkdir -p '%s/a-micro' '%s/consensus-microdesc' && cd '%s/a-micro' && "
	    "for i in $(seq 1 300); do printf '@type microdescriptor 1.0\\nonion-key\\n' > m$i; "
	    "done && cp '%s/client-cached-microdesc-consensus' '%s/consensus-microdesc/'",
	    dir, dir, dir, SAMPLE_CONSENSUS, dir);
	snprintf(arc, sizeof(arc), "%s/microdescs-2026-11.tar.xz", tmp);
	run("cd '%s' && tar --sort=name -cf - microdescs-2026-11 | xz > '%s'", tmp, arc);
	idx = build(arc);
	tt_relays_get_info(idx, &in);
	cr_expect_eq(in.n_docs, 1);
	cr_expect_eq(in.n_docs_by_source[TT_RELAYS_SRC_MICRODESC], 1);
	cr_expect_eq(in.n_skipped, 300, "%llu", (unsigned long long)in.n_skipped);
	cr_expect_eq(in.n_errors, 0);
	cr_expect_not(tt_relays_is_empty(idx));
	tt_relays_free(idx);
}
