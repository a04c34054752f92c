/* Options by name, for programs that cannot lay out struct tt_config themselves (the
 * Python package's ctypes binding, other languages' FFIs): the configuration is opaque,
 * built with tt_options_set(key, value) and run with tt_options_analyze(). Values are
 * copied. The names are the CLI's long options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tortrace/tortrace.h"

struct tt_options {
	struct tt_config cfg;
	char **paths;
	size_t n_paths;
	char *strings[16]; /* copies of the string options, freed with the object */
	size_t n_strings;
};

struct tt_options *tt_options_new(void)
{
	struct tt_options *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	tt_config_defaults(&o->cfg);
	o->cfg.out_dir = "tortrace-out";
	o->cfg.is_quiet = true;
	return o;
}

void tt_options_free(struct tt_options *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_paths; i++)
		free(o->paths[i]);
	free(o->paths);
	for (size_t i = 0; i < o->n_strings; i++)
		free(o->strings[i]);
	free(o);
}

static const char *keep(struct tt_options *o, const char *v)
{
	char *s;

	if (o->n_strings == sizeof(o->strings) / sizeof(o->strings[0]) || !(s = strdup(v)))
		return NULL;
	o->strings[o->n_strings++] = s;
	return s;
}

static int number(const char *v, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	return errno || end == v || *end || !(*out >= lo) || !(*out <= hi) ? -EINVAL : 0;
}

int tt_options_set(struct tt_options *o, const char *key, const char *value)
{
	struct tt_config *c = &o->cfg;
	const char *s = NULL;
	double x;

	if (!key || !value)
		return -EINVAL;
	if (strcmp(key, "path") == 0) {
		char **p = realloc(o->paths, (o->n_paths + 1) * sizeof(*p));

		if (!p)
			return -ENOMEM;
		o->paths = p;
		if (!(p[o->n_paths] = strdup(value)))
			return -ENOMEM;
		o->n_paths++;
		c->paths = (const char *const *)o->paths;
		c->n_paths = o->n_paths;
		return 0;
	}
	if (strcmp(key, "out") == 0 || strcmp(key, "relays") == 0 ||
	    strcmp(key, "relays-cache") == 0 || strcmp(key, "filter") == 0 ||
	    strcmp(key, "history") == 0 || strcmp(key, "command") == 0) {
		if (!(s = keep(o, value)))
			return -ENOMEM;
		if (key[0] == 'o')
			c->out_dir = s;
		else if (strcmp(key, "relays") == 0)
			c->relays_path = s;
		else if (key[0] == 'r')
			c->relays_cache = s;
		else if (key[0] == 'f')
			c->bpf = s;
		else if (key[0] == 'h')
			c->history_path = s;
		else
			c->command_line = s;
		return 0;
	}
	if (strcmp(key, "jobs") == 0 && number(value, 1, 256, &x) == 0 && x == (unsigned)x) {
		c->n_workers = (unsigned)x;
		return 0;
	}
	if (strcmp(key, "checkpoint") == 0 && number(value, 1, 1 << 30, &x) == 0 &&
	    x == (uint64_t)x) {
		c->checkpoint_bytes = (uint64_t)x << 20;
		return 0;
	}
	if (strcmp(key, "min-score") == 0 && number(value, 1e-9, 1, &x) == 0) {
		c->min_score = x;
		return 0;
	}
	if ((strcmp(key, "tcp-timeout") == 0 || strcmp(key, "udp-timeout") == 0) &&
	    number(value, 1, 200.0 * 365 * 86400, &x) == 0) {
		*(key[0] == 't' ? &c->tcp_timeout_ns : &c->udp_timeout_ns) = (uint64_t)(x * 1e9);
		return 0;
	}
	if (strcmp(value, "1") == 0 || strcmp(value, "0") == 0) {
		bool on = value[0] == '1';

		if (strcmp(key, "no-detect") == 0)
			c->is_no_detect = on;
		else if (strcmp(key, "no-chain") == 0)
			c->is_no_chain = on;
		else if (strcmp(key, "quiet") == 0)
			c->is_quiet = on;
		else if (strcmp(key, "sha256") == 0)
			c->hash_mode = on ? 1 : -1;
		else if (strcmp(key, "resume") == 0)
			c->is_resume = on;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

int tt_options_analyze(struct tt_options *o,
    void (*on_host)(const struct tt_host_finding *h, void *ctx),
    void (*on_relay)(const struct tt_relay_finding *r, void *ctx), void *ctx)
{
	o->cfg.on_host = on_host;
	o->cfg.on_relay = on_relay;
	o->cfg.findings_ctx = ctx;
	if (o->n_paths == 0)
		return TT_STATUS_USAGE;
	return tt_analyze(&o->cfg);
}
