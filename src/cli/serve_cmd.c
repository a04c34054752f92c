/* `tortrace serve`: options into struct tt_serve_opts, then src/serve runs the server. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tortrace/tortrace.h"
#include "cli.h"
#ifdef TT_HAVE_SERVE
#include "serve.h"
#endif

static const char serve_usage[] =
    "usage: tortrace serve [options]\n"
    "  The analyst's web page: drop captures on it, follow each analysis live, read the\n"
    "  results, the history and a dashboard; the same JSON API for scripts\n"
    "  (docs/serve.md). Stops on Ctrl-C or SIGTERM; SIGHUP reloads --relays.\n"
    "\n"
    "  --listen ADDR:PORT     where to listen (default: 127.0.0.1:5001; port 0: any free\n"
    "                         port, printed on stderr). An address other than loopback\n"
    "                         needs --token-file\n"
    "  --data DIR             uploads, job folders (report.json, report.html,\n"
    "                         flows.msgpack, tor.pcap) and history.sqlite (default:\n"
    "                         $XDG_DATA_HOME/tortrace/serve, or\n"
    "                         ~/.local/share/tortrace/serve)\n"
    "  --relays PATH          relay data for every analysis (replace it while running with\n"
    "                         POST /api/relays or SIGHUP)\n"
    "  --jobs N               analyses at once (default: 1)\n"
    "  --queue N              uploads waiting at most; more get 503 (default: 64)\n"
    "  --token-file F         require the token on F's first line (at least 16\n"
    "                         characters): Authorization: Bearer TOKEN, or the login form\n"
    "  --tls-cert F --tls-key F  serve HTTPS with this PEM certificate and key\n"
    "  --max-upload BYTES     largest capture accepted (default: 8 GiB; suffixes K M G)\n"
    "\n"
    "Exit status: 0 stopped cleanly, 1 failed while running, 2 usage error (bad option,\n"
    "address in use, no token beyond loopback, relay data that cannot be loaded).\n";

/* "123", "64K", "8G" into bytes. */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end || v == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *default_data_dir(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char *p = NULL;

	if (xdg && xdg[0] == '/') {
		if (asprintf(&p, "%s/tortrace/serve", xdg) < 0)
			p = NULL;
	} else if (home && home[0]) {
		if (asprintf(&p, "%s/.local/share/tortrace/serve", home) < 0)
			p = NULL;
	}
	return p;
}

int tt_serve_cli(int argc, char **argv)
{
	enum {
		OPT_LISTEN = 256,
		OPT_DATA,
		OPT_RELAYS,
		OPT_JOBS,
		OPT_QUEUE,
		OPT_TOKEN,
		OPT_CERT,
		OPT_KEY,
		OPT_MAX,
		OPT_HELP,
	};
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"data", required_argument, NULL, OPT_DATA},
	    {"relays", required_argument, NULL, OPT_RELAYS},
	    {"jobs", required_argument, NULL, OPT_JOBS},
	    {"queue", required_argument, NULL, OPT_QUEUE},
	    {"token-file", required_argument, NULL, OPT_TOKEN},
	    {"tls-cert", required_argument, NULL, OPT_CERT},
	    {"tls-key", required_argument, NULL, OPT_KEY},
	    {"max-upload", required_argument, NULL, OPT_MAX},
	    {"help", no_argument, NULL, OPT_HELP},
	    {0},
	};
	const char *listen = "127.0.0.1:5001", *data = NULL, *relays = NULL, *token = NULL;
	const char *cert = NULL, *key = NULL;
	unsigned long long jobs = 1, queue = 64, max_upload = 8ull << 30;
	char *data_default = NULL;
	int c, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case OPT_LISTEN:
			listen = optarg;
			break;
		case OPT_DATA:
			data = optarg;
			break;
		case OPT_RELAYS:
			relays = optarg;
			break;
		case OPT_JOBS:
			jobs = strtoull(optarg, &end, 10);
			if (*end || jobs < 1 || jobs > 64)
				goto usage;
			break;
		case OPT_QUEUE:
			queue = strtoull(optarg, &end, 10);
			if (*end || queue < 1 || queue > 100000)
				goto usage;
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case OPT_CERT:
			cert = optarg;
			break;
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_MAX:
			if (parse_size(optarg, &max_upload) < 0)
				goto usage;
			break;
		case OPT_HELP:
		case 'h':
			fputs(serve_usage, stdout);
			return TT_STATUS_OK;
		default:
			goto usage;
		}
	}
	if (optind < argc)
		goto usage;
	if (!data && !(data = data_default = default_data_dir())) {
		fprintf(stderr, "tortrace serve: give --data DIR (no HOME or XDG_DATA_HOME)\n");
		return TT_STATUS_USAGE;
	}
#ifdef TT_HAVE_SERVE
	{
		struct tt_serve_opts o = {
		    .listen = listen,
		    .data_dir = data,
		    .relays_path = relays,
		    .token_file = token,
		    .tls_cert = cert,
		    .tls_key = key,
		    .n_jobs = (unsigned)jobs,
		    .queue_max = (unsigned)queue,
		    .analysis_workers = 1,
		    .max_upload_bytes = max_upload,
		};

		status = tt_serve_run(&o);
	}
#else
	(void)listen, (void)relays, (void)token, (void)cert, (void)key;
	fprintf(stderr, "tortrace serve: this tortrace was built without libmicrohttpd and "
			"liburcu (tools/install-deps.sh installs them)\n");
	status = TT_STATUS_USAGE;
#endif
	free(data_default);
	return status;
usage:
	fputs(serve_usage, stderr);
	return TT_STATUS_USAGE;
}
