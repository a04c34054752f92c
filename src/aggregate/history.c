/* The history of analyses: one embedded SQLite database (libsqlite3), one row per run with
 * its inputs and the hosts it found. Written by tt_analyze() after the outputs are in
 * place, read by `tortrace history` and `tortrace show`.
 *
 * Several analyses may finish at once (a batch of runs, the web server's jobs): the
 * database is in WAL mode, each record is one BEGIN IMMEDIATE transaction, and a writer
 * waits up to TT_HISTORY_BUSY_MS for another's lock, so no record is lost and none is
 * half written. Any failure (a corrupt or foreign file, a full disk, a lock held too
 * long) is reported and returned; the caller never lets it fail the analysis. */
#include "aggregate.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TT_HISTORY_BUSY_MS 30000
#define SCHEMA_VERSION     1

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS analyses ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " started_ns INTEGER NOT NULL, started_at TEXT NOT NULL,"
    " finished_ns INTEGER NOT NULL, elapsed_s REAL NOT NULL,"
    " version TEXT NOT NULL, command TEXT, status INTEGER NOT NULL, complete INTEGER NOT NULL,"
    " out_dir TEXT NOT NULL, report TEXT NOT NULL, flows TEXT NOT NULL, html TEXT, pcap TEXT,"
    " relay_data TEXT, relay_digest TEXT, min_score REAL NOT NULL,"
    " files INTEGER NOT NULL, files_failed INTEGER NOT NULL, packets INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, flows_total INTEGER NOT NULL, tor_flows INTEGER NOT NULL,"
    " candidates INTEGER NOT NULL, hosts_total INTEGER NOT NULL,"
    " v_tor INTEGER NOT NULL, v_tor_bridge INTEGER NOT NULL, v_tor_pt INTEGER NOT NULL,"
    " v_tor_dir INTEGER NOT NULL, v_tor_exit_side INTEGER NOT NULL,"
    " v_tor_snowflake INTEGER NOT NULL DEFAULT 0, v_tor_meek INTEGER NOT NULL DEFAULT 0,"
    " v_tor_webtunnel INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS inputs ("
    " analysis INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT,"
    " packets INTEGER NOT NULL, tor_flows INTEGER NOT NULL, error TEXT,"
    " PRIMARY KEY (analysis, idx));"
    "CREATE TABLE IF NOT EXISTS hosts ("
    " analysis INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,"
    " address TEXT NOT NULL, roles TEXT NOT NULL, tor_flows INTEGER NOT NULL,"
    " tor_bytes INTEGER NOT NULL, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
    " best_score REAL NOT NULL, PRIMARY KEY (analysis, address));"
    "CREATE INDEX IF NOT EXISTS hosts_by_address ON hosts(address);"
    "CREATE INDEX IF NOT EXISTS analyses_by_start ON analyses(started_ns);";

static const char *const verdict_cols[] = {NULL, "v_tor", "v_tor_bridge", "v_tor_pt", "v_tor_dir",
    "v_tor_exit_side", "v_tor_snowflake", "v_tor_meek", "v_tor_webtunnel"};
_Static_assert(sizeof(verdict_cols) / sizeof(verdict_cols[0]) == TT_VERDICT_COUNT,
    "a history column per verdict");

static int fail(sqlite3 *db, const char *path, const char *what)
{
	tt_log(TT_LOG_ERROR, "history %s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "?");
	return -EIO;
}

/* mkdir -p of path's folder. */
static void make_parent(const char *path)
{
	char *d = strdup(path);
	char *slash = d ? strrchr(d, '/') : NULL;

	if (!slash || slash == d) {
		free(d);
		return;
	}
	*slash = 0;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(d, 0700);
		*p = '/';
	}
	mkdir(d, 0700);
	free(d);
}

/* A database made before a verdict existed has no column for it: add the columns it lacks
 * (0 for the runs before; tor-snowflake, tor-meek and tor-webtunnel came after schema 1).
 * The change is additive, so the schema version stays 1 and an older tortrace still reads
 * and writes the file (it names its columns; the new ones default to 0). Checked again
 * under the write lock, so two runs never both add one. */
