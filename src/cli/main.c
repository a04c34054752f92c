/* The tortrace command: subcommands analyze, diagnose, export, report, relays, history,
 * show, serve, version. The only
 * exit(). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tortrace/tortrace.h"
#include "core.h"
#include "aggregate.h"
#include "cli.h"
#include "progress.h"

static atomic_bool stop_requested;

/* The first SIGINT or SIGTERM asks the reader to stop (it alone reads the flag and tells
 * the workers in-band); a second one of either ends the process at once. */
static void on_stop_signal(int sig)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	(void)sig;
	atomic_store(&stop_requested, true);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
}

/* Without SA_RESTART: a read blocked on a pipe returns EINTR, so the reader sees the flag
 * without waiting for more input. */
static void install_stop_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = 0};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static const char usage_text[] =
    "usage: tortrace <command> [options]\n"
    "\n"
    "commands:\n"
    "  analyze [options] PATH...   analyse capture files, folders (recursively) and globs;\n"
    "                              - reads standard input\n"
    "  diagnose [--json] [--relays PATH] PATH...\n"
    "                              explain each capture without a full report: format,\n"
    "                              link types, snaplen, damage, time span, protocol mix,\n"
    "                              TLS, relay-data dates, and why no Tor was found\n"
    "                              (`tortrace diagnose --help`; exit status 0 all files\n"
    "                              diagnosed, 1 some file unreadable or damaged, 2 usage)\n"
    "  merge [-o OUT] [--no-html] PART...\n"
    "                              join the partial results of analyze --shard I/N (all N\n"
    "                              folders) into report.json, flows.msgpack, report.html\n"
    "                              equal to one analyze over the same inputs\n"
    "                              (`tortrace merge --help`)\n"
    "  export --jsonl|--csv FILE   print the flows of OUT/flows.msgpack, one per line\n"
    "  report OUT                  render OUT/report.html again from OUT/report.json\n"
    "  relays lookup --relays PATH IP[:PORT] [--at TIME]\n"
    "                              was this a Tor relay then? (offline ExoneraTor)\n"
    "  relays info --relays PATH   what the relay data holds\n"
    "  history [--since DATE] [--host IP] [--json]\n"
    "                              past analyses, newest first\n"
    "  show ID [--json]            one past analysis: summary, inputs, hosts, outputs\n"
    "  serve [--listen ADDR:PORT] [--data DIR] [--relays PATH] [--jobs N]\n"
    "                              the web page and JSON API: upload captures, follow\n"
    "                              each analysis live, results, history, dashboard\n"
    "                              (default 127.0.0.1:5001; `tortrace serve --help`)\n"
    "  version                     print the version\n"
    "\n"
    "";

