/* The CLI's progress bar. Internal to src/cli. */
#ifndef TT_SRC_CLI_PROGRESS_H
#define TT_SRC_CLI_PROGRESS_H

#include <stdbool.h>

struct tt_progress;

/* A struct tt_config progress callback drawing one line on stderr; ctx points to a bool,
 * false at first, that says whether the line is drawn. Caller: tt_analyze()'s thread. */
void tt_cli_progress(const struct tt_progress *p, void *ctx);

#endif /* TT_SRC_CLI_PROGRESS_H */
