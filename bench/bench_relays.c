/* Relay index benchmark: a synthetic year of hourly microdesc consensuses, built from the
 * real consensus-2024-05-17T17-microdesc with its times shifted hour by hour and some
 * churn (relays joining late, leaving early, going offline for 1-72 h, changing
 * address), then timed: parse + index of the whole archive, cache save, cache load,
 * the freshness check of tt_relays_open, and lookups per second (one thread, then two
 * threads sharing the index), with a same-run baseline (hashing the lookup key only).
 *
 * usage: bench_relays [--hours N] [--archive DIR] [--keep] [--lookups N]
 *   --hours N     documents to generate (default 8800, or $TT_BENCH_RELAYS_HOURS)
 *   --archive DIR use (or create) the archive there instead of a temporary folder
 *   --keep        do not delete the archive (a temporary one is deleted by default)
 * Exit status 77 (skip) when the corpus document is missing. The archive of 8800
 * documents takes about 22 GB of disk. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "../src/core/core.h"
#include "../src/relays/relays.h"

#ifndef TT_CORPUS_DIR
#define TT_CORPUS_DIR "../shared/corpus"
#endif
#define TEMPLATE "relays/consensus-2024-05-17T17-microdesc"
#define S_NS     1000000000ull

/* ---- the synthetic archive ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) /* splitmix64: fixed seed, so every run writes the same archive */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

struct tmpl_router {
	const char *pre; /* "r nick id date time " */
	size_t pre_len;
	const char *post; /* " ORPort DirPort\n" and the rest of the block */
	size_t post_len;
	char ip[16];
	uint16_t orport;
	/* churn state */
	long join_h, leave_h, offline_until_h;
	char cur_ip[16];
};

