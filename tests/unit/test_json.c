/* The JSON writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/aggregate/aggregate.h"

TestSuite(json, .timeout = 10);

static char *render(void (*fn)(struct tt_json *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct tt_json j;

	tt_json_init(&j, f, false);
	fn(&j);
	fclose(f);
	return buf;
}

static void nested(struct tt_json *j)
{
	tt_json_obj(j);
	tt_json_key(j, "a");
	tt_json_arr(j);
	tt_json_u64(j, 1);
	tt_json_i64(j, -2);
	tt_json_obj(j);
	tt_json_obj_end(j);
	tt_json_arr(j);
	tt_json_arr_end(j);
	tt_json_arr_end(j);
	tt_json_key(j, "b");
	tt_json_null(j);
	tt_json_key(j, "c");
	tt_json_bool(j, true);
	tt_json_key(j, "d");
	tt_json_num(j, 1.5, 2);
	tt_json_key(j, "t");
	tt_json_ts(j, 1795702867175434000ull);
	tt_json_obj_end(j);
}

Test(json, commas_and_nesting)
{
	char *s = render(nested);

	cr_expect_str_eq(s, "{\"a\":[1,-2,{},[]],\"b\":null,\"c\":true,\"d\":1.50,"
			    "\"t\":1795702867.175434}");
	free(s);
}

static void strings(struct tt_json *j)
{
	tt_json_arr(j);
	tt_json_str(j, "q\"b\\n\n\t\x01");
	tt_json_str(j, "caf\xc3\xa9");
	tt_json_str(j, "bad\xff\xc3(");
	tt_json_str(j, NULL);
	tt_json_arr_end(j);
}

Test(json, strings_are_escaped_and_bad_utf8_replaced)
{
	char *s = render(strings);

	cr_expect_str_eq(s, "[\"q\\\"b\\\\n\\u000a\\u0009\\u0001\",\"caf\xc3\xa9\","
			    "\"bad\\ufffd\\ufffd(\",null]");
	free(s);
}
