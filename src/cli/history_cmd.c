/* `tortrace history` and `tortrace show`: the analyses recorded in the history database
 * (src/aggregate/history.c), and where the history lives by default. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tortrace/tortrace.h"
#include "aggregate.h"
#include "cli.h"
#include "relays.h"

char *tt_cli_history_default(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	const char *base = xdg && xdg[0] == '/' ? xdg : NULL;
	char *p;
	size_t n;

	if (!base && (!home || !home[0]))
		return NULL;
	n = strlen(base ? base : home) + 64;
	if (!(p = malloc(n)))
		return NULL;
	if (base)
		snprintf(p, n, "%s/tortrace/history.sqlite", base);
	else
		snprintf(p, n, "%s/.local/share/tortrace/history.sqlite", home);
	return p;
}

/* "2026-11-26", "2026-11-26 14:00:00" or "2026-11-26T14:00:00" (UTC) into ns. */
static int parse_date(const char *s, uint64_t *ns)
{
	char buf[20];
	size_t n = strlen(s);

	if (n == 10) {
		snprintf(buf, sizeof(buf), "%s 00:00:00", s);
		return tt_relays_parse_time(buf, 19, ns);
	}
	return n == 19 ? tt_relays_parse_time(s, 19, ns) : -1;
}

static const char history_usage[] =
    "usage: tortrace history [--since DATE] [--host IP] [--json] [--history PATH]\n"
    "       tortrace show ID [--json] [--history PATH]\n"
    "  DATE is YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC). The history is\n"
    "  $XDG_DATA_HOME/tortrace/history.sqlite (~/.local/share/tortrace/... without it).\n"
    "  Exit status: 0 done, 1 the database cannot be read or has no such analysis,\n"
    "  2 usage error.\n";

int tt_history_cli(int argc, char **argv)
{
	enum { OPT_SINCE = 256, OPT_HOST, OPT_JSON, OPT_HISTORY };
	static const struct option opts[] = {
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"host", required_argument, NULL, OPT_HOST},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"history", required_argument, NULL, OPT_HISTORY},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool is_show = strcmp(argv[0], "show") == 0, is_json = false;
	const char *host = NULL, *path = NULL;
	char *def = NULL, *end;
	uint64_t since = 0;
	long long id = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SINCE:
			if (is_show || parse_date(optarg, &since) < 0) {
				fprintf(stderr, "tortrace: --since takes YYYY-MM-DD[ HH:MM:SS]\n");
				goto usage;
			}
			break;
		case OPT_HOST:
			if (is_show)
				goto usage;
			host = optarg;
			break;
		case OPT_JSON:
			is_json = true;
			break;
		case OPT_HISTORY:
			path = optarg;
			break;
		case 'h':
			fputs(history_usage, stdout);
			return TT_STATUS_OK;
		default:
			goto usage;
		}
	}
	if (is_show) {
		if (optind != argc - 1 || (id = strtoll(argv[optind], &end, 10)) <= 0 || *end) {
			fprintf(stderr, "tortrace: show needs one analysis ID (a number)\n");
			goto usage;
		}
	} else if (optind != argc) {
		goto usage;
	}
	if (!path && !(path = def = tt_cli_history_default())) {
		fprintf(stderr, "tortrace: no history: set HOME or XDG_DATA_HOME, or --history\n");
		return TT_STATUS_PARTIAL;
	}
	rc = is_show ? tt_history_show(path, id, is_json, stdout)
		     : tt_history_list(path, since, host, is_json, stdout);
	free(def);
	return rc < 0 ? TT_STATUS_PARTIAL : TT_STATUS_OK;
usage:
	fputs(history_usage, stderr);
	return TT_STATUS_USAGE;
}
