/* src/serve/util.c: upload names, content sniffing, token comparison. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "serve.h"

TestSuite(serve_util, .timeout = 10);

struct name_case {
	char in[64];
	char want[64];
};

ParameterizedTestParameters(serve_util, names)
{
	static struct name_case cases[] = {
	    {"capture.pcap", "capture.pcap"},
	    {"../../etc/passwd", "passwd"},
	    {"..\\..\\win.pcap", "win.pcap"},
	    {"/abs/path/x.pcapng", "x.pcapng"},
	    {".hidden", "hidden"},
	    {"...", "upload"},
	    {"", "upload"},
	    {"a b<script>.pcap", "a_b_script_.pcap"},
	    {"dir/", "upload"},
	    {"caf\xc3\xa9.pcap", "caf__.pcap"},
	};
	return cr_make_param_array(struct name_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct name_case *c, serve_util, names)
{
	char out[128];

	tt_serve_sanitize_name(c->in, out, sizeof(out));
	cr_expect_str_eq(out, c->want, "%s", c->in);
}

Test(serve_util, long_names_are_cut)
{
	char in[300], out[16];

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	tt_serve_sanitize_name(in, out, sizeof(out));
	cr_expect_eq(strlen(out), sizeof(out) - 1);
	tt_serve_sanitize_name(NULL, out, sizeof(out));
	cr_expect_str_eq(out, "upload");
}

struct sniff_case {
	unsigned char head[8];
	unsigned n;
	char want[16]; /* "" for NULL */
};

ParameterizedTestParameters(serve_util, sniff)
{
	static struct sniff_case cases[] = {
	    {{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, 8, "pcap"},    /* little-endian µs */
	    {{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4}, 8, "pcap"},    /* big-endian µs */
	    {{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0}, 8, "pcap-ns"}, /* little-endian ns */
	    {{0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4}, 8, "pcap-ns"}, /* big-endian ns */
	    {{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0}, 8, "pcapng"},
	    {{0x1f, 0x8b, 0x08, 0x00}, 4, "gzip"},
	    {{0x28, 0xb5, 0x2f, 0xfd}, 4, "zstd"},
	    {{'<', 'h', 't', 'm', 'l', '>'}, 6, ""},
	    {{0xd4, 0xc3, 0xb2}, 3, ""},       /* too short to tell */
	    {{0x1f, 0x8b, 0x07, 0x00}, 4, ""}, /* gzip magic, not deflate */
	    {{0}, 0, ""},
	};
	return cr_make_param_array(struct sniff_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct sniff_case *c, serve_util, sniff)
{
	const char *got = tt_serve_sniff(c->head, c->n);

	if (c->want[0])
		cr_expect(got && strcmp(got, c->want) == 0, "want %s, got %s", c->want,
		    got ? got : "NULL");
	else
		cr_expect_null(got, "want NULL, got %s", got ? got : "NULL");
}

Test(serve_util, token_equal)
{
	cr_expect(tt_serve_token_equal("correct-horse-battery", "correct-horse-battery"));
	cr_expect_not(tt_serve_token_equal("correct-horse-batter", "correct-horse-battery"));
	cr_expect_not(tt_serve_token_equal("correct-horse-batteryy", "correct-horse-battery"));
	cr_expect_not(tt_serve_token_equal("", "correct-horse-battery"));
	cr_expect_not(tt_serve_token_equal("Correct-horse-battery", "correct-horse-battery"));
}