static const char usage_analyze[] =
    "analyze options:\n"
    "  -o, --out DIR            write report.json, flows.msgpack and report.html here\n"
    "                           (default: tortrace-out)\n"
    "      --no-html            write no report.html (the page for people: summary, hosts,\n"
    "                           timeline, relays, Tor flows with their evidence, files)\n"
    "  -j, --jobs N             worker threads (default: online CPUs - 1, at least 1)\n"
    "  -f, --filter EXPR        only packets matching this libpcap filter expression\n"
    "      --relays PATH        relay data (consensus, exit list, IP list; file or folder;\n"
    "                           .xz/.gz/.zst/.bz2 or CollecTor .tar.xz read as they are)\n"
    "                           to match flows against relays at the capture's date\n"
    "      --relays-cache FILE  compiled relay index: used when fresh, rebuilt otherwise\n"
    "      --history PATH       record the analysis in this history database (default:\n"
    "                           $XDG_DATA_HOME/tortrace/history.sqlite, or\n"
    "                           ~/.local/share/tortrace/history.sqlite); a history error\n"
    "                           is reported and never fails the analysis\n"
    "      --no-history         do not record it\n"
    "      --no-detect          flows only: no Tor inspection, evidence or verdicts\n"
    "      --no-chain           read every file as a timeline of its own (default: files\n"
    "                           that continue each other, such as rotated captures, are\n"
    "                           one timeline; report.json says which were chained, why)\n"
    "      --min-score X        the score (0 < X <= 1) a flow needs for a verdict other\n"
    "                           than none (default: 0.5); flows with evidence for Tor\n"
    "                           below it are candidates, listed apart and never counted\n"
    "                           as Tor. tor-exit-side, a relay-data fact, is exempt\n"
    "      --write-pcap FILE    after the analysis, write every packet of the flows with a\n"
    "                           verdict (score at or above --min-score, or tor-exit-side)\n"
    "                           to the pcap FILE, in time order, with the original bytes\n"
    "                           and timestamps; a second link type goes to\n"
    "                           FILE.<linktype>.pcap. The inputs are read again (not -)\n"
    "      --sha256             record each input file's SHA-256 in the report (default:\n"
    "                           on with 4 or more CPUs, where it costs no time)\n"
    "      --no-hash            never compute it\n"
    "      --tcp-timeout SEC    end a TCP flow idle this long in packet time (default: 3600)\n"
    "      --udp-timeout SEC    the same for UDP (default: 300)\n"
    "      --ring-slots N       descriptors per reader-to-worker ring, a power of two\n"
    "                           (default: 4096)\n"
    "      --sort-budget MIB    memory for ordering flow records before sorted runs are\n"
    "                           spilled to OUT (default: 128)\n"
    "      --flow-memory MIB    flow state held at once, all workers together (default:\n"
    "                           1024, about 3.3 million flows); beyond it the least\n"
    "                           recently active flow of its hash partition ends early\n"
    "                           (end \"evict\", counted in the report). A fixed number,\n"
    "                           so that results are the same on every machine\n"
    "";

static const char usage_analyze_more[] =
    "      --shard I/N          analyse part I (0 to N-1) of N of the inputs, for a cluster:\n"
    "                           a contiguous range of the expanded inputs balanced by\n"
    "                           bytes, each capture set that starts in it read whole (a set\n"
    "                           is never split); OUT then also holds partial.bin for\n"
    "                           tortrace merge. Every shard needs the same PATHs and\n"
    "                           options; no history, not with --write-pcap or -\n"
    "      --resume             keep a journal in OUT/journal/ so that a run stopped by a\n"
    "                           crash, kill or Ctrl-C can go on: the same command again\n"
    "                           keeps the pieces already saved whose inputs are unchanged\n"
    "                           (size and modification time) and reads the rest; the\n"
    "                           outputs are those of one uninterrupted run. With --shard,\n"
    "                           a shard whose OUT holds its complete result for unchanged\n"
    "                           inputs does nothing. Not with --write-pcap or -\n"
    "      --checkpoint MIB     with --resume, save a piece about every MIB of input\n"
    "                           (default: 4096; a piece holds whole files and sets)\n"
    "      --progress           draw the progress bar even when stderr is not a terminal\n"
    "      --no-progress        never draw it (default: drawn on a terminal)\n"
    "  -q, --quiet              only errors on stderr\n"
    "  -v, --verbose            more on stderr (twice: debug)\n"
    "\n"
    "Inputs: pcap (microsecond or nanosecond, either byte order), pcapng, each optionally\n"
    "gzip- or zstd-compressed. Exit status: 0 every input was read, 1 some input failed or\n"
    "the run was interrupted (the report says which), 2 usage error. history and show:\n"
    "0 done, 1 the database cannot be read or has no such analysis, 2 usage error.\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
	fputs(usage_analyze, f);
	fputs(usage_analyze_more, f);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

/* "B3" or "B3,D3": the items' bits of the evidence table into *mask. */
static int parse_evidence_ids(const char *s, uint32_t *mask)
{
	unsigned n;
	const struct tt_evidence_item *items = tt_evidence_table(&n);

	while (*s) {
		size_t len = strcspn(s, ",");
		unsigned i;

		for (i = 0; i < n; i++)
			if (strlen(items[i].id) == len && strncmp(items[i].id, s, len) == 0)
				break;
		if (i == n)
			return -EINVAL;
		*mask |= 1u << i;
		s += len + (s[len] == ',');
	}
	return 0;
}

