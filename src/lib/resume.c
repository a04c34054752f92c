/* Resumable runs: `tortrace analyze --resume`.
 *
 * Design: a resumable run is the shard machinery (shard.c) run in one process. The inputs
 * are cut into N pieces of about checkpoint_bytes each (N from the inputs' sizes alone, so
 * the same command on the same inputs gives the same pieces); piece K is analysed exactly as
 * `--shard K/N` would be, into OUT/journal/part-K-of-N/, and its partial.bin, written last,
 * is the journal entry: the version, options and relay data, every input with its size and
 * modification time, and the files the piece read. When all N are there, tt_lib_merge()
 * joins them into OUT, byte for byte the outputs of one run over the same inputs (apart from
 * report.json's "run"), records the analysis in the history, and the journal is removed.
 *
 * After a crash, kill -9 or Ctrl-C, the same command with --resume keeps every piece whose
 * partial.bin is complete, of this version, options, relay data and inputs, whose
 * flows.msgpack still has the size and XXH3 recorded, and whose inputs (the files it read,
 * the one before them and those of its range: tt_partial_is_current) still have their
 * modification times; the others are analysed again. An input whose size changed changes
 * the pieces, so then every piece is analysed again. Only complete pieces are kept: the one
 * a stop interrupted is redone, and the files of a piece are read again from its start. A
 * stop leaves OUT's previous outputs as they were and says how far the journal got. */
#include "tortrace/tortrace.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "reader.h"
#include "relays.h"
#include "lib.h"

#define JOURNAL_DIR "journal"

struct resume {
	const struct tt_config *cfg;
	char **paths;
	size_t n_paths;
	uint64_t *sizes, *mtimes, total;
	struct tt_relays *relays; /* loaded here once and lent to every piece, or NULL */
	char *journal;
	char **parts; /* OUT/journal/part-K-of-N */
	unsigned n;
	uint64_t t0; /* tt_now_ns() at the start */
	/* The caller's progress, over the whole run: a piece's bytes come after those of the
	 * files before its range; only the end of the run is final. */
	struct tt_progress last;
	uint64_t bytes_before;
	size_t files_before;
};

static void piece_progress(const struct tt_progress *p, void *ctx)
{
	struct resume *r = ctx;

	r->last = *p;
	r->last.bytes_done = r->bytes_before + p->bytes_done;
	if (r->last.bytes_done > r->total)
		r->last.bytes_done = r->total;
	if (r->last.files_done < r->files_before)
		r->last.files_done = r->files_before;
	r->last.elapsed_ns = tt_now_ns() - r->t0;
	r->last.is_final = false;
	r->cfg->progress(&r->last, r->cfg->progress_ctx);
}

/* The caller's last progress call, once the pieces are done or the run stops. */
static void final_progress(struct resume *r)
{
	if (!r->cfg->progress)
		return;
	r->last.bytes_total = r->total;
	r->last.files_total = r->n_paths;
	r->last.elapsed_ns = tt_now_ns() - r->t0;
	r->last.is_final = true;
	r->cfg->progress(&r->last, r->cfg->progress_ctx);
}

/* The number of pieces: about one per checkpoint_bytes of input, at least 1, at most one
 * per file (a piece holds whole files). */
static unsigned piece_count(const struct resume *r)
{
	uint64_t step = r->cfg->checkpoint_bytes ? r->cfg->checkpoint_bytes : TT_CHECKPOINT_DEFAULT;
	uint64_t n = (r->total + step - 1) / step;

	if (n > r->n_paths)
		n = r->n_paths;
	if (n > 65536)
		n = 65536;
	return n ? (unsigned)n : 1;
}