static int add_verdict_columns(sqlite3 *db, const char *path)
{
	char sql[160];
	sqlite3_stmt *st = NULL;

	for (unsigned v = TT_VERDICT_TOR_SNOWFLAKE; v < TT_VERDICT_COUNT; v++) {
		snprintf(sql, sizeof(sql), "SELECT %s FROM analyses LIMIT 0", verdict_cols[v]);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_finalize(st);
			continue;
		}
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return fail(db, path, "cannot lock to add a verdict column");
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_finalize(st); /* another run added it meanwhile */
		} else {
			snprintf(sql, sizeof(sql),
			    "ALTER TABLE analyses ADD COLUMN %s INTEGER NOT NULL DEFAULT 0",
			    verdict_cols[v]);
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
				int rc = fail(db, path, "cannot add a verdict column");

				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
				return rc;
			}
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return fail(db, path, "cannot add a verdict column");
		}
	}
	return 0;
}

/* Open (creating when is_create) and check the schema. *out is NULL on error. */
static int open_db(const char *path, bool is_create, sqlite3 **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int flags = SQLITE_OPEN_READWRITE | (is_create ? SQLITE_OPEN_CREATE : 0);
	int version = 0, rc;

	*out = NULL;
	if (is_create)
		make_parent(path);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, TT_HISTORY_BUSY_MS);
	/* The first statement reads the header: a file that is not a database fails here. */
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = fail(db, path, "not a usable history database (move it away to start anew)");
		goto err;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > SCHEMA_VERSION) {
		tt_log(TT_LOG_ERROR, "history %s: schema %d is newer than this tortrace's (%d)",
		    path, version, SCHEMA_VERSION);
		rc = -EPROTO;
		goto err;
	}
	if (version < SCHEMA_VERSION && is_create) {
		/* WAL lets readers go on while one run writes; it persists in the file. */
		if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA user_version=1", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			rc = fail(db, path, "cannot create the tables");
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto err;
		}
	} else if (version < SCHEMA_VERSION) {
		tt_log(TT_LOG_ERROR, "history %s: no analyses recorded yet", path);
		rc = -ENOENT;
		goto err;
	}
	if ((rc = add_verdict_columns(db, path)) < 0)
		goto err;
	sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	*out = db;
	return 0;
err:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int tt_history_record(const char *path, const struct tt_history_run *run, int64_t *id)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[1024], when[40];
	int rc, k = 1;

	*id = 0;
	if ((rc = open_db(path, true, &db)) < 0)
		return rc;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot lock for writing");
		goto out;
	}
	snprintf(sql, sizeof(sql),
	    "INSERT INTO analyses (started_ns, started_at, finished_ns, elapsed_s, version, "
	    "command, status, complete, out_dir, report, flows, html, pcap, relay_data, "
	    "relay_digest, min_score, files, files_failed, packets, bytes, flows_total, tor_flows, "
	    "candidates, hosts_total, %s, %s, %s, %s, %s, %s, %s, %s) VALUES (?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    verdict_cols[1], verdict_cols[2], verdict_cols[3], verdict_cols[4], verdict_cols[5],
	    verdict_cols[6], verdict_cols[7], verdict_cols[8]);
	_Static_assert(TT_VERDICT_COUNT == 9, "the INSERT names every verdict column");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot record");
		goto rollback;
	}
	tt_fmt_time(run->started_ns, when, sizeof(when));
	sqlite3_bind_int64(st, k++, (int64_t)run->started_ns);
	bind_text(st, k++, when);
	sqlite3_bind_int64(st, k++, (int64_t)run->finished_ns);
	sqlite3_bind_double(st, k++, run->elapsed_s);
	bind_text(st, k++, run->version);
	bind_text(st, k++, run->command);
	sqlite3_bind_int(st, k++, run->status);
	sqlite3_bind_int(st, k++, run->is_complete);
	bind_text(st, k++, run->out_dir);
	bind_text(st, k++, run->report);
	bind_text(st, k++, run->flows);
	bind_text(st, k++, run->html);
	bind_text(st, k++, run->pcap);
	bind_text(st, k++, run->relay_data);
	bind_text(st, k++, run->relay_digest);
	sqlite3_bind_double(st, k++, run->min_score);
	sqlite3_bind_int64(st, k++, (int64_t)run->n_inputs);
	sqlite3_bind_int64(st, k++, (int64_t)run->files_failed);
	sqlite3_bind_int64(st, k++, (int64_t)run->packets);
	sqlite3_bind_int64(st, k++, (int64_t)run->bytes);
	sqlite3_bind_int64(st, k++, (int64_t)run->flows_total);
	sqlite3_bind_int64(st, k++, (int64_t)run->tor_flows);
	sqlite3_bind_int64(st, k++, (int64_t)run->candidates);
	sqlite3_bind_int64(st, k++, (int64_t)run->hosts_total);
	for (int v = 1; v < TT_VERDICT_COUNT; v++)
		sqlite3_bind_int64(st, k++, (int64_t)run->verdicts[v]);
	if (step_done(st) < 0) {
		rc = fail(db, path, "cannot record");
		goto rollback;
	}
	*id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(db,
		"INSERT INTO inputs (analysis, idx, path, size, sha256, packets, tor_flows, error) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot record the inputs");
		goto rollback;
	}
	for (size_t i = 0; i < run->n_inputs; i++) {
		const struct tt_history_input *in = &run->inputs[i];

		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		bind_text(st, 3, in->path);
		sqlite3_bind_int64(st, 4, (int64_t)in->size);
		bind_text(st, 5, in->sha256 && in->sha256[0] ? in->sha256 : NULL);
		sqlite3_bind_int64(st, 6, (int64_t)in->packets);
		sqlite3_bind_int64(st, 7, (int64_t)in->tor_flows);
		bind_text(st, 8, in->error);
		if (step_done(st) < 0) {
			rc = fail(db, path, "cannot record the inputs");
			goto rollback;
		}
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(db,
		"INSERT INTO hosts (analysis, address, roles, tor_flows, tor_bytes, first_ns, "
		"last_ns, best_score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot record the hosts");
		goto rollback;
	}
	for (size_t i = 0; i < run->n_hosts; i++) {
		const struct tt_history_host *h = &run->hosts[i];

		sqlite3_bind_int64(st, 1, *id);
		bind_text(st, 2, h->address);
		bind_text(st, 3, h->roles);
		sqlite3_bind_int64(st, 4, (int64_t)h->tor_flows);
		sqlite3_bind_int64(st, 5, (int64_t)h->tor_bytes);
		sqlite3_bind_int64(st, 6, (int64_t)h->first_ns);
		sqlite3_bind_int64(st, 7, (int64_t)h->last_ns);
		sqlite3_bind_double(st, 8, h->best_score);
		if (step_done(st) < 0) {
			rc = fail(db, path, "cannot record the hosts");
			goto rollback;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot commit");
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	*id = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* ---- reading -------------------------------------------------------------------------- */

static const char list_cols[] =
    "id, started_ns, started_at, elapsed_s, version, command, status, complete, out_dir, "
    "report, flows, html, pcap, relay_data, relay_digest, min_score, files, files_failed, packets, "
    "bytes, flows_total, tor_flows, candidates, hosts_total, v_tor, v_tor_bridge, v_tor_pt, "
    "v_tor_dir, v_tor_exit_side, v_tor_snowflake, v_tor_meek, v_tor_webtunnel";

enum {
	C_ID,
	C_STARTED_NS,
	C_STARTED_AT,
	C_ELAPSED,
	C_VERSION,
	C_COMMAND,
	C_STATUS,
	C_COMPLETE,
	C_OUT_DIR,
	C_REPORT,
	C_FLOWS,
	C_HTML,
	C_PCAP,
	C_RELAY_DATA,
	C_RELAY_DIGEST,
	C_MIN_SCORE,
	C_FILES,
	C_FILES_FAILED,
	C_PACKETS,
	C_BYTES,
	C_FLOWS_TOTAL,
	C_TOR_FLOWS,
	C_CANDIDATES,
	C_HOSTS_TOTAL,
	C_V_TOR,
};

static const char *text(sqlite3_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

static uint64_t u64(sqlite3_stmt *st, int c)
{
	return (uint64_t)sqlite3_column_int64(st, c);
}

/* The hosts of analysis id, as a comma list into buf (the first few). */
static void host_list(sqlite3 *db, int64_t id, char *buf, size_t len, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t k = 0;

	buf[0] = 0;
	*n = 0;
	if (sqlite3_prepare_v2(db,
		"SELECT address FROM hosts WHERE analysis = ? ORDER BY tor_flows DESC, address", -1,
		&st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *a = text(st, 0);

		if (k + strlen(a) + 8 < len)
			k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? ", " : "", a);
		else if (k + 5 < len && !strstr(buf, "..."))
			k += (size_t)snprintf(buf + k, len - k, ", ...");
		(*n)++;
	}
	sqlite3_finalize(st);
}

static void json_analysis(struct tt_json *j, sqlite3_stmt *st)
{
	static const char *const names[] = {"tor", "tor-bridge", "tor-pt", "tor-dir",
	    "tor-exit-side", "tor-snowflake", "tor-meek", "tor-webtunnel"};
	_Static_assert(sizeof(names) / sizeof(names[0]) == TT_VERDICT_COUNT - 1, "a name each");

	tt_json_kv_u64(j, "id", u64(st, C_ID));
	tt_json_kv_str(j, "started_at", text(st, C_STARTED_AT));
	tt_json_key(j, "elapsed_s");
	tt_json_num(j, sqlite3_column_double(st, C_ELAPSED), 3);
	tt_json_kv_str(j, "version", text(st, C_VERSION));
	tt_json_kv_str(j, "command", text(st, C_COMMAND));
	tt_json_kv_u64(j, "status", u64(st, C_STATUS));
	tt_json_key(j, "complete");
	tt_json_bool(j, sqlite3_column_int(st, C_COMPLETE) != 0);
	tt_json_kv_str(j, "out_dir", text(st, C_OUT_DIR));
	tt_json_kv_str(j, "report", text(st, C_REPORT));
	tt_json_kv_str(j, "flows_file", text(st, C_FLOWS));
	tt_json_kv_str(j, "html", text(st, C_HTML));
	tt_json_kv_str(j, "pcap", text(st, C_PCAP));
	tt_json_kv_str(j, "relay_data", text(st, C_RELAY_DATA));
	tt_json_kv_str(j, "relay_digest", text(st, C_RELAY_DIGEST));
	tt_json_key(j, "min_score");
	tt_json_num(j, sqlite3_column_double(st, C_MIN_SCORE), 3);
	tt_json_kv_u64(j, "files", u64(st, C_FILES));
	tt_json_kv_u64(j, "files_failed", u64(st, C_FILES_FAILED));
	tt_json_kv_u64(j, "packets", u64(st, C_PACKETS));
	tt_json_kv_u64(j, "bytes", u64(st, C_BYTES));
	tt_json_kv_u64(j, "flows", u64(st, C_FLOWS_TOTAL));
	tt_json_kv_u64(j, "tor_flows", u64(st, C_TOR_FLOWS));
	tt_json_kv_u64(j, "candidates", u64(st, C_CANDIDATES));
	tt_json_kv_u64(j, "hosts_total", u64(st, C_HOSTS_TOTAL));
	tt_json_key(j, "verdicts");
	tt_json_obj(j);
	for (int v = 0; v < TT_VERDICT_COUNT - 1; v++)
		tt_json_kv_u64(j, names[v], u64(st, C_V_TOR + v));
	tt_json_obj_end(j);
}

static void json_hosts(struct tt_json *j, sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = NULL;

	tt_json_key(j, "hosts");
	tt_json_arr(j);
	if (sqlite3_prepare_v2(db,
		"SELECT address, roles, tor_flows, tor_bytes, first_ns, last_ns, best_score FROM "
		"hosts WHERE analysis = ? ORDER BY tor_flows DESC, tor_bytes DESC, address",
		-1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			tt_json_obj(j);
			tt_json_kv_str(j, "address", text(st, 0));
			tt_json_kv_str(j, "roles", text(st, 1));
			tt_json_kv_u64(j, "tor_flows", u64(st, 2));
			tt_json_kv_u64(j, "tor_bytes", u64(st, 3));
			tt_json_key(j, "first_ts");
			tt_json_ts(j, u64(st, 4));
			tt_json_key(j, "last_ts");
			tt_json_ts(j, u64(st, 5));
			tt_json_key(j, "best_score");
			tt_json_num(j, sqlite3_column_double(st, 6), 6);
			tt_json_obj_end(j);
		}
	}
	sqlite3_finalize(st);
	tt_json_arr_end(j);
}

int tt_history_list(const char *path, uint64_t since_ns, const char *host, bool is_json, FILE *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct tt_json j;
	char sql[1024], hosts[160];
	size_t n_hosts, n = 0;
	int rc;

	if ((rc = open_db(path, false, &db)) < 0)
		return rc;
	snprintf(sql, sizeof(sql),
	    "SELECT %s FROM analyses WHERE started_ns >= ?1 AND (?2 IS NULL OR id IN (SELECT "
	    "analysis FROM hosts WHERE address = ?2)) ORDER BY started_ns DESC, id DESC",
	    list_cols);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot read");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_bind_int64(st, 1, (int64_t)since_ns);
	bind_text(st, 2, host);
	if (is_json) {
		tt_json_init(&j, out, true);
		tt_json_arr(&j);
	} else {
		fprintf(out, "%6s  %-20s  %8s  %9s  %7s  %s\n", "id", "started (UTC)", "elapsed",
		    "tor flows", "hosts", "inputs / outputs");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, C_ID);

		n++;
		if (is_json) {
			tt_json_obj(&j);
			json_analysis(&j, st);
			json_hosts(&j, db, id);
			tt_json_obj_end(&j);
			continue;
		}
		host_list(db, id, hosts, sizeof(hosts), &n_hosts);
		fprintf(out,
		    "%6" PRId64 "  %.19s  %7.1fs  %9" PRIu64 "  %7zu  %" PRIu64
		    " file(s) -> %s%s\n",
		    id, text(st, C_STARTED_AT), sqlite3_column_double(st, C_ELAPSED),
		    u64(st, C_TOR_FLOWS), n_hosts, u64(st, C_FILES), text(st, C_OUT_DIR),
		    sqlite3_column_int(st, C_COMPLETE) ? "" : " (incomplete)");
		if (n_hosts)
			fprintf(out, "%6s  hosts: %s\n", "", hosts);
	}
	if (is_json) {
		tt_json_arr_end(&j);
		fputc('\n', out);
	} else if (n == 0) {
		fprintf(out, "(no analyses%s)\n", host || since_ns ? " match" : " recorded");
	}
	rc = rc == SQLITE_DONE ? 0 : fail(db, path, "cannot read");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int tt_history_show(const char *path, int64_t id, bool is_json, FILE *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *in = NULL;
	struct tt_json j;
	char sql[1024];
	int rc;

	if ((rc = open_db(path, false, &db)) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT %s FROM analyses WHERE id = ?", list_cols);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
		"SELECT path, size, sha256, packets, tor_flows, error FROM inputs WHERE analysis = "
		"? ORDER BY idx",
		-1, &in, NULL) != SQLITE_OK) {
		rc = fail(db, path, "cannot read");
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(in, 1, id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			tt_log(TT_LOG_ERROR, "history %s: no analysis %" PRId64, path, id);
		else
			fail(db, path, "cannot read");
		rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
		goto out;
	}
	if (is_json) {
		tt_json_init(&j, out, true);
		tt_json_obj(&j);
		json_analysis(&j, st);
		tt_json_key(&j, "inputs");
		tt_json_arr(&j);
		while (sqlite3_step(in) == SQLITE_ROW) {
			tt_json_obj(&j);
			tt_json_kv_str(&j, "path", text(in, 0));
			tt_json_kv_u64(&j, "size", u64(in, 1));
			tt_json_kv_str(&j, "sha256", text(in, 2));
			tt_json_kv_u64(&j, "packets", u64(in, 3));
			tt_json_kv_u64(&j, "tor_flows", u64(in, 4));
			tt_json_kv_str(&j, "error", text(in, 5));
			tt_json_obj_end(&j);
		}
		tt_json_arr_end(&j);
		json_hosts(&j, db, id);
		tt_json_obj_end(&j);
		fputc('\n', out);
		rc = 0;
		goto out;
	}
	fprintf(out,
	    "analysis %" PRId64 "\n  started:    %s (%.3f s)\n  version:    %s\n  command:    %s\n"
	    "  status:     %d%s\n  threshold:  %.3f\n  relay data: %s%s%s%s\n"
	    "  totals:     %" PRIu64 " file(s) (%" PRIu64 " failed), %" PRIu64 " packets, %" PRIu64
	    " bytes, %" PRIu64 " flows\n"
	    "  verdicts:   tor %" PRIu64 ", tor-bridge %" PRIu64 ", tor-pt %" PRIu64
	    ", tor-dir %" PRIu64 ", tor-exit-side %" PRIu64 ", tor-snowflake %" PRIu64
	    ", tor-meek %" PRIu64 ", tor-webtunnel %" PRIu64 "; candidates %" PRIu64 "\n",
	    id, text(st, C_STARTED_AT), sqlite3_column_double(st, C_ELAPSED), text(st, C_VERSION),
	    text(st, C_COMMAND) ? text(st, C_COMMAND) : "(not recorded)",
	    sqlite3_column_int(st, C_STATUS),
	    sqlite3_column_int(st, C_COMPLETE) ? "" : " (incomplete)",
	    sqlite3_column_double(st, C_MIN_SCORE),
	    text(st, C_RELAY_DATA) ? text(st, C_RELAY_DATA) : "none",
	    text(st, C_RELAY_DIGEST) ? " (xxh3-128 " : "",
	    text(st, C_RELAY_DIGEST) ? text(st, C_RELAY_DIGEST) : "",
	    text(st, C_RELAY_DIGEST) ? ")" : "", u64(st, C_FILES), u64(st, C_FILES_FAILED),
	    u64(st, C_PACKETS), u64(st, C_BYTES), u64(st, C_FLOWS_TOTAL), u64(st, C_V_TOR),
	    u64(st, C_V_TOR + 1), u64(st, C_V_TOR + 2), u64(st, C_V_TOR + 3), u64(st, C_V_TOR + 4),
	    u64(st, C_V_TOR + 5), u64(st, C_V_TOR + 6), u64(st, C_V_TOR + 7),
	    u64(st, C_CANDIDATES));
	fprintf(out, "  outputs:    %s\n              %s\n", text(st, C_REPORT), text(st, C_FLOWS));
	if (text(st, C_HTML))
		fprintf(out, "              %s\n", text(st, C_HTML));
	if (text(st, C_PCAP))
		fprintf(out, "              %s (carved)\n", text(st, C_PCAP));
	fprintf(out, "  inputs:\n");
	while (sqlite3_step(in) == SQLITE_ROW)
		fprintf(out,
		    "    %s  %" PRIu64 " bytes  sha256 %s  %" PRIu64 " packets  %" PRIu64
		    " tor flows%s%s\n",
		    text(in, 0), u64(in, 1), text(in, 2) ? text(in, 2) : "(not computed)",
		    u64(in, 3), u64(in, 4), text(in, 5) ? "  error: " : "",
		    text(in, 5) ? text(in, 5) : "");
	sqlite3_finalize(st);
	st = NULL;
	fprintf(out, "  hosts:\n");
	if (sqlite3_prepare_v2(db,
		"SELECT address, roles, tor_flows, tor_bytes, first_ns, last_ns, best_score FROM "
		"hosts WHERE analysis = ? ORDER BY tor_flows DESC, tor_bytes DESC, address",
		-1, &st, NULL) == SQLITE_OK) {
		char a[40], b[40];

		sqlite3_bind_int64(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			tt_fmt_time(u64(st, 4), a, sizeof(a));
			tt_fmt_time(u64(st, 5), b, sizeof(b));
			fprintf(out,
			    "    %-39s %-18s %6" PRIu64 " tor flows %12" PRIu64
			    " bytes  %.19s .. %.19s  best %.4f\n",
			    text(st, 0), text(st, 1), u64(st, 2), u64(st, 3), a, b,
			    sqlite3_column_double(st, 6));
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(in);
	sqlite3_close(db);
	return rc;
}