/* "I/N" with 0 <= I < N <= 65536. */
static int parse_shard(const char *s, unsigned *index, unsigned *count)
{
	const char *slash = strchr(s, '/');
	unsigned long long i, n;
	char buf[32];

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (parse_uint(buf, 65535, &i) < 0 || parse_uint(slash + 1, 65536, &n) < 0 || n == 0 ||
	    i >= n)
		return -EINVAL;
	*index = (unsigned)i;
	*count = (unsigned)n;
	return 0;
}

/* "tortrace analyze ARGS...": the command as typed (without shell quoting). */
static char *join_argv(int argc, char **argv)
{
	size_t n = sizeof("tortrace ");
	char *s;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	strcpy(s, "tortrace ");
	for (int i = 0; i < argc; i++) {
		strcat(s, argv[i]);
		if (i + 1 < argc)
			strcat(s, " ");
	}
	return s;
}

static int cmd_analyze(int argc, char **argv)
{
	enum {
		OPT_TCP_TIMEOUT = 256,
		OPT_UDP_TIMEOUT,
		OPT_RING,
		OPT_SORT_BUDGET,
		OPT_RELAYS,
		OPT_NO_DETECT,
		OPT_NO_CHAIN,
		OPT_NO_HASH,
		OPT_SHA256,
		OPT_RELAYS_CACHE,
		OPT_PROGRESS,
		OPT_NO_PROGRESS,
		OPT_FLOW_MEMORY,
		OPT_MIN_SCORE,
		OPT_WITHOUT_EVIDENCE,
		OPT_HISTORY,
		OPT_NO_HISTORY,
		OPT_NO_HTML,
		OPT_WRITE_PCAP,
		OPT_SHARD,
		OPT_RESUME,
		OPT_CHECKPOINT,
	};
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"filter", required_argument, NULL, 'f'},
	    {"tcp-timeout", required_argument, NULL, OPT_TCP_TIMEOUT},
	    {"udp-timeout", required_argument, NULL, OPT_UDP_TIMEOUT},
	    {"ring-slots", required_argument, NULL, OPT_RING},
	    {"sort-budget", required_argument, NULL, OPT_SORT_BUDGET},
	    {"flow-memory", required_argument, NULL, OPT_FLOW_MEMORY},
	    {"min-score", required_argument, NULL, OPT_MIN_SCORE},
	    /* Hidden (measurement only, bench/accuracy.py): score without some evidence
	     * items, e.g. B3, to see what a verdict owes them. */
	    {"without-evidence", required_argument, NULL, OPT_WITHOUT_EVIDENCE},
	    {"relays", required_argument, NULL, OPT_RELAYS},
	    {"history", required_argument, NULL, OPT_HISTORY},
	    {"no-history", no_argument, NULL, OPT_NO_HISTORY},
	    {"no-detect", no_argument, NULL, OPT_NO_DETECT},
	    {"no-chain", no_argument, NULL, OPT_NO_CHAIN},
	    {"no-html", no_argument, NULL, OPT_NO_HTML},
	    {"no-hash", no_argument, NULL, OPT_NO_HASH},
	    {"sha256", no_argument, NULL, OPT_SHA256},
	    {"relays-cache", required_argument, NULL, OPT_RELAYS_CACHE},
	    {"progress", no_argument, NULL, OPT_PROGRESS},
	    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	    {"write-pcap", required_argument, NULL, OPT_WRITE_PCAP},
	    {"shard", required_argument, NULL, OPT_SHARD},
	    {"resume", no_argument, NULL, OPT_RESUME},
	    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct tt_config cfg;
	unsigned long long v;
	int c, verbosity = TT_LOG_INFO, progress = -1, status;
	char *cmdline = join_argv(argc, argv), *history = NULL;
	bool is_drawn = false, is_no_history = false;

	tt_config_defaults(&cfg);
	cfg.out_dir = "tortrace-out";
	while ((c = getopt_long(argc, argv, "o:j:f:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			cfg.out_dir = optarg;
			break;
		case 'j':
			if (parse_uint(optarg, 256, &v) < 0 || v == 0) {
				fprintf(stderr, "tortrace: -j takes a number from 1 to 256\n");
				goto usage_err;
			}
			cfg.n_workers = (unsigned)v;
			break;
		case 'f':
			cfg.bpf = optarg;
			break;
		case OPT_TCP_TIMEOUT:
		case OPT_UDP_TIMEOUT:
			if (parse_uint(optarg, 200ull * 365 * 86400, &v) < 0 || v == 0) {
				fprintf(stderr, "tortrace: --%s-timeout takes whole seconds > 0\n",
				    c == OPT_TCP_TIMEOUT ? "tcp" : "udp");
				goto usage_err;
			}
			if (c == OPT_TCP_TIMEOUT)
				cfg.tcp_timeout_ns = v * 1000000000ull;
			else
				cfg.udp_timeout_ns = v * 1000000000ull;
			break;
		case OPT_RING:
			if (parse_uint(optarg, 1u << 24, &v) < 0 || v < 64 || (v & (v - 1))) {
				fprintf(stderr,
				    "tortrace: --ring-slots takes a power of two from 64 "
				    "to 16777216\n");
				goto usage_err;
			}
			cfg.ring_slots = (uint32_t)v;
			break;
		case OPT_SORT_BUDGET:
			if (parse_uint(optarg, 1u << 20, &v) < 0 || v == 0) {
				fprintf(
				    stderr, "tortrace: --sort-budget takes MiB, 1 to 1048576\n");
				goto usage_err;
			}
			cfg.sort_budget_bytes = v << 20;
			break;
		case OPT_FLOW_MEMORY:
			if (parse_uint(optarg, 1u << 20, &v) < 0 || v == 0) {
				fprintf(
				    stderr, "tortrace: --flow-memory takes MiB, 1 to 1048576\n");
				goto usage_err;
			}
			cfg.flow_memory_bytes = v << 20;
			break;
		case OPT_MIN_SCORE: {
			char *end;

			errno = 0;
			cfg.min_score = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(cfg.min_score > 0) ||
			    cfg.min_score > 1) {
				fprintf(stderr, "tortrace: --min-score takes a number in (0, 1]\n");
				goto usage_err;
			}
			break;
		}
		case OPT_WITHOUT_EVIDENCE:
			if (parse_evidence_ids(optarg, &cfg.evidence_off) < 0) {
				fprintf(stderr, "tortrace: --without-evidence takes evidence ids "
						"(A1,B3,...)\n");
				goto usage_err;
			}
			break;
		case OPT_NO_HASH:
			cfg.hash_mode = -1;
			break;
		case OPT_SHA256:
			cfg.hash_mode = 1;
			break;
		case OPT_NO_DETECT:
			cfg.is_no_detect = true;
			break;
		case OPT_NO_CHAIN:
			cfg.is_no_chain = true;
			break;
		case OPT_NO_HTML:
			cfg.is_no_html = true;
			break;
		case OPT_RELAYS:
			cfg.relays_path = optarg;
			break;
		case OPT_RELAYS_CACHE:
			cfg.relays_cache = optarg;
			break;
		case OPT_HISTORY:
			cfg.history_path = optarg;
			break;
		case OPT_NO_HISTORY:
			is_no_history = true;
			break;
		case OPT_WRITE_PCAP:
			cfg.write_pcap = optarg;
			break;
		case OPT_SHARD:
			if (parse_shard(optarg, &cfg.shard_index, &cfg.shard_count) < 0) {
				fprintf(stderr, "tortrace: --shard takes I/N with 0 <= I < N <= "
						"65536 (I is 0-based, as SLURM_ARRAY_TASK_ID)\n");
				goto usage_err;
			}
			break;
		case OPT_RESUME:
			cfg.is_resume = true;
			break;
		case OPT_CHECKPOINT:
			if (parse_uint(optarg, 1u << 30, &v) < 0 || v == 0) {
				fprintf(
				    stderr, "tortrace: --checkpoint takes MiB, 1 to 1073741824\n");
				goto usage_err;
			}
			cfg.checkpoint_bytes = v << 20;
			break;
		case OPT_PROGRESS:
			progress = 1;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case 'q':
			cfg.is_quiet = true;
			verbosity = TT_LOG_ERROR;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			usage(stdout);
			free(cmdline);
			return TT_STATUS_OK;
		default:
			goto usage_err;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tortrace: analyze needs at least one PATH\n");
		goto usage_err;
	}
	tt_log_set_level(verbosity);
	cfg.paths = (const char *const *)&argv[optind];
	cfg.n_paths = (size_t)(argc - optind);
	cfg.command_line = cmdline;
	cfg.show_progress = progress < 0 ? isatty(STDERR_FILENO) : progress;
	if (cfg.show_progress && !cfg.is_quiet) {
		cfg.progress = tt_cli_progress;
		cfg.progress_ctx = &is_drawn;
	}
	if (is_no_history || cfg.shard_count) /* a shard is not an analysis of its own */
		cfg.history_path = NULL;
	else if (!cfg.history_path)
		cfg.history_path = history = tt_cli_history_default();
	cfg.stop = &stop_requested;
	install_stop_handlers();
	status = tt_analyze(&cfg);
	free(cmdline);
	free(history);
	return status;
usage_err:
	free(cmdline);
	usage(stderr);
	return TT_STATUS_USAGE;
}

