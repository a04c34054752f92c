/* `tortrace relays lookup|info`: query the relay index from the command line (command-
 * line code: it writes to stdout). */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "relays.h"

#define EXIT_FOUND     0
#define EXIT_NOT_FOUND 1
#define EXIT_USAGE     2
#define NS_PER_S       1000000000ull

struct opts {
	const char **relays; /* --relays, repeatable (borrowed from argv) */
	size_t n_relays;
	const char *cache;
	const char *at;
	bool is_json, show_errors, show_files;
	const char **args; /* positional arguments after the subcommand */
	size_t n_args;
};

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: tortrace relays lookup --relays PATH [--relays PATH]... [--cache FILE]\n"
	    "                              [--at TIME] [--json] ADDRESS[:PORT]...\n"
	    "       tortrace relays info   --relays PATH [--relays PATH]... [--cache FILE]\n"
	    "                              [--json] [--errors] [--files]\n"
	    "\n"
	    "PATH: a consensus, exit list or address list, a folder of them (walked\n"
	    "      recursively), or a tor DataDirectory. Kinds are detected from content.\n"
	    "      Compressed files (.xz, .gz, .zst, .bz2) and tar archives such as\n"
	    "      CollecTor's consensuses-2024-05.tar.xz are read as they are: each member\n"
	    "      is a document, named ARCHIVE:MEMBER.\n"
	    "--cache FILE: compiled index; used when the sources are unchanged, rebuilt\n"
	    "      otherwise. With --cache and no --relays the cache is used as it is.\n"
	    "ADDRESS: 192.0.2.1, 192.0.2.1:9001, 2001:db8::1, [2001:db8::1]:443.\n"
	    "TIME: 2024-05-17T17:30:00Z (UTC; a +HH:MM offset and .fraction are accepted),\n"
	    "      2024-05-17 17:30:00, or a date 2024-05-17 (the whole UTC day).\n"
	    "      Without --at every listing matches, whatever its time.\n"
	    "Match kinds: orport, dirport (listed, time inside the validity), orport-near,\n"
	    "      dirport-near (within 24 h), exit (exit list), ip-only (a relay's address on\n"
	    "      another port: weak), listed-undated (plain list).\n"
	    "Exit status: 0 every address found, 1 some address not found, 2 usage or no data.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->relays = calloc((size_t)argc, sizeof(char *));
	o->args = calloc((size_t)argc, sizeof(char *));
	if (!o->relays || !o->args)
		return -ENOMEM;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *names[] = {"--relays", "--cache", "--at"};
		int which = -1;

		for (int k = 0; k < 3; k++) {
			size_t n = strlen(names[k]);

			if (strcmp(a, names[k]) == 0) {
				if (i + 1 >= argc) {
					fprintf(stderr, "tortrace: relays: %s needs a value\n", a);
					return -EINVAL;
				}
				val = argv[++i];
				which = k;
			} else if (strncmp(a, names[k], n) == 0 && a[n] == '=') {
				val = a + n + 1;
				which = k;
			}
		}
		if (which == 0)
			o->relays[o->n_relays++] = val;
		else if (which == 1)
			o->cache = val;
		else if (which == 2)
			o->at = val;
		else if (strcmp(a, "--json") == 0)
			o->is_json = true;
		else if (strcmp(a, "--errors") == 0)
			o->show_errors = true;
		else if (strcmp(a, "--files") == 0)
			o->show_files = true;
		else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "tortrace: relays: unknown option %s\n", a);
			return -EINVAL;
		} else
			o->args[o->n_args++] = a;
	}
	return 0;
}

/* "2024-05-17" (the whole day), "2024-05-17T17:30[:00][.123][Z|+02:00]" (or a space for
 * the T). Fills [*from, *to). */