/* Remove a piece's folder and the files in it (a piece holds files only). */
static void remove_part(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((p = tt_lib_join(dir, e->d_name))) {
			unlink(p);
			free(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

/* Remove the pieces of another N (the inputs' sizes or --checkpoint changed) and anything
 * else that is not one of this run's pieces; all of the journal when keep is false. */
static void prune_journal(const struct resume *r, bool keep)
{
	DIR *d = opendir(r->journal);
	struct dirent *e;
	char suffix[32];

	if (!d)
		return;
	snprintf(suffix, sizeof(suffix), "-of-%u", r->n);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), sl = strlen(suffix);
		unsigned k;
		char *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (keep && sscanf(e->d_name, "part-%u-of-", &k) == 1 && k < r->n && len > sl &&
		    strcmp(e->d_name + len - sl, suffix) == 0)
			continue;
		if ((p = tt_lib_join(r->journal, e->d_name))) {
			remove_part(p);
			unlink(p);
			free(p);
		}
	}
	closedir(d);
	if (!keep)
		rmdir(r->journal);
}

/* Expand and stat the inputs, load the relay data, name the pieces. 0, or TT_STATUS_USAGE
 * with a message. */
static int setup(struct resume *r)
{
	const struct tt_config *cfg = r->cfg;
	int rc;

	if (cfg->write_pcap) {
		tt_log(TT_LOG_ERROR, "--resume cannot --write-pcap: carve with a run of its own");
		return TT_STATUS_USAGE;
	}
	if (tt_inputs_expand(cfg->paths, cfg->n_paths, &r->paths, &r->n_paths) < 0) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	if (r->n_paths == 0) {
		tt_log(TT_LOG_ERROR, "no input files");
		return TT_STATUS_USAGE;
	}
	r->sizes = calloc(r->n_paths, sizeof(*r->sizes));
	r->mtimes = calloc(r->n_paths, sizeof(*r->mtimes));
	r->journal = tt_lib_join(cfg->out_dir, JOURNAL_DIR);
	if (!r->sizes || !r->mtimes || !r->journal) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	for (size_t i = 0; i < r->n_paths; i++) {
		struct stat st;

		if (strcmp(r->paths[i], "-") == 0) {
			tt_log(TT_LOG_ERROR, "--resume cannot read standard input: a resumed run "
					     "must read the same inputs again");
			return TT_STATUS_USAGE;
		}
		if (stat(r->paths[i], &st) == 0) {
			r->sizes[i] = (uint64_t)st.st_size;
			r->mtimes[i] = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
				       (uint64_t)st.st_mtim.tv_nsec;
		}
		r->total += r->sizes[i];
	}
	if (!cfg->relays && cfg->relays_path) {
		rc = tt_relays_open(cfg->relays_path, cfg->relays_cache, &r->relays);
		if (rc < 0) {
			tt_log(TT_LOG_ERROR, "cannot load relay data %s: %s", cfg->relays_path,
			    strerror(-rc));
			return TT_STATUS_USAGE;
		}
		/* An empty index is left to each piece, which says so and goes on without. */
		if (tt_relays_is_empty(r->relays)) {
			tt_relays_free(r->relays);
			r->relays = NULL;
		}
	}
	r->n = piece_count(r);
	r->parts = calloc(r->n, sizeof(*r->parts));
	if (!r->parts) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	for (unsigned k = 0; k < r->n; k++) {
		char name[64];

		snprintf(name, sizeof(name), "part-%u-of-%u", k, r->n);
		if (!(r->parts[k] = tt_lib_join(r->journal, name))) {
			tt_log(TT_LOG_ERROR, "out of memory");
			return TT_STATUS_USAGE;
		}
	}
	if ((rc = tt_lib_mkdir_p(r->journal)) < 0) {
		tt_log(TT_LOG_ERROR, "cannot create %s: %s", r->journal, strerror(-rc));
		return TT_STATUS_USAGE;
	}
	prune_journal(r, true);
	return 0;
}

/* Analyse the pieces not already in the journal, then join them. An enum tt_status. */
static int run(struct resume *r)
{
	const struct tt_config *cfg = r->cfg;
	bool is_hashed = tt_lib_is_hash_wanted(cfg);
	unsigned n_kept = 0;
	int status;

	for (unsigned k = 0; k < r->n; k++) {
		struct tt_config piece = *cfg;
		char why[256];

		size_t lo, hi;

		piece.shard_index = k;
		piece.shard_count = r->n;
		piece.is_resume = false;
		tt_shard_range(r->sizes, r->n_paths, k, r->n, &lo, &hi);
		r->bytes_before = 0;
		r->files_before = lo;
		for (size_t i = 0; i < lo; i++)
			r->bytes_before += r->sizes[i];
		if (cfg->progress) {
			piece.progress = piece_progress;
			piece.progress_ctx = r;
		}
		if (r->relays)
			piece.relays = r->relays;
		if (tt_partial_is_current(r->parts[k], &piece, r->paths, r->sizes, r->mtimes,
			r->n_paths, piece.relays, is_hashed, why, sizeof(why), NULL)) {
			n_kept++;
			continue;
		}
		if (access(r->parts[k], F_OK) == 0)
			tt_log(cfg->is_quiet ? TT_LOG_DEBUG : TT_LOG_INFO,
			    "journal: piece %u of %u is analysed again: %s", k + 1, r->n, why);
		piece.out_dir = r->parts[k];
		piece.is_no_html = true;
		piece.history_path = NULL;
		piece.on_host = NULL;
		piece.on_relay = NULL;
		piece.write_pcap = NULL;
		piece.is_quiet = true;
		status = tt_analyze(&piece);
		if (status == TT_STATUS_USAGE || (cfg->stop && atomic_load(cfg->stop)))
			final_progress(r);
		if (status == TT_STATUS_USAGE) { /* the piece said why */
			tt_log(TT_LOG_ERROR,
			    "piece %u of %u failed: %u pieces are saved in %s; run the same "
			    "command with --resume to go on (%s is as it was)",
			    k + 1, r->n, k, r->journal, cfg->out_dir);
			return status;
		}
		if (cfg->stop && atomic_load(cfg->stop)) {
			/* The stop may have come after this piece was read whole. */
			unsigned n_done = k + tt_partial_is_current(r->parts[k], &piece, r->paths,
						  r->sizes, r->mtimes, r->n_paths, piece.relays,
						  is_hashed, why, sizeof(why), NULL);

			tt_log(TT_LOG_ERROR,
			    "stopped: %u of %u pieces are complete in %s; run the same command "
			    "with "
			    "--resume to go on (%s is as it was)",
			    n_done, r->n, r->journal, cfg->out_dir);
			return TT_STATUS_PARTIAL;
		}
		if (!cfg->is_quiet)
			tt_log(TT_LOG_INFO, "journal: piece %u of %u saved", k + 1, r->n);
	}
	if (n_kept && !cfg->is_quiet)
		tt_log(TT_LOG_INFO,
		    "journal: %u of %u pieces kept from an earlier run (inputs unchanged)", n_kept,
		    r->n);
	r->last.bytes_done = r->total;
	r->last.files_done = r->n_paths;
	final_progress(r);
	status = tt_lib_merge((const char *const *)r->parts, r->n, cfg->out_dir, cfg->is_no_html,
	    cfg->relays_path, cfg->relays_cache, cfg->command_line, cfg, r->t0);
	if (status != TT_STATUS_USAGE)
		prune_journal(r, false);
	return status;
}

int tt_lib_resume(const struct tt_config *cfg)
{
	struct resume r = {.cfg = cfg, .t0 = tt_now_ns()};
	int status = setup(&r);

	if (status == 0)
		status = run(&r);
	for (unsigned k = 0; r.parts && k < r.n; k++)
		free(r.parts[k]);
	free(r.parts);
	free(r.journal);
	free(r.sizes);
	free(r.mtimes);
	tt_relays_free(r.relays);
	tt_inputs_free(r.paths, r.n_paths);
	return status;
}
