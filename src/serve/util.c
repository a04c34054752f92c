/* Small helpers of the server: upload names, content sniffing, token comparison, paths. */
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

void tt_serve_sanitize_name(const char *name, char *out, size_t out_len)
{
	const char *base = name ? name : "";
	size_t n = 0;

	/* The last component only, with either separator: "../../etc/passwd" and
	 * "..\\x.pcap" become "passwd" and "x.pcap". */
	for (const char *p = base; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	while (*base == '.')
		base++;
	for (const char *p = base; *p && n + 1 < out_len; p++) {
		unsigned char c = (unsigned char)*p;
		bool is_safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[n++] = is_safe ? (char)c : '_';
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, out_len, "upload");
}

const char *tt_serve_sniff(const unsigned char *h, size_t n)
{
	if (n < 4)
		return NULL;
	if ((h[0] == 0xd4 && h[1] == 0xc3 && h[2] == 0xb2 && h[3] == 0xa1) ||
	    (h[0] == 0xa1 && h[1] == 0xb2 && h[2] == 0xc3 && h[3] == 0xd4))
		return "pcap";
	if ((h[0] == 0x4d && h[1] == 0x3c && h[2] == 0xb2 && h[3] == 0xa1) ||
	    (h[0] == 0xa1 && h[1] == 0xb2 && h[2] == 0x3c && h[3] == 0x4d))
		return "pcap-ns";
	if (h[0] == 0x0a && h[1] == 0x0d && h[2] == 0x0d && h[3] == 0x0a)
		return "pcapng";
	if (h[0] == 0x1f && h[1] == 0x8b && h[2] == 0x08)
		return "gzip";
	if (h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd)
		return "zstd";
	return NULL;
}

bool tt_serve_token_equal(const char *given, const char *expected)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	/* Digests of both, compared with OpenSSL's constant-time comparison: the time
	 * depends on neither the content nor the length of what was presented. */
	SHA256((const unsigned char *)given, strlen(given), a);
	SHA256((const unsigned char *)expected, strlen(expected), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

char *tt_serve_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int tt_serve_mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void tt_serve_rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		unlink(dir);
		return;
	}
	while ((e = readdir(d))) {
		char *p;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!(p = tt_serve_join(dir, e->d_name)))
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			tt_serve_rm_rf(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}