static int parse_at(const char *s, uint64_t *from, uint64_t *to)
{
	size_t n = strlen(s), i;
	char buf[20];
	uint64_t t, frac = 0, scale = NS_PER_S;
	int64_t off_s = 0;

	if (n == 10) {
		memcpy(buf, s, 10);
		memcpy(buf + 10, " 00:00:00", 10);
		if (tt_relays_parse_time(buf, 19, &t) < 0)
			return -EINVAL;
		*from = t;
		*to = t + TT_RELAYS_DAY_NS;
		return 0;
	}
	if (n < 16)
		return -EINVAL;
	memcpy(buf, s, 16);
	buf[10] = ' ';
	i = 16;
	if (n >= 19 && s[16] == ':') {
		memcpy(buf + 16, s + 16, 3);
		i = 19;
	} else {
		memcpy(buf + 16, ":00", 3);
	}
	buf[19] = '\0';
	if (tt_relays_parse_time(buf, 19, &t) < 0)
		return -EINVAL;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(s[i] - '0') * scale;
			}
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-') && n - i == 6 && s[i + 3] == ':') {
		int hh = atoi(s + i + 1), mm = atoi(s + i + 4);

		off_s = (int64_t)(hh * 3600 + mm * 60) * (s[i] == '+' ? 1 : -1);
		i += 6;
	}
	if (i != n)
		return -EINVAL;
	t += frac;
	if (off_s > 0)
		t -= (uint64_t)off_s * NS_PER_S;
	else
		t += (uint64_t)(-off_s) * NS_PER_S;
	*from = t;
	*to = t + 1;
	return 0;
}

