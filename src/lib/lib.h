/* The library's internal parts beside tt_analyze(): the carve (--write-pcap). Internal to
 * src/lib. */
#ifndef TT_SRC_LIB_LIB_H
#define TT_SRC_LIB_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct tt_config;
struct tt_file_stats;
struct tt_relays;
struct tt_aggregator;
struct tt_run_info;

/* Before the analysis: can cfg->write_pcap be carved at all? Every input must be a file
 * that can be read again (not standard input or a pipe), the output must not be one of
 * the inputs nor a folder, and cfg->write_pcap.tmp must be creatable (it is created and
 * removed). paths are the expanded inputs. Returns 0, or -errno with a message on stderr.
 * The calling thread of tt_analyze(). */
int tt_carve_check(const struct tt_config *cfg, char *const *paths, size_t n_paths);

/* After the outputs are committed: write every packet of the flows of flows_path that have
 * a verdict to cfg->write_pcap (see carve.c), reading the inputs again. files are the
 * analysis's per-file results (paths, capture sets, identities, errors), n_files of them,
 * in the order flows_path's file ids use. Returns 0, or -errno with a message on stderr;
 * on error no output file is left behind (a previous one stays). The calling thread of
 * tt_analyze(). */
int tt_carve(const struct tt_config *cfg, const char *flows_path, const struct tt_file_stats *files,
    size_t n_files);

/* ---- output helpers (analyze.c), shared with the merge (shard.c) ---------------------- */

/* Whether cfg has the inputs' SHA-256 computed: --sha256, or by default only where the
 * hasher has a core of its own. */
bool tt_lib_is_hash_wanted(const struct tt_config *cfg);
/* mkdir -p. 0 or -errno. */
int tt_lib_mkdir_p(const char *dir);
/* dir/name, malloc()ed; NULL without memory. */
char *tt_lib_join(const char *dir, const char *name);
/* Complete a file written through f (rc: how writing went so far) and close it: 0, or the
 * first error as -errno. */
int tt_lib_finish_file(FILE *f, int rc);
/* Put the complete temporary outputs in place: report.json last (see analyze.c's top). The
 * old report.json and report.html go first, so that a failure part way leaves no page or
 * report beside flows they do not describe. html_tmp NULL: no report.html (--no-html). */
int tt_lib_commit_outputs(const char *flows_tmp, const char *flows_final, const char *report_tmp,
    const char *report_final, const char *html_tmp, const char *html_final);
/* Make the renames durable (best effort: some file systems refuse fsync on a folder). */
void tt_lib_sync_dir(const char *dir);
/* Add a finished analysis (cfg's command, OUT and inputs; files, agg's counts and findings,
 * run) to the history database cfg->history_path. A failure is logged and never changes
 * the analysis's status: its outputs are complete without it. */
void tt_lib_record_history(const struct tt_config *cfg, const struct tt_relays *relays,
    const struct tt_file_stats *files, size_t n_files, const struct tt_aggregator *agg,
    const struct tt_run_info *run, int status, bool is_carved);

/* ---- shards and their merge (shard.c) ---------------------------------------------------
 * A shard's partial result is OUT/partial.bin beside its flows.msgpack; see shard.c. */

#define TT_PARTIAL_NAME "partial.bin"

/* Files [*lo, *hi) of n_files are shard index of count: contiguous ranges in input order,
 * balanced by bytes (file k goes to the shard that holds the middle of its bytes; by
 * count when every size is 0), so each shard gets about 1/count of the bytes and the
 * ranges cover every file once. A range may be empty. Pure function, any thread. */
void tt_shard_range(
    const uint64_t *sizes, size_t n_files, unsigned index, unsigned count, size_t *lo, size_t *hi);

/* Write OUT/partial.bin (through a temporary name, synced): provenance (version, the
 * options that change results, relay-data digest, shard I/N, every input with its size),
 * the per-file results of the files is_owned marks, and what the merge needs of the
 * committed OUT/flows.msgpack: its size and XXH3, agg's counts and where its flagged
 * records are. After the shard's outputs are committed; the calling thread of
 * tt_analyze(). 0, or -errno with a message. */
int tt_partial_write(const struct tt_config *cfg, const struct tt_file_stats *files,
    const uint64_t *mtimes, size_t n_files, const bool *is_owned, const struct tt_relays *relays,
    bool is_hashed, bool is_complete, const struct tt_aggregator *agg);

/* Whether dir holds a complete part of this very shard (cfg's shard I/N) that a resumed
 * run may keep: written by this version with the options, relay data and inputs (paths
 * and sizes, n of them) of this run, its flows.msgpack intact, and every input its result
 * depends on (see part_depends) still has the modification time (ns) it had then. When
 * not, why says why in a few words. When it is, *has_failures (if not NULL) is set if an
 * input failed in it (the exit status of the run that made it was 1). */
bool tt_partial_is_current(const char *dir, const struct tt_config *cfg, char *const *paths,
    const uint64_t *sizes, const uint64_t *mtimes, size_t n, const struct tt_relays *relays,
    bool is_hashed, char *why, size_t why_len, bool *has_failures);

/* tt_merge(), and when run_cfg is not NULL, what tt_analyze() does after its outputs for
 * the run run_cfg describes: record it in run_cfg->history_path and pass its findings to
 * run_cfg's on_host/on_relay. t0: the tt_now_ns() when that run began (its report gives
 * its start and whole time), or 0 for the merge's own. An enum tt_status. */
int tt_lib_merge(const char *const *parts, size_t n_parts, const char *out_dir, bool is_no_html,
    const char *relays_path, const char *relays_cache, const char *command_line,
    const struct tt_config *run_cfg, uint64_t t0);

/* ---- resumable runs (resume.c) -------------------------------------------------------- */

/* tt_analyze() with cfg->is_resume and no shard: the run in pieces saved in OUT/journal/,
 * then joined (see resume.c). An enum tt_status. */
int tt_lib_resume(const struct tt_config *cfg);

#endif /* TT_SRC_LIB_LIB_H */