struct tmpl {
	char *text;
	const char *head; /* up to valid-after's value */
	size_t head_len;
	const char *mid; /* after valid-until's value, up to the first r line */
	size_t mid_len;
	const char *foot; /* directory-footer to the end */
	size_t foot_len;
	struct tmpl_router *r;
	size_t n;
	uint64_t va_s;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static int tmpl_load(struct tmpl *t, const char *path)
{
	size_t len;
	char *p, *va, *vu_end, *first_r, *foot;

	memset(t, 0, sizeof(*t));
	t->text = slurp(path, &len);
	if (!t->text)
		return -errno;
	va = strstr(t->text, "\nvalid-after ");
	vu_end = strstr(t->text, "\nvalid-until ");
	first_r = strstr(t->text, "\nr ");
	foot = strstr(t->text, "\ndirectory-footer");
	if (!va || !vu_end || !first_r || !foot)
		return -EBADMSG;
	t->head = t->text;
	t->head_len = (size_t)(va + 1 - t->text);
	if (tt_relays_parse_time(va + 13, 19, &t->va_s) < 0)
		return -EBADMSG;
	t->va_s /= S_NS;
	vu_end = strchr(vu_end + 1, '\n');
	t->mid = vu_end;
	t->mid_len = (size_t)(first_r + 1 - vu_end);
	t->foot = foot + 1;
	t->foot_len = len - (size_t)(foot + 1 - t->text);
	t->r = calloc(len / 100, sizeof(*t->r));
	for (p = first_r + 1; p < foot + 1;) {
		struct tmpl_router *r = &t->r[t->n++];
		char *ip = p, *ip_end, *next;
		unsigned port = 0;

		for (int k = 0; k < 5; k++)
			ip = strchr(ip, ' ') + 1;
		ip_end = strchr(ip, ' ');
		next = strstr(ip_end, "\nr ");
		if (!next || next > foot)
			next = foot;
		r->pre = p;
		r->pre_len = (size_t)(ip - p);
		snprintf(r->ip, sizeof(r->ip), "%.*s", (int)(ip_end - ip), ip);
		sscanf(ip_end, " %u", &port);
		r->orport = (uint16_t)port;
		r->post = ip_end;
		r->post_len = (size_t)(next + 1 - ip_end);
		p = next + 1;
	}
	return 0;
}

enum { FMT_TIME, FMT_FOLDER, FMT_NAME };

static void fmt_s(uint64_t s, char *buf, size_t len, int which)
{
	time_t tt = (time_t)s;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (which == FMT_TIME)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else if (which == FMT_FOLDER) /* CollecTor's layout */
		strftime(buf, len, "consensuses-%Y-%m/%d", &tm);
	else
		strftime(buf, len, "%Y-%m-%d-%H-%M-%S-consensus-microdesc", &tm);
}

static int mkdirs(const char *path)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Churn per relay and hour: 5% join late and 5% leave early (uniform hours); each
 * online relay goes offline for 1-72 h with p = 0.002 per hour and changes address with
 * p = 0.0002 per hour (moved addresses are unique, from 100.64.0.0/10). */
static int write_archive(struct tmpl *t, const char *dir, long hours, uint64_t *bytes)
{
	size_t cap = t->head_len + t->mid_len + t->foot_len + 256;
	uint32_t next_ip = 0;
	char *buf;

	for (size_t i = 0; i < t->n; i++)
		cap += t->r[i].pre_len + t->r[i].post_len + 16;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		struct tmpl_router *r = &t->r[i];

		r->join_h = rnd01() < 0.05 ? (long)(rnd() % (uint64_t)hours) : 0;
		r->leave_h = rnd01() < 0.05 ? (long)(rnd() % (uint64_t)hours) : hours;
		memcpy(r->cur_ip, r->ip, sizeof(r->ip));
	}
	*bytes = 0;
	for (long h = 0; h < hours; h++) {
		uint64_t va = t->va_s + (uint64_t)h * 3600u;
		char folder[4096], path[4200], ts[3][32], name[64];
		size_t at = 0;
		int fd;

		fmt_s(va, ts[0], sizeof(ts[0]), FMT_TIME);
		fmt_s(va + 3600, ts[1], sizeof(ts[1]), FMT_TIME);
		fmt_s(va + 3 * 3600, ts[2], sizeof(ts[2]), FMT_TIME);
		memcpy(buf + at, t->head, t->head_len);
		at += t->head_len;
		at += (size_t)sprintf(buf + at, "valid-after %s\nfresh-until %s\nvalid-until %s",
		    ts[0], ts[1], ts[2]);
		memcpy(buf + at, t->mid, t->mid_len);
		at += t->mid_len;
		for (size_t i = 0; i < t->n; i++) {
			struct tmpl_router *r = &t->r[i];
			size_t ipn;

			if (h < r->join_h || h >= r->leave_h)
				continue;
			if (h < r->offline_until_h)
				continue;
			if (rnd01() < 0.002) {
				r->offline_until_h = h + 1 + (long)(rnd() % 72);
				continue;
			}
			if (rnd01() < 0.0002) {
				next_ip++;
				snprintf(r->cur_ip, sizeof(r->cur_ip), "100.%u.%u.%u",
				    64 + (next_ip >> 16 & 63), next_ip >> 8 & 255, next_ip & 255);
			}
			memcpy(buf + at, r->pre, r->pre_len);
			at += r->pre_len;
			ipn = strlen(r->cur_ip);
			memcpy(buf + at, r->cur_ip, ipn);
			at += ipn;
			memcpy(buf + at, r->post, r->post_len);
			at += r->post_len;
		}
		memcpy(buf + at, t->foot, t->foot_len);
		at += t->foot_len;
		fmt_s(va, name, sizeof(name), FMT_FOLDER);
		snprintf(folder, sizeof(folder), "%s/%s", dir, name);
		if (mkdirs(folder) < 0) {
			free(buf);
			return -errno;
		}
		fmt_s(va, name, sizeof(name), FMT_NAME);
		snprintf(path, sizeof(path), "%s/%s", folder, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, at) != (ssize_t)at) {
			free(buf);
			return -errno;
		}
		close(fd);
		*bytes += at;
	}
	free(buf);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- measuring ---------------------------------------------------------------------- */

static double secs(uint64_t t0)
{
	return (double)(tt_now_ns() - t0) / 1e9;
}

