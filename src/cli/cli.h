/* The tortrace command's subcommands, each in its own file of src/cli; main.c dispatches.
 * Internal to src/cli. */
#ifndef TT_SRC_CLI_CLI_H
#define TT_SRC_CLI_CLI_H

#include <stdatomic.h>

/* `tortrace relays lookup|info ...`: argv[0] is "relays". Main thread; writes results to
 * stdout and diagnostics to stderr (the only code that prints relay data). Returns the
 * exit status, which main.c passes to exit(): 0 found / done, 1 some address not found,
 * 2 usage error or no relay data. */
int tt_relays_cli(int argc, char **argv);

/* `tortrace history ...` / `tortrace show ID ...`: argv[0] is "history" or "show". Returns
 * the exit status: 0 done, 1 the database cannot be read or has no such analysis, 2 usage. */
int tt_history_cli(int argc, char **argv);

/* The default history database: $XDG_DATA_HOME/tortrace/history.sqlite, else
 * ~/.local/share/tortrace/history.sqlite; malloc()ed, NULL without HOME. */
char *tt_cli_history_default(void);

/* `tortrace diagnose [--json] [--relays PATH] PATH...`: argv[0] is "diagnose". Main
 * thread; runs tt_analyze() once per file into a temporary folder (removed after), writes
 * the diagnosis to stdout and faults to stderr. Returns the exit status: 0 every file
 * diagnosed, 1 some file unreadable or damaged (the others are still diagnosed), 2 usage
 * error or unusable relay data. stop (set by main's SIGINT/SIGTERM handler) ends the
 * file being analysed early, removes its temporary folder and diagnoses no more files
 * (exit status 1). */
int tt_diagnose_cli(int argc, char **argv, const atomic_bool *stop);

/* `tortrace serve [options]`: argv[0] is "serve". Main thread, before any other thread
 * exists; runs the web server (src/serve) until SIGINT or SIGTERM. Returns the exit
 * status: 0 stopped cleanly, 1 failed while running, 2 usage error. */
int tt_serve_cli(int argc, char **argv);

#endif /* TT_SRC_CLI_CLI_H */
