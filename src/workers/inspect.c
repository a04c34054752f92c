/* First-payload inspector: names the protocol that opens each direction of a flow.
 * This is where the protocol inspectors plug in; it sees the first payload of each
 * direction and nothing after, so it costs nothing on bulk data. */
#include "workers.h"

#include <string.h>

static bool starts(const uint8_t *p, uint32_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(p, s, n) == 0;
}

unsigned tt_inspect_first_payload(
    uint8_t proto, uint16_t sport, uint16_t dport, const uint8_t *p, uint32_t len)
{
	static const char *const http[] = {"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ",
	    "CONNECT ", "PATCH ", "HTTP/1."};

	if (proto == 17 && (sport == 53 || dport == 53))
		return TT_APP_DNS;
	/* TLS record: content type 20-23, version 3.x. */
	if (len >= 3 && p[0] >= 0x14 && p[0] <= 0x17 && p[1] == 0x03 && p[2] <= 0x04)
		return TT_APP_TLS;
	if (starts(p, len, "SSH-"))
		return TT_APP_SSH;
	for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
		if (starts(p, len, http[i]))
			return TT_APP_HTTP;
	return TT_APP_UNKNOWN;
}
