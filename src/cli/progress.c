/* The progress bar of `tortrace analyze`: a struct tt_config progress callback that
 * redraws one line on stderr. While it is drawn, log lines first clear it
 * (tt_log_set_progress). Runs on the thread that called tt_analyze(). */
#include "progress.h"

#include <stdio.h>

#include "tortrace/tortrace.h"
#include "core.h"

static void human(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

void tt_cli_progress(const struct tt_progress *p, void *ctx)
{
	bool *is_drawn = ctx;
	double secs = (double)p->elapsed_ns / 1e9;
	char a[32], b[32], rate[32];
	int pct = p->bytes_total ? (int)(p->bytes_done * 100 / p->bytes_total) : 100;

	if (!*is_drawn) {
		tt_log_set_progress(true);
		*is_drawn = true;
	}
	human((double)p->bytes_done, a, sizeof(a));
	human((double)p->bytes_total, b, sizeof(b));
	human(secs > 0 ? (double)p->bytes_done / secs : 0, rate, sizeof(rate));
	fprintf(stderr, "\r\033[Kfiles %zu/%zu  %s / %s  %3d%%  %s/s", p->files_done,
	    p->files_total, a, b, pct > 100 ? 100 : pct, rate);
	if (p->is_final) {
		fputc('\n', stderr);
		tt_log_set_progress(false);
		*is_drawn = false;
	}
	fflush(stderr);
}