static void report(const char *name, double items, double s, const char *extra)
{
	printf("%s: %.0f items in %.3f s = %.0f /s%s%s\n", name, items, s, s > 0 ? items / s : 0,
	    extra ? "  " : "", extra ? extra : "");
	fflush(stdout);
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

struct query {
	uint8_t addr[16];
	uint64_t t_ns;
	uint16_t port;
	uint8_t ver;
};

struct lookup_job {
	const struct tt_relays *idx;
	const struct query *q;
	size_t n_q, n_rounds;
	uint64_t n_found, checksum;
	bool is_baseline;
};

static void *lookup_main(void *arg)
{
	struct lookup_job *j = arg;
	struct tt_relay_match m[8];
	uint64_t n_found = 0, checksum = 0; /* locals: the jobs share a cache line */

	for (size_t r = 0; r < j->n_rounds; r++)
		for (size_t i = 0; i < j->n_q; i++) {
			const struct query *q = &j->q[i];

			if (j->is_baseline) {
				checksum += XXH3_64bits(q->addr, 17);
			} else {
				size_t n = tt_relays_lookup(
				    j->idx, q->addr, q->ver, q->port, q->t_ns, m, 8);

				n_found += n > 0;
				checksum += n ? m[0].kind + m[0].from_ns : 0;
			}
		}
	j->n_found = n_found;
	j->checksum = checksum;
	return NULL;
}

static double run_lookups(const struct tt_relays *idx, const struct query *q, size_t n_q,
    size_t rounds, int n_threads, bool is_baseline, uint64_t *found, uint64_t *checksum)
{
	struct lookup_job jobs[8];
	pthread_t th[8];
	uint64_t t0 = tt_now_ns();

	for (int i = 0; i < n_threads; i++) {
		jobs[i] = (struct lookup_job){idx, q, n_q, rounds, 0, 0, is_baseline};
		pthread_create(&th[i], NULL, lookup_main, &jobs[i]);
	}
	*found = *checksum = 0;
	for (int i = 0; i < n_threads; i++) {
		pthread_join(th[i], NULL);
		*found += jobs[i].n_found;
		*checksum ^= jobs[i].checksum;
	}
	return secs(t0);
}

int main(int argc, char **argv)
{
	long hours = 8800;
	size_t n_lookups = 4000000;
	const char *archive = NULL, *env = getenv("TT_BENCH_RELAYS_HOURS");
	bool keep = false, is_tmp = false;
	char tdir[1024], cache[4200], tpath[1024], extra[256];
	struct tmpl t;
	struct tt_relays *idx = NULL;
	struct tt_relays_info in;
	struct stat st;
	uint64_t t0, bytes = 0, found, sum1, sum2;
	struct query *q;
	size_t n_q = 1u << 16;
	double s;
	int rc;

	if (env)
		hours = atol(env);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc)
			hours = atol(argv[++i]);
		else if (strcmp(argv[i], "--archive") == 0 && i + 1 < argc)
			archive = argv[++i];
		else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
			n_lookups = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--keep") == 0)
			keep = true;
		else {
			fprintf(stderr,
			    "usage: %s [--hours N] [--archive DIR] [--keep] "
			    "[--lookups N]\n",
			    argv[0]);
			return 2;
		}
	}
	if (hours < 1)
		hours = 1;
	snprintf(tpath, sizeof(tpath), "%s/%s", TT_CORPUS_DIR, TEMPLATE);
	if (tmpl_load(&t, tpath) < 0) {
		printf("bench_relays: %s not found: skipped\n", tpath);
		return 77;
	}
	if (!archive) {
		snprintf(tdir, sizeof(tdir), "%s/tt-bench-relays-XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tdir)) {
			perror("mkdtemp");
			return 1;
		}
		archive = tdir;
		is_tmp = true;
	}
	snprintf(cache, sizeof(cache), "%s.ttrelays", archive);
	/* Setup: write the archive unless it is already there. */
	snprintf(tpath, sizeof(tpath), "%s/.complete-%ld", archive, hours);
	if (stat(tpath, &st) != 0) {
		t0 = tt_now_ns();
		mkdirs(archive);
		rc = write_archive(&t, archive, hours, &bytes);
		if (rc < 0) {
			fprintf(stderr, "bench_relays: writing the archive: %s\n", strerror(-rc));
			return 1;
		}
		close(open(tpath, O_WRONLY | O_CREAT, 0644));
		s = secs(t0);
		snprintf(extra, sizeof(extra), "(setup: %.2f GB of %zu-relay documents in %s)",
		    (double)bytes / 1e9, t.n, archive);
		report("relays_archive_write", (double)hours, s, extra);
	}

	/* Build in a child process, so that its peak memory is its own. */
	fflush(stdout);
	if (fork() == 0) {
		t0 = tt_now_ns();
		rc = tt_relays_build((const char *const *)&archive, 1, &idx);
		s = secs(t0);
		if (rc < 0) {
			fprintf(stderr, "bench_relays: build: %s\n", strerror(-rc));
			_exit(1);
		}
		tt_relays_get_info(idx, &in);
		snprintf(extra, sizeof(extra),
		    "(%.1f MB/s; %llu relays, %llu addresses, %llu intervals, %llu errors; "
		    "peak RSS %.1f MiB)",
		    (double)in.n_source_bytes / 1e6 / s, (unsigned long long)in.n_relays,
		    (unsigned long long)in.n_addresses, (unsigned long long)in.n_intervals,
		    (unsigned long long)in.n_errors, (double)peak_rss_kib() / 1024);
		report("relays_build", (double)in.n_docs, s, extra);
		t0 = tt_now_ns();
		rc = tt_relays_save(idx, cache);
		s = secs(t0);
		stat(cache, &st);
		snprintf(extra, sizeof(extra), "(cache %.1f MiB)", (double)st.st_size / 1048576);
		report("relays_save", 1, s, extra);
		tt_relays_free(idx);
		_exit(rc < 0);
	}
	wait(&rc);
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
		return 1;

	/* Load: the mapping and its validation (the file is in the page cache). */
	t0 = tt_now_ns();
	for (int i = 0; i < 10; i++) {
		rc = tt_relays_load_cache(cache, &idx);
		if (rc < 0) {
			fprintf(stderr, "bench_relays: load: %s\n", strerror(-rc));
			return 1;
		}
		if (i < 9)
			tt_relays_free(idx);
	}
	s = secs(t0) / 10;
	report("relays_load_cache", 1, s, "(mmap + validation + checksum, per load)");
	/* open() on a fresh cache: load plus the freshness walk (a stat per document) */
	{
		struct tt_relays *idx2;

		t0 = tt_now_ns();
		rc = tt_relays_open(archive, cache, &idx2);
		s = secs(t0);
		tt_relays_get_info(idx2, &in);
		snprintf(extra, sizeof(extra), "(freshness walk of %llu files; from cache: %s)",
		    (unsigned long long)in.n_files, in.is_from_cache ? "yes" : "NO");
		report("relays_open_fresh", 1, s, extra);
		tt_relays_free(idx2);
	}

	/* Lookups: half at a relay's ORPort at a random hour of the year, half at random
	 * IPv4 addresses (misses, like most flows). */
	q = calloc(n_q, sizeof(*q));
	for (size_t i = 0; i < n_q; i++) {
		q[i].t_ns = (t.va_s + rnd() % ((uint64_t)hours * 3600u)) * S_NS;
		q[i].ver = 4;
		if (i % 2 == 0) {
			const struct tmpl_router *r = &t.r[rnd() % t.n];
			unsigned a, b, c, d;

			sscanf(r->ip, "%u.%u.%u.%u", &a, &b, &c, &d);
			q[i].addr[0] = (uint8_t)a;
			q[i].addr[1] = (uint8_t)b;
			q[i].addr[2] = (uint8_t)c;
			q[i].addr[3] = (uint8_t)d;
			q[i].port = r->orport;
		} else {
			uint32_t v = (uint32_t)rnd();

			memcpy(q[i].addr, &v, 4);
			q[i].port = 443;
		}
	}
	{
		size_t rounds = n_lookups / n_q ? n_lookups / n_q : 1;
		double total = (double)(rounds * n_q);
		uint64_t found2;

		s = run_lookups(idx, q, n_q, rounds, 1, true, &found, &sum1);
		report("baseline_xxh3_key", total, s, "(hash of the 17-byte key only)");
		s = run_lookups(idx, q, n_q, rounds, 1, false, &found, &sum1);
		snprintf(extra, sizeof(extra), "(%.1f%% found, %.0f ns each)",
		    100.0 * (double)found / total, s * 1e9 / total);
		report("relays_lookup_1t", total, s, extra);
		s = run_lookups(idx, q, n_q, rounds, 2, false, &found2, &sum2);
		snprintf(extra, sizeof(extra), "(2 threads sharing the index; results %s)",
		    found2 == 2 * found && sum2 == 0 ? "identical" : "DIFFER");
		report("relays_lookup_2t", 2 * total, s, extra);
	}
	snprintf(extra, sizeof(extra), "(after load + lookups; the mapping is file-backed)");
	report("relays_loaded_rss_anon_kib", (double)(tt_rss_anon_bytes() / 1024), 1, extra);
	tt_relays_free(idx);
	free(q);
	free(t.r);
	free(t.text);
	if (is_tmp && !keep) {
		nftw(archive, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		unlink(cache);
	} else {
		printf("archive kept in %s, cache %s\n", archive, cache);
	}
	return 0;
}
