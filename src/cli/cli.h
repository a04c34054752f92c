/* The tortrace command's subcommands, each in its own file of src/cli; main.c dispatches.
 * Internal to src/cli. */
#ifndef TT_SRC_CLI_CLI_H
#define TT_SRC_CLI_CLI_H

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

#endif /* TT_SRC_CLI_CLI_H */
