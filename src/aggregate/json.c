/* A small streaming JSON writer. */
#include "aggregate.h"

#include <inttypes.h>
#include <math.h>

void tt_json_init(struct tt_json *j, FILE *f, bool is_pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->is_pretty = is_pretty;
}

static void newline(struct tt_json *j)
{
	/* The line break and the deepest indent (depth stays below TT_JSON_DEPTH). */
	static const char spaces[] =
	    "\n                                                                ";

	_Static_assert(sizeof(spaces) > 1 + 2 * (TT_JSON_DEPTH - 1), "indent of TT_JSON_DEPTH");
	if (j->is_pretty)
		fwrite(spaces, 1, 1 + 2 * (size_t)j->depth, j->f);
}

/* v in decimal, without printf's format parsing. */
static void put_u64(FILE *f, uint64_t v)
{
	char b[20];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fwrite(b + i, 1, sizeof(b) - i, f);
}

/* Before any value: a comma after the previous item, unless it follows a key. */
static void item(struct tt_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (j->has_items[j->depth])
			fputc(',', j->f);
		j->has_items[j->depth] = true;
		newline(j);
	}
}

static void open_(struct tt_json *j, char c)
{
	item(j);
	fputc(c, j->f);
	TT_BUG_ON(j->depth + 1 >= TT_JSON_DEPTH);
	j->depth++;
	j->has_items[j->depth] = false;
}

static void close_(struct tt_json *j, char c)
{
	bool had = j->has_items[j->depth];

	j->depth--;
	if (had)
		newline(j);
	fputc(c, j->f);
}

void tt_json_obj(struct tt_json *j)
{
	open_(j, '{');
}

void tt_json_obj_end(struct tt_json *j)
{
	close_(j, '}');
}

void tt_json_arr(struct tt_json *j)
{
	open_(j, '[');
}

void tt_json_arr_end(struct tt_json *j)
{
	close_(j, ']');
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		const unsigned char *run = s;
		int n;

		/* A run of bytes written as they are (printable ASCII but the two escaped
		 * characters), in one call: a call for each byte cost more than everything
		 * else in writing a report. */
		while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
			s++;
		if (s > run) {
			fwrite(run, 1, (size_t)(s - run), f);
			continue;
		}
		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s < 0x20) {
			fprintf(f, "\\u%04x", *s++);
		} else if ((n = utf8_len(s)) > 0) {
			fwrite(s, 1, (size_t)n, f);
			s += n;
		} else {
			fputs("\\ufffd", f);
			s++;
		}
	}
	fputc('"', f);
}

void tt_json_key(struct tt_json *j, const char *key)
{
	item(j);
	string(j->f, key);
	fputs(j->is_pretty ? ": " : ":", j->f);
	j->after_key = true;
}

void tt_json_str(struct tt_json *j, const char *s)
{
	item(j);
	if (s)
		string(j->f, s);
	else
		fputs("null", j->f);
}

void tt_json_u64(struct tt_json *j, uint64_t v)
{
	item(j);
	put_u64(j->f, v);
}

void tt_json_i64(struct tt_json *j, int64_t v)
{
	item(j);
	fprintf(j->f, "%" PRId64, v);
}

void tt_json_num(struct tt_json *j, double v, int decimals)
{
	item(j);
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
}

void tt_json_bool(struct tt_json *j, bool v)
{
	item(j);
	fputs(v ? "true" : "false", j->f);
}

void tt_json_null(struct tt_json *j)
{
	item(j);
	fputs("null", j->f);
}

void tt_json_ts(struct tt_json *j, uint64_t ts_ns)
{
	item(j);
	fprintf(j->f, "%" PRIu64 ".%06" PRIu64, ts_ns / 1000000000u, ts_ns % 1000000000u / 1000u);
}

void tt_json_kv_u64(struct tt_json *j, const char *key, uint64_t v)
{
	tt_json_key(j, key);
	tt_json_u64(j, v);
}

void tt_json_kv_str(struct tt_json *j, const char *key, const char *s)
{
	tt_json_key(j, key);
	tt_json_str(j, s);
}