static const char usage_merge[] =
    "usage: tortrace merge [-o OUT] [--no-html] [--relays PATH [--relays-cache FILE]]\n"
    "                      [-q] PART...\n"
    "\n"
    "Join the partial results of `tortrace analyze --shard I/N` (PART: the OUT folder of\n"
    "each shard, all N of one run, in any order) into OUT/report.json, OUT/flows.msgpack\n"
    "and OUT/report.html, equal to one `tortrace analyze` over the same inputs with the\n"
    "same options but for report.json's \"run\". Parts that are missing, given twice,\n"
    "made with other options, relay data, inputs or version are refused, naming the part.\n"
    "\n"
    "  -o, --out DIR            where to write (default: tortrace-out)\n"
    "      --no-html            write no report.html\n"
    "      --relays PATH        the shards' relay data, when it is not at the path they\n"
    "                           recorded (its digest must be theirs)\n"
    "      --relays-cache FILE  compiled relay index to use for it\n"
    "  -q, --quiet              only errors on stderr\n"
    "\n"
    "Exit status: 0 merged and every input was read, 1 merged but some input failed in a\n"
    "shard (the report says which), 2 refused or could not write.\n";

static int cmd_merge(int argc, char **argv)
{
	enum {
		OPT_NO_HTML = 256,
		OPT_RELAYS,
		OPT_RELAYS_CACHE,
	};
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"no-html", no_argument, NULL, OPT_NO_HTML},
	    {"relays", required_argument, NULL, OPT_RELAYS},
	    {"relays-cache", required_argument, NULL, OPT_RELAYS_CACHE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = "tortrace-out", *relays = NULL, *cache = NULL;
	bool is_no_html = false;
	char *cmdline;
	int c, status;

	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case OPT_NO_HTML:
			is_no_html = true;
			break;
		case OPT_RELAYS:
			relays = optarg;
			break;
		case OPT_RELAYS_CACHE:
			cache = optarg;
			break;
		case 'q':
			tt_log_set_level(TT_LOG_ERROR);
			break;
		case 'h':
			fputs(usage_merge, stdout);
			return TT_STATUS_OK;
		default:
			fputs(usage_merge, stderr);
			return TT_STATUS_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tortrace: merge needs the folders of the shards\n");
		fputs(usage_merge, stderr);
		return TT_STATUS_USAGE;
	}
	cmdline = join_argv(argc, argv);
	status = tt_merge((const char *const *)&argv[optind], (size_t)(argc - optind), out,
	    is_no_html, relays, cache, cmdline);
	free(cmdline);
	return status;
}

