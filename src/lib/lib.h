/* The library's internal parts beside tt_analyze(): the carve (--write-pcap). Internal to
 * src/lib. */
#ifndef TT_SRC_LIB_LIB_H
#define TT_SRC_LIB_LIB_H

#include <stddef.h>

struct tt_config;
struct tt_file_stats;

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

#endif /* TT_SRC_LIB_LIB_H */