/* ADDRESS[:PORT] with IPv6 in brackets when a port follows. */
static int parse_query(const char *s, uint8_t addr[16], uint8_t *ver, uint16_t *port)
{
	char host[64];
	const char *colon = strrchr(s, ':'), *p = NULL;
	size_t n;

	memset(addr, 0, 16);
	*port = 0;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return -EINVAL;
		n = (size_t)(rb - s - 1);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (rb[1] == ':')
			p = rb + 2;
		else if (rb[1] != '\0')
			return -EINVAL;
	} else if (colon && strchr(s, ':') == colon) { /* one colon: IPv4:port */
		n = (size_t)(colon - s);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
		p = colon + 1;
	} else {
		if (strlen(s) >= sizeof(host))
			return -EINVAL;
		strcpy(host, s);
	}
	if (inet_pton(AF_INET, host, addr) == 1)
		*ver = 4;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*ver = 6;
	else
		return -EINVAL;
	if (p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (*p == '\0' || *end != '\0' || v == 0 || v > 65535)
			return -EINVAL;
		*port = (uint16_t)v;
	}
	return 0;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / NS_PER_S);
	struct tm tm;

	if (ns == 0 || ns == UINT64_MAX) {
		snprintf(buf, len, "%s", ns == 0 ? "-inf" : "+inf");
		return;
	}
	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_addr(const uint8_t *addr, uint8_t ver, uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(ver == 4 ? AF_INET : AF_INET6, addr, ip, sizeof(ip));
	if (port == 0)
		snprintf(buf, len, "%s", ip);
	else if (ver == 6)
		snprintf(buf, len, "[%s]:%u", ip, port);
	else
		snprintf(buf, len, "%s:%u", ip, port);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_time(uint64_t ns)
{
	char t[32];

	if (ns == 0 || ns == UINT64_MAX) {
		printf("null");
		return;
	}
	fmt_time(ns, t, sizeof(t));
	json_str(t);
}

static const char *doc_path(const struct tt_relays *idx, uint32_t doc)
{
	struct tt_relays_doc d;

	return tt_relays_doc(idx, doc, &d) == 0 ? d.path : "?";
}

static void print_sources(uint8_t sources, bool is_json)
{
	bool first = true;

	for (unsigned s = 1; s < TT_RELAYS_SRC_COUNT; s++) {
		if (!(sources & (1u << s)))
			continue;
		if (is_json)
			printf("%s\"%s\"", first ? "" : ", ", tt_relays_source_name(s));
		else
			printf("%s%s", first ? "" : "+", tt_relays_source_name(s));
		first = false;
	}
}

static void print_match(
    const struct tt_relays *idx, const struct tt_relay_match *m, bool is_json, bool is_first)
{
	char a[64], from[32], to[32], flags[256];

	fmt_addr(m->addr, m->ip_version, m->port, a, sizeof(a));
	fmt_time(m->from_ns, from, sizeof(from));
	fmt_time(m->to_ns, to, sizeof(to));
	tt_relay_flags_format(m->flags, flags, sizeof(flags));
	if (!is_json) {
		printf("  %-14s %-24s %-19s %-40s ", tt_relay_match_kind_name(m->kind), a,
		    m->nickname[0] ? m->nickname : "-", m->fingerprint[0] ? m->fingerprint : "-");
		if (m->to_ns == UINT64_MAX && m->from_ns == 0)
			printf("undated");
		else
			printf("%s .. %s", from, to);
		printf("  [%s]  ", flags);
		print_sources(m->sources, false);
		printf("  %s", doc_path(idx, m->first_doc));
		if (m->last_doc != m->first_doc)
			printf(" .. %s", doc_path(idx, m->last_doc));
		putchar('\n');
		return;
	}
	printf("%s\n      {\"kind\": \"%s\", \"listed_as\": \"%s\", \"address\": ",
	    is_first ? "" : ",", tt_relay_match_kind_name(m->kind),
	    tt_relay_addr_kind_name(m->addr_kind));
	fmt_addr(m->addr, m->ip_version, 0, a, sizeof(a));
	json_str(a);
	printf(", \"port\": %u, \"fingerprint\": ", m->port);
	if (m->fingerprint[0])
		json_str(m->fingerprint);
	else
		printf("null");
	printf(", \"nickname\": ");
	if (m->nickname[0])
		json_str(m->nickname);
	else
		printf("null");
	printf(", \"flags\": [");
	for (unsigned i = 0, n = 0; i < TT_RELAY_FLAG_COUNT; i++) {
		char one[32];

		if (!(m->flags & (1u << i)))
			continue;
		tt_relay_flags_format(1u << i, one, sizeof(one));
		printf("%s\"%s\"", n++ ? ", " : "", one);
	}
	printf("], \"valid_from\": ");
	json_time(m->from_ns);
	printf(", \"valid_until\": ");
	json_time(m->to_ns);
	printf(", \"sources\": [");
	print_sources(m->sources, true);
	printf("], \"first_document\": ");
	json_str(doc_path(idx, m->first_doc));
	printf(", \"last_document\": ");
	json_str(doc_path(idx, m->last_doc));
	printf("}");
}

static int load(const struct opts *o, struct tt_relays **idx)
{
	int rc;

	if (o->n_relays > 0)
		rc = tt_relays_open_paths(o->relays, o->n_relays, o->cache, idx);
	else if (o->cache)
		rc = tt_relays_load_cache(o->cache, idx);
	else {
		fprintf(stderr, "tortrace: relays: give --relays PATH (or --cache FILE)\n");
		return -EINVAL;
	}
	if (rc < 0) {
		const char *what = o->n_relays ? o->relays[0] : o->cache, *why = strerror(-rc);
		struct stat st;

		if (rc == -EBADMSG)
			why = "not a valid cache file";
		if ((rc == -EINVAL || rc == -EISDIR) && o->cache && stat(o->cache, &st) == 0 &&
		    !S_ISREG(st.st_mode)) {
			what = o->cache;
			why = "the cache must be a regular file";
		} else if (rc == -EINVAL) {
			why = "not a regular file or folder";
		}
		fprintf(stderr, "tortrace: relays: cannot load %s: %s\n", what, why);
		return rc;
	}
	if (tt_relays_is_empty(*idx)) {
		char desc[256];

		tt_relays_describe_empty(*idx, desc, sizeof(desc));
		fprintf(stderr,
		    "tortrace: relays: warning: relay data %s%s holds no relay entries: %s; "
		    "every lookup will find nothing\n",
		    o->n_relays ? o->relays[0] : o->cache, o->n_relays > 1 ? " (and the rest)" : "",
		    desc);
	}
	return 0;
}

static int cmd_lookup(const struct opts *o, struct tt_relays *idx)
{
	uint64_t from = 0, to = 0;
	size_t n_found = 0;
	char at[64] = "";

	if (o->n_args == 0) {
		fprintf(stderr, "tortrace: relays lookup: give an ADDRESS[:PORT]\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o->at) {
		if (parse_at(o->at, &from, &to) < 0) {
			fprintf(stderr, "tortrace: relays lookup: bad --at time '%s'\n", o->at);
			return EXIT_USAGE;
		}
		snprintf(at, sizeof(at), "%s", o->at);
	}
	for (size_t q = 0; q < o->n_args; q++) {
		uint8_t addr[16], ver;
		uint16_t port;

		if (parse_query(o->args[q], addr, &ver, &port) < 0) {
			fprintf(stderr, "tortrace: relays lookup: bad address '%s'\n", o->args[q]);
			return EXIT_USAGE;
		}
	}
	if (o->is_json) {
		printf(
		    "{\"relays\": {\"digest\": \"xxh3-128:%s\"}, \"at\": ", tt_relays_digest(idx));
		if (o->at)
			json_str(o->at);
		else
			printf("null");
		printf(", \"results\": [");
	}
	for (size_t q = 0; q < o->n_args; q++) {
		uint8_t addr[16], ver = 0;
		uint16_t port = 0;
		size_t n, max = 64;
		struct tt_relay_match *m = malloc(max * sizeof(*m));

		if (!m)
			return EXIT_USAGE;
		parse_query(o->args[q], addr, &ver, &port);
		n = tt_relays_lookup_range(idx, addr, ver, port, from, to, m, max);
		if (n > max) {
			struct tt_relay_match *nm = realloc(m, n * sizeof(*m));

			if (!nm) {
				free(m);
				return EXIT_USAGE;
			}
			m = nm;
			max = n;
			n = tt_relays_lookup_range(idx, addr, ver, port, from, to, m, max);
		}
		n_found += n > 0;
		if (o->is_json) {
			printf("%s\n  {\"query\": ", q ? "," : "");
			json_str(o->args[q]);
			printf(", \"found\": %s, \"matches\": [", n ? "true" : "false");
			for (size_t i = 0; i < n; i++)
				print_match(idx, &m[i], true, i == 0);
			printf("%s]}", n ? "\n    " : "");
		} else {
			printf("%s%s%s: ", o->args[q], at[0] ? " at " : "", at);
			if (n == 0)
				printf("not found\n");
			else
				printf("%zu match%s\n", n, n == 1 ? "" : "es");
			for (size_t i = 0; i < n; i++)
				print_match(idx, &m[i], false, i == 0);
		}
		free(m);
	}
	if (o->is_json)
		printf("\n]}\n");
	return n_found == o->n_args ? EXIT_FOUND : EXIT_NOT_FOUND;
}

static int cmd_info(const struct opts *o, struct tt_relays *idx)
{
	struct tt_relays_info in;
	char t0[32], t1[32];

	if (o->n_args > 0) {
		fprintf(stderr, "tortrace: relays info: unexpected argument '%s'\n", o->args[0]);
		return EXIT_USAGE;
	}
	tt_relays_get_info(idx, &in);
	fmt_time(in.earliest_ns, t0, sizeof(t0));
	fmt_time(in.latest_ns, t1, sizeof(t1));
	if (o->is_json) {
		printf("{\"digest\": \"xxh3-128:%s\", \"files\": %llu, \"archives\": %llu, "
		       "\"documents\": %llu, \"documents_by_kind\": {",
		    tt_relays_digest(idx), (unsigned long long)in.n_files,
		    (unsigned long long)in.n_archives, (unsigned long long)in.n_docs);
		for (unsigned s = 1; s < TT_RELAYS_SRC_COUNT; s++)
			printf("%s\"%s\": %llu", s > 1 ? ", " : "", tt_relays_source_name(s),
			    (unsigned long long)in.n_docs_by_source[s]);
		printf("}, \"skipped\": %llu, \"failed\": %llu, \"relays\": %llu, \"addresses\": "
		       "%llu, \"intervals\": %llu, \"errors\": %llu, \"source_bytes\": %llu, "
		       "\"earliest\": ",
		    (unsigned long long)in.n_skipped, (unsigned long long)in.n_failed,
		    (unsigned long long)in.n_relays, (unsigned long long)in.n_addresses,
		    (unsigned long long)in.n_intervals, (unsigned long long)in.n_errors,
		    (unsigned long long)in.n_source_bytes);
		json_time(in.earliest_ns);
		printf(", \"latest\": ");
		json_time(in.latest_ns);
		printf(", \"from_cache\": %s", in.is_from_cache ? "true" : "false");
		if (o->show_errors) {
			printf(", \"error_list\": [");
			for (size_t i = 0; i < tt_relays_n_errors(idx); i++) {
				printf("%s", i ? ", " : "");
				json_str(tt_relays_error(idx, i));
			}
			printf("]");
		}
		if (o->show_files) {
			printf(", \"file_list\": [");
			for (size_t i = 0; i < tt_relays_n_docs(idx); i++) {
				struct tt_relays_doc d;

				tt_relays_doc(idx, i, &d);
				printf("%s\n  {\"path\": ", i ? "," : "");
				json_str(d.path);
				printf(", \"kind\": \"%s\", \"failed\": %s, \"bytes\": %llu, "
				       "\"valid_after\": ",
				    d.source ? tt_relays_source_name((unsigned)d.source)
					     : "skipped",
				    d.is_failed ? "true" : "false",
				    (unsigned long long)d.size_bytes);
				json_time(d.valid_after_ns);
				printf(", \"valid_until\": ");
				json_time(d.valid_until_ns);
				printf(
				    ", \"routers\": %llu, \"entries\": %llu, \"bad_lines\": %llu, "
				    "\"xxh128\": \"%s\"}",
				    (unsigned long long)d.n_routers,
				    (unsigned long long)d.n_entries,
				    (unsigned long long)d.n_bad_lines, d.digest);
			}
			printf("]");
		}
		printf("}\n");
		return EXIT_FOUND;
	}
	printf("documents:  %llu (", (unsigned long long)in.n_docs);
	for (unsigned s = 1; s < TT_RELAYS_SRC_COUNT; s++)
		printf("%s%s %llu", s > 1 ? ", " : "", tt_relays_source_name(s),
		    (unsigned long long)in.n_docs_by_source[s]);
	printf("); %llu files", (unsigned long long)in.n_files);
	if (in.n_archives)
		printf(" (%llu compressed or archives)", (unsigned long long)in.n_archives);
	printf(", %llu skipped, %llu failed\n", (unsigned long long)in.n_skipped,
	    (unsigned long long)in.n_failed);
	printf("relays:     %llu identities, %llu addresses, %llu intervals\n",
	    (unsigned long long)in.n_relays, (unsigned long long)in.n_addresses,
	    (unsigned long long)in.n_intervals);
	printf("span:       %s .. %s\n", in.earliest_ns ? t0 : "-", in.latest_ns ? t1 : "-");
	printf("digest:     xxh3-128:%s (%llu source bytes)\n", tt_relays_digest(idx),
	    (unsigned long long)in.n_source_bytes);
	printf("errors:     %llu%s\n", (unsigned long long)in.n_errors,
	    in.n_errors && !o->show_errors ? " (--errors lists them)" : "");
	printf("index:      %s\n", in.is_from_cache ? "loaded from cache" : "built from sources");
	if (o->show_errors)
		for (size_t i = 0; i < tt_relays_n_errors(idx); i++)
			printf("  %s\n", tt_relays_error(idx, i));
	if (o->show_files)
		for (size_t i = 0; i < tt_relays_n_docs(idx); i++) {
			struct tt_relays_doc d;

			tt_relays_doc(idx, i, &d);
			fmt_time(d.valid_after_ns, t0, sizeof(t0));
			printf("  %-9s %8llu routers %4llu bad  %-20s %s  %s\n",
			    d.is_failed ? "FAILED"
					: (d.source ? tt_relays_source_name((unsigned)d.source)
						    : "skipped"),
			    (unsigned long long)d.n_routers, (unsigned long long)d.n_bad_lines,
			    d.valid_after_ns ? t0 : "-", d.digest[0] ? d.digest : "-", d.path);
		}
	return EXIT_FOUND;
}

int tt_relays_cli(int argc, char **argv)
{
	struct tt_relays *idx = NULL;
	struct opts o;
	int rc = EXIT_USAGE;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_FOUND;
	}
	if (strcmp(argv[1], "lookup") != 0 && strcmp(argv[1], "info") != 0) {
		fprintf(stderr, "tortrace: relays: unknown subcommand '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) /* `relays lookup --help`: the usage, not an error */
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_FOUND;
		}
	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		goto out;
	}
	if (load(&o, &idx) < 0)
		goto out;
	rc = strcmp(argv[1], "lookup") == 0 ? cmd_lookup(&o, idx) : cmd_info(&o, idx);
out:
	tt_relays_free(idx);
	free(o.relays);
	free(o.args);
	return rc;
}