static int cmd_export(int argc, char **argv)
{
	int format = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--jsonl") == 0) {
			format = TT_EXPORT_JSONL;
		} else if (strcmp(argv[i], "--csv") == 0) {
			format = TT_EXPORT_CSV;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "tortrace: export: unknown option %s\n", argv[i]);
			return TT_STATUS_USAGE;
		} else if (i == argc - 1 && format >= 0) {
			return tt_export(argv[i], format, stdout) < 0 ? TT_STATUS_PARTIAL
								      : TT_STATUS_OK;
		}
	}
	fprintf(stderr, "usage: tortrace export --jsonl|--csv OUT/flows.msgpack\n");
	return TT_STATUS_USAGE;
}

/* dir/name in a new string, or NULL. */
static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s/%s", dir, name);
	return s;
}

/* tortrace report OUT: OUT/report.html rendered again from OUT/report.json, written under a
 * temporary name and renamed into place (an error keeps the previous report.html). */
static int cmd_report(int argc, char **argv)
{
	char *json = NULL, *tmp = NULL, *final = NULL;
	int rc, status = TT_STATUS_PARTIAL;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: tortrace report OUT (the folder of report.json)\n");
		return TT_STATUS_USAGE;
	}
	json = path_in(argv[1], "report.json");
	tmp = path_in(argv[1], "report.html.tmp");
	final = path_in(argv[1], "report.html");
	if (!json || !tmp || !final) {
		fprintf(stderr, "tortrace: out of memory\n");
		goto out;
	}
	rc = tt_report_html_write(json, tmp);
	if (rc == 0 && rename(tmp, final) != 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		/* A report.json that cannot be read or is not one was named by the renderer. */
		if (rc != -EBADMSG)
			fprintf(stderr, "tortrace: cannot write %s from %s: %s\n", final, json,
			    strerror(-rc));
		goto out;
	}
	status = TT_STATUS_OK;
out:
	free(json);
	free(tmp);
	free(final);
	return status;
}

int main(int argc, char **argv)
{
	const char *env = getenv("TT_LOG_LEVEL");

	if (env)
		tt_log_set_level(atoi(env));
	if (argc < 2) {
		usage(stderr);
		exit(TT_STATUS_USAGE);
	}
	if (strcmp(argv[1], "analyze") == 0)
		exit(cmd_analyze(argc - 1, argv + 1));
	if (strcmp(argv[1], "relays") == 0)
		exit(tt_relays_cli(argc - 1, argv + 1));
	if (strcmp(argv[1], "diagnose") == 0) {
		install_stop_handlers();
		exit(tt_diagnose_cli(argc - 1, argv + 1, &stop_requested));
	}
	if (strcmp(argv[1], "export") == 0)
		exit(cmd_export(argc - 1, argv + 1));
	if (strcmp(argv[1], "merge") == 0)
		exit(cmd_merge(argc - 1, argv + 1));
	if (strcmp(argv[1], "history") == 0 || strcmp(argv[1], "show") == 0)
		exit(tt_history_cli(argc - 1, argv + 1));
	if (strcmp(argv[1], "report") == 0)
		exit(cmd_report(argc - 1, argv + 1));
	if (strcmp(argv[1], "serve") == 0)
		exit(tt_serve_cli(argc - 1, argv + 1));
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("tortrace %s\n", TT_VERSION);
		exit(TT_STATUS_OK);
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		exit(TT_STATUS_OK);
	}
	fprintf(stderr, "tortrace: unknown command '%s'\n", argv[1]);
	usage(stderr);
	exit(TT_STATUS_USAGE);
}
