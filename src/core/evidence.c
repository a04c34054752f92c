/* The evidence table and the verdict names: what counts as evidence of Tor, with the
 * weight and the reason for each (TOR-DETECTION.md §6). Workers score flows with it
 * (src/workers/score.c); the aggregator and export explain evidence bits with it. It lives
 * in core because every stage reads it. Weights are ln likelihood ratios. */
#include "core.h"

#include "tortrace/record.h"

static const struct tt_evidence_item items[TT_EV_COUNT] = {
    [TT_EV_A1] = {"A1", 'A', 9.0,
	"responder is a relay's ORPort or DirPort in relay data valid during the flow, with a "
	"handshake, or without one but with TLS records found mid-stream: tor binds that port "
	"(the resync proves TLS framing only; a TLS service on the relay's address and port at "
	"the same time, e.g. reused or shared hosting, is what A1 assumes away)"},
    [TT_EV_A2] = {"A2", 'A', 5.0,
	"responder is a relay's ORPort or DirPort listed within a day of the flow (address "
	"churn), or valid but no handshake was seen"},
    [TT_EV_A3] = {"A3", 'A', 2.0,
	"responder address is a relay's, on another port: hosts run other services beside a "
	"relay"},
    [TT_EV_A4] = {"A4", 'A', 1.0, "responder port 9001 or 9030, tor's defaults: weak alone"},
    [TT_EV_B1] = {"B1", 'B', 4.0,
	"ClientHello SNI is tor's random www.<base32>.com name (tor never resolves it); "
	"checked: tor 0.4.9 (tornet 2026, every client and relay link), 2022 (tor_bl.pcap, 2 "
	"of 2), 2013 (tor.pcap, 7 of 7)"},
    [TT_EV_B2] = {"B2", 'B', 5.0,
	"ClientHello offers no ALPN and P-224 among only tor's groups: browsers do not; "
	"checked: tor 0.4.9 (tornet 2026), 2022 (tor_bl.pcap, 2 of 2); does not hold in 2013 "
	"(tor.pcap: all 25 named curves offered, as curl and other OpenSSL clients then did)"},
    [TT_EV_B3] = {"B3", 'B', 5.0,
	"ClientHello JA3 or JA4 is in tortrace's versioned table of tor fingerprints "
	"(data/tor-fingerprints.tsv, each entry with its capture and date): a hint, brittle "
	"across OpenSSL versions; checked: tor 0.4.9 client and relay (tornet 2026, 4 and 17 "
	"flows), 2022 (tor_bl.pcap, 2), 2013 (tor.pcap, 7)"},
    [TT_EV_BNEG] = {"B-", 'B', -5.0,
	"ClientHello offers ALPN (h2, http/1.1): tor's never does. Not counted beside the "
	"items of Tor inside another TLS connection (W1, W2, M1, M2): that hello is the "
	"transport's (meek sends a browser's), not Tor's",
	(1u << TT_EV_W1) | (1u << TT_EV_W2) | (1u << TT_EV_M1) | (1u << TT_EV_M2)},
    [TT_EV_C1] = {"C1", 'C', 9.0,
	"certificate is tor's link certificate: random www.<base32>.net subject, .com "
	"issuer, no extensions, midnight validity, 8-byte serial; no CA issues such; "
	"checked: 2013 (tor.pcap, 7 of 7, TLS 1.0); TLS 1.3 (tor 0.4.9) hides it"},
    [TT_EV_D1] = {"D1", 'D', 5.0,
	"client's first record is a VERSIONS cell and the server answers with tor's ~2 KB "
	"VERSIONS+CERTS+AUTH_CHALLENGE+NETINFO bundle; checked: tor 0.4.9 TLS 1.3 (corpus "
	"tornet, 4 client links), 2022 (tor_bl.pcap, 2 of 2); not tor of 2013 (TLS 1.0: a "
	"1.5 KB bundle)"},
    [TT_EV_D2] = {"D2", 'D', 6.0,
	"at least 80% of the records after the handshake, in the first 20, carry whole "
	"cells under the negotiated suite's framing (AEAD 514n + 17/24/16; CBC: IV + MAC + "
	"padding, 514- or 512-byte cells; TLS 1.0 empty fragments skipped); checked: tor "
	"0.4.9 TLS 1.3 (corpus tornet, 4 of 4 client links), 2022 (tor_bl.pcap, 1 of 2), "
	"tor of 2013 TLS 1.0 AES-CBC (tor.pcap, 6 of 7)"},
    [TT_EV_H1] = {"H1", 'H', 9.0,
	"plain HTTP request for a Tor directory document (GET /tor/), or a relay publishing "
	"its descriptor (POST /tor/)"},
    [TT_EV_F1] = {"F1", 'F', 5.5,
	"both first flights look like nothing (random bytes, no protocol start: a printable "
	"start exempts only from 12 bytes on, not the GFW's 6) with the lengths of obfs4's "
	"handshake (client 141-8192 bytes): the fully-encrypted-proxy class, obfs4 among them. "
	"Measured (bench/pt_weight.py): 27 of 27 obfs4 flows, 9 of 2207 non-Tor TCP flows "
	"with a SYN and payload both ways (peers, tornet, accuracy set): "
	"ln(1.0 / 0.0041) = 5.5"},
    [TT_EV_X1] = {"X1", 'X', 0.0,
	"initiator is a Tor exit at the flow's time (exit list or Exit flag): traffic leaving "
	"the Tor network, not Tor's protocol. A relay-data fact, not a likelihood: the "
	"tor-exit-side verdict is exempt from --min-score and the weight is 0"},
    [TT_EV_D3] = {"D3", 'D', 2.3,
	"mid-stream: at least 80 % of at least 6 application-data records in one direction are "
	"whole cells (514n + 17/24/16/9, or AES-CBC framings of TLS 1.0-1.2) among each "
	"direction's first 256 records after resynchronising on TLS record headers; "
	"measured (bench/midstream_burst_weight.py --negatives, cuts at 5-20 s and 10-1000 "
	"packets): 314 of 6836 non-Tor flows where it can fire (0 of 167 in the corpus; 314 "
	"of 6669 real TLS flows recorded by tools/tls_negatives.py: OpenSSL 3.0 via python "
	"ssl and s_client/s_server, GnuTLS 3.7, nginx 1.22 with curl and wget, Node.js 20 "
	"tls/https/http2/WebSocket, Go 1.19 crypto/tls and net/http, Java 17 JSSE; TLS 1.3 and "
	"1.2 GCM/ChaCha20/CBC), mostly TLS 1.2 CBC flows writing 4 KB (under another MAC or "
	"IV size a CBC record of 4096 bytes is 8 cells). Tor links 0.54 of 1501 (ln of 0.54 "
	"over the 95 % bound 0.050); checked: tor 0.4.9 TLS 1.3 (47 fresh tornet runs + "
	"corpus, 1501 links), 2022 (tor_bl.pcap, 1.5 of 2), 2013 TLS 1.0 CBC (tor.pcap + "
	"tor_legacy, 6.4 of 17 cut flows). Not counted beside D4: measured together they are "
	"no stronger than D4 alone (0.489 of the links, bound 6.82)",
	1u << TT_EV_D4},
    [TT_EV_D4] = {"D4", 'D', 7.5,
	"mid-stream: in one direction's first 256 records (at least 16, not all multiples of "
	"16 as an AES-CBC suite pads them), at least 80 % lie in bursts of at most 8 records "
	"whose plaintext (length - 17 or 24 each: TLS 1.3, TLS 1.2 AES-GCM, the framings tor "
	"negotiates) adds up to one or more whole 514-byte cells (tor flushes 32 cells as 4 KB "
	"TLS records that cut cells), with 3 or more record lengths; measured "
	"(bench/midstream_burst_weight.py --negatives): 0 of 5608 non-Tor flows where it can "
	"fire (71 in the corpus, 5537 real TLS flows recorded by tools/tls_negatives.py in "
	"five sets: OpenSSL 3.0, GnuTLS 3.7, nginx 1.22 + curl/wget, Node.js 20 "
	"tls/https/http2/WebSocket, Go 1.19 crypto/tls and net/http, Java 17 JSSE; TLS 1.3 and "
	"1.2 GCM/ChaCha20/CBC; bulk, chunked, echo, streaming, chat, length-prefixed messages, "
	"API calls, video segments, server-sent events, HTTP/2 fan-out, structured "
	"512-16384-byte writes). Its two rules came from held-out sets: trying ChaCha20's 16 "
	"read a TLS 1.2 GCM flow of 2 KiB writes as cells (set 2), then a Go TLS 1.2 CBC flow "
	"fired (set 4, recorded after the first fix); set 5, recorded after the second, "
	"gave 0 of 816. Tor links 0.984 of 1392 (ln of 0.984 over the 95 % bound 0.00053 = "
	"7.52); checked: tor 0.4.9 TLS 1.3 (47 fresh tornet runs + corpus, 1392 links), 2022 "
	"(tor_bl.pcap, 2 of 2); not CBC (2013: 0 of 17). Alone it reaches the 0.5 threshold "
	"(7.5 > ln 999). Beside D4, D3 adds nothing (both together: 0.489 of the links, bound "
	"6.82). Loopback traffic of some stacks does not cover the Internet's diversity "
	"(browsers, CDNs)"},
    [TT_EV_G1] = {"G1", 'G', 3.55,
	"after the fully encrypted first flights, among the first 256 segments each direction "
	"has a full one (>= 1024 B) and at least 8 distinct sizes below its largest, one of "
	"them seen both ways, and those sizes repeat more than chance allows: obfs4 pads each "
	"burst to a length drawn from a per-bridge distribution of 1-100 values, both ends "
	"alike, and tor's cells fill segments. Chance: the probability that sizes drawn "
	"uniformly from their observed range repeat as often is at most 1e-4 (exact birthday "
	"tail). Measured among flows with F1 (bench/pt_weight.py): 26 of 27 obfs4 flows (the "
	"miss has 7 sizes each way); 0 of 9 real non-Tor; 0 of 391 held-out synthetic fully "
	"encrypted flows (tools/synth_fe.py seed 5000) and 0 of 403 of seed 9000; weight from "
	"the least bounded shape, 0 of 17 BitTorrent-MSE-like counted as 0.5 of 18: "
	"ln(0.963 / 0.0278) = 3.55"},
    [TT_EV_FNEG] = {"F-", 'N', -3.3,
	"the first flights are not obfs4's handshake, which each side writes at once and "
	"within 8192 bytes: a flight came in several writes, the reply exceeds 8192 bytes, or "
	"the client sent 1537 bytes (RTMP's C0+C1). Measured among flows with F1 "
	"(bench/pt_weight.py): 0 of 27 obfs4 flows (counted as 0.5 of 28), 202 of 400 non-Tor "
	"(4 of 9 real, 198 of 391 held-out synthetic): ln(0.0179 / 0.505) = -3.3. A ratio given "
	"F1, so it counts in full (group N of its own), not half beside F1: with it, F1 and G1 "
	"together stay a candidate"},
    [TT_EV_S1] = {"S1", 'T', 0.0,
	"a WebRTC data channel without media: one UDP 5-tuple carries ICE checks (STUN "
	"Binding with USERNAME and MESSAGE-INTEGRITY), a DTLS hello, DTLS application data "
	"after it and no RTP/SRTP datagram (RFC 7983 first byte 128-191); Snowflake sends all"
	" its traffic so, a call sends its media as SRTP. Every WebRTC data channel fires it "
	"(file transfer, chat, games, other circumvention tools), so against data channels it"
	" weighs nothing: listed as context. Measured (bench/snowflake_weight.py): 3 of 3 "
	"Snowflake DTLS data flows (corpus transports/snowflake-s1: 2 sessions seen by the "
	"client, session 1 also by its proxy); 7607 of 7649 non-Tor UDP flows with a DTLS "
	"hello (2 of 28 in the corpus peers (nDPI, Zeek), 17 of 17 in set 1, 0 of 16 in set "
	"2, 11 of 11 in set 3, 217 of 217 in set 5, 7360 of 7360 in set 6; the WebRTC "
	"negatives of tools/pt_negatives.sh: set 1 pion data channels, 2 DTLS-SRTP calls of "
	"pion and aiortc, 3 aiortc and GStreamer data channels, 5 pion data channels carrying"
	" TCP tunnels (TLS and HTTP inside), file transfers, chat, echo, game-like and "
	"request/response traffic, 6 7360 short pion data-channel sessions with workloads "
	"drawn at random (Go's TLS 1.2 and 1.3 with HTTP/1.1, HTTP/2, shell-like and feed "
	"traffic inside, per record or through a TCP tunnel; bulk, message streams, "
	"request/response)): ln(1.0 / 0.9958) = 0.00"},
    [TT_EV_S2] = {"S2", 'T', 1.59,
	"S1 with Snowflake's volume: at least 1000 DTLS application-data records and 500 kB "
	"of UDP payload on the 5-tuple (the Snowflake sessions: 7126-8971 records, 4.3-5.2 "
	"MB; thresholds set well below them, not fitted). Large WebRTC transfers and cloud "
	"gaming match. Not counted beside S5: S5 is judged among flows that already have "
	"volume, and S2's non-Tor rate follows how long the negative sessions were made to "
	"last (set 6's 2-7 s give 18 %, set 5's 10-70 s 66 %), a choice rather than a "
	"measurement, so it never decides a verdict. Measured (bench/snowflake_weight.py): 3 "
	"of 3 Snowflake DTLS data flows (corpus transports/snowflake-s1: 2 sessions seen by "
	"the client, session 1 also by its proxy); 1499 of 7649 non-Tor UDP flows with a DTLS"
	" hello (0 of 28 in the corpus peers (nDPI, Zeek), 13 of 17 in set 1, 0 of 16 in set "
	"2, 8 of 11 in set 3, 143 of 217 in set 5, 1335 of 7360 in set 6; the WebRTC "
	"negatives of tools/pt_negatives.sh: set 1 pion data channels, 2 DTLS-SRTP calls of "
	"pion and aiortc, 3 aiortc and GStreamer data channels, 5 pion data channels carrying"
	" TCP tunnels (TLS and HTTP inside), file transfers, chat, echo, game-like and "
	"request/response traffic, 6 7360 short pion data-channel sessions with workloads "
	"drawn at random (Go's TLS 1.2 and 1.3 with HTTP/1.1, HTTP/2, shell-like and feed "
	"traffic inside, per record or through a TCP tunnel; bulk, message streams, "
	"request/response)): ln(1.0 / 0.2036) = 1.59",
	1u << TT_EV_S5},
    [TT_EV_S3] = {"S3", 'S', 0.0,
	"pion/dtls's ServerHello: DTLS 1.2 with extensions renegotiation_info, "
	"extended_master_secret, use_srtp, ec_point_formats in that order and no others "
	"(keyed on the order, not a JA3S hash, which changes with the offered suites). Its "
	"sender is the DTLS server, Snowflake's client (every public client is pion), with "
	"any proxy. Any pion program answering as DTLS server sends it, so against pion's "
	"data channels it weighs nothing: listed as context. Measured "
	"(bench/snowflake_weight.py): 3 of 3 Snowflake DTLS data flows (corpus "
	"transports/snowflake-s1: 2 sessions seen by the client, session 1 also by its "
	"proxy); 7602 of 7649 non-Tor UDP flows with a DTLS hello (0 of 28 in the corpus "
	"peers (nDPI, Zeek), 17 of 17 in set 1, 7 of 16 in set 2, 1 of 11 in set 3, 217 of "
	"217 in set 5, 7360 of 7360 in set 6; the WebRTC negatives of tools/pt_negatives.sh: "
	"set 1 pion data channels, 2 DTLS-SRTP calls of pion and aiortc, 3 aiortc and "
	"GStreamer data channels, 5 pion data channels carrying TCP tunnels (TLS and HTTP "
	"inside), file transfers, chat, echo, game-like and request/response traffic, 6 7360 "
	"short pion data-channel sessions with workloads drawn at random (Go's TLS 1.2 and "
	"1.3 with HTTP/1.1, HTTP/2, shell-like and feed traffic inside, per record or through"
	" a TCP tunnel; bulk, message streams, request/response)): ln(1.0 / 0.9952) = 0.00"},
    [TT_EV_S4] = {"S4", 'S', 0.0,
	"pion/dtls's ClientHello as Snowflake's standalone proxy sends it (2026): suites c02b"
	" c02f c00a c014 c02c c030, extensions 13 65281 10 11 14 23, groups x25519 P-256 "
	"P-384, in order. Its sender is the proxy: browser and extension proxies send "
	"Chrome's or Firefox's hello and it does not fire; any pion DTLS client sends it, so "
	"against pion's data channels it weighs nothing: listed as context; brittle across "
	"pion versions. Measured (bench/snowflake_weight.py): 3 of 3 Snowflake DTLS data "
	"flows (corpus transports/snowflake-s1: 2 sessions seen by the client, session 1 also"
	" by its proxy); 7602 of 7649 non-Tor UDP flows with a DTLS hello (0 of 28 in the "
	"corpus peers (nDPI, Zeek), 17 of 17 in set 1, 7 of 16 in set 2, 1 of 11 in set 3, "
	"217 of 217 in set 5, 7360 of 7360 in set 6; the WebRTC negatives of "
	"tools/pt_negatives.sh: set 1 pion data channels, 2 DTLS-SRTP calls of pion and "
	"aiortc, 3 aiortc and GStreamer data channels, 5 pion data channels carrying TCP "
	"tunnels (TLS and HTTP inside), file transfers, chat, echo, game-like and "
	"request/response traffic, 6 7360 short pion data-channel sessions with workloads "
	"drawn at random (Go's TLS 1.2 and 1.3 with HTTP/1.1, HTTP/2, shell-like and feed "
	"traffic inside, per record or through a TCP tunnel; bulk, message streams, "
	"request/response)): ln(1.0 / 0.9952) = 0.00"},
    [TT_EV_SNEG] = {"S-", 'R', 0.0,
	"RTP/SRTP datagrams (first byte 128-191) on the 5-tuple after its DTLS hello: media, "
	"which Snowflake never sends. A ratio, counted in full in a group of its own. "
	"Measured (bench/snowflake_weight.py): 0 of 3 Snowflake DTLS data flows (corpus "
	"transports/snowflake-s1); 21 of 7649 non-Tor UDP flows with a DTLS hello (5 of 28 in"
	" the corpus peers (nDPI, Zeek), 0 of 17 in set 1, 16 of 16 in set 2, 0 of 11 in set "
	"3, 0 of 217 in set 5, 0 of 7360 in set 6; the WebRTC negatives of "
	"tools/pt_negatives.sh: set 1 pion data channels, 2 DTLS-SRTP calls of pion and "
	"aiortc, 3 aiortc and GStreamer data channels, 5 pion data channels carrying TCP "
	"tunnels (TLS and HTTP inside), file transfers, chat, echo, game-like and "
	"request/response traffic, 6 7360 short pion data-channel sessions with workloads "
	"drawn at random (Go's TLS 1.2 and 1.3 with HTTP/1.1, HTTP/2, shell-like and feed "
	"traffic inside, per record or through a TCP tunnel; bulk, message streams, "
	"request/response)): ln(0.125 / 0.003) comes out positive: 3 Snowflake flows (0 with "
	"media, counted as 0.5 of 4) cannot show media to be rarer in Snowflake than in these"
	" negatives, so its weight is 0 until more Snowflake sessions are measured; it stays "
	"listed"},
    [TT_EV_S5] = {"S5", 'Q', 7.24,
	"Tor's TLS records through Snowflake's Turbo Tunnel framing: of the application-data "
	"records the DTLS server (Snowflake's client) writes, at least 50 over 100 bytes and "
	"a quarter or more of them 624 or 648 + 512 k bytes long (one Tor TLS record of 536 "
	"bytes plus KCP/smux framing, SCTP and DTLS overhead; research 1.4). Snowflake: 51-60"
	" % of 285-427; the largest share among the negatives 11.8 % (6 of 51); the quarter "
	"is set well below Snowflake's, not fitted. It depends on the Snowflake and Tor "
	"versions (framing headers), so it is a dated rule; a program sending data-channel "
	"messages of 572, 596, 1084 or 1108 bytes (those records' SCTP payloads) would fire "
	"it. Measured (bench/snowflake_weight.py): 3 of 3 Snowflake DTLS data flows (corpus "
	"transports/snowflake-s1: 2 sessions seen by the client, session 1 also by its "
	"proxy); 0 of 4170 non-Tor UDP flows where it can fire (the DTLS server wrote at "
	"least 50 application-data records over 100 bytes) (0 of 0 in the corpus peers (nDPI,"
	" Zeek), 0 of 15 in set 1, 0 of 0 in set 2, 0 of 11 in set 3, 0 of 191 in set 5, 0 of"
	" 3953 in set 6; the WebRTC negatives of tools/pt_negatives.sh: set 1 pion data "
	"channels, 2 DTLS-SRTP calls of pion and aiortc, 3 aiortc and GStreamer data "
	"channels, 5 pion data channels carrying TCP tunnels (TLS and HTTP inside), file "
	"transfers, chat, echo, game-like and request/response traffic, 6 7360 short pion "
	"data-channel sessions with workloads drawn at random (Go's TLS 1.2 and 1.3 with "
	"HTTP/1.1, HTTP/2, shell-like and feed traffic inside, per record or through a TCP "
	"tunnel; bulk, message streams, request/response)): ln(1.0 / 0.000718) = 7.24"},
    [TT_EV_W1] = {"W1", 'W', 6.83,
	"Tor's records one layer down: of a TLS connection's first 64 client application-data "
	"records, at least 8 of 65-8192 bytes and at least half of them 514 k + outer "
	"overhead + 22 bytes (a Tor TLS 1.3 record of k cells, header 5 + 17, inside the "
	"outer record: WebTunnel's raw stream after its WebSocket upgrade, or any TLS tunnel "
	"carrying Tor). The client direction: servers write bulk data in their own chunks, "
	"which cut cells. Needs the outer handshake (an AEAD suite) and a Tor that does not "
	"pad its records. 1 of 1 WebTunnel connection (corpus transports/webtunnel-s1: 58 of "
	"62 records); 0 of 2759 non-Tor flows where it can fire, measured "
	"(bench/tunnel_weight.py) against every non-Tor TLS flow the follower read: the "
	"corpus (peers, and the non-Tor flows of the tornet and transports captures), the "
	"long-polling and WebSocket captures of tools/pt_negatives.sh (set 4: Go, Socket.IO, "
	"nginx + Node ws and Python websockets, two WebSocket tunnels carrying inner TLS) and "
	"the five sets of tools/tls_negatives.py (OpenSSL, GnuTLS, nginx, Node.js, Go, Java; "
	"chat, echo, streaming, API calls, long-lived connections); loopback lab stacks, not "
	"the Internet's diversity: ln(1.0 / 0.00109) = 6.83"},
    [TT_EV_W2] = {"W2", 'W', 7.7,
	"Tor's link handshake one layer down: among a TLS connection's first 16 client "
	"application-data records, one of 517 bytes + outer overhead (Tor's ClientHello, "
	"padded to 512 bytes by OpenSSL) followed within 4 records by one of 33 + outer "
	"overhead (its VERSIONS cell, 11 bytes, in a TLS 1.3 record): D1's landmark inside a "
	"tunnel. Needs the connection's start. 1 of 1 WebTunnel connection (corpus "
	"transports/webtunnel-s1); 0 of 6645 non-Tor flows with a client record of 65-8192 "
	"bytes, measured (bench/tunnel_weight.py) against every non-Tor TLS flow the follower "
	"read: the corpus (peers, and the non-Tor flows of the tornet and transports "
	"captures), the long-polling and WebSocket captures of tools/pt_negatives.sh (set 4: "
	"Go, Socket.IO, nginx + Node ws and Python websockets, two WebSocket tunnels carrying "
	"inner TLS) and the five sets of tools/tls_negatives.py (OpenSSL, GnuTLS, nginx, "
	"Node.js, Go, Java; chat, echo, streaming, API calls, long-lived connections); "
	"loopback lab stacks, not the Internet's diversity: ln(1.0 / 0.00045) = 7.70. Beside "
	"W1 (group W) it counts half"},
    [TT_EV_M1] = {"M1", 'M', 6.51,
	"meek's idle back-off: among the client's records of one length (seen at least 5 "
	"times: the empty poll), 3 or more successive waits growing x1.45-1.55, from at least "
	"80 ms. The wait is timed from the server's last payload to the next poll, so it is "
	"meek's timer without the round trip (meek-client and meek_lite: 100 ms, x1.5, at "
	"most 5 s, no jitter; the corpus's 204 steps are x1.483-1.502). Another poller "
	"backing off by x1.5 without jitter would fire it. 8 of 10 meek connections with a "
	"repeated length (corpus transports/meek-s1; the 15 short connections carry one "
	"response each); 0 of 2508 non-Tor flows with a repeated length, measured "
	"(bench/tunnel_weight.py) against every non-Tor TLS flow the follower read: the "
	"corpus (peers, and the non-Tor flows of the tornet and transports captures), the "
	"long-polling and WebSocket captures of tools/pt_negatives.sh (set 4: Go, Socket.IO, "
	"nginx + Node ws and Python websockets, two WebSocket tunnels carrying inner TLS) and "
	"the five sets of tools/tls_negatives.py (OpenSSL, GnuTLS, nginx, Node.js, Go, Java; "
	"chat, echo, streaming, API calls, long-lived connections); loopback lab stacks, not "
	"the Internet's diversity: ln(0.8 / 0.00119) = 6.51"},
    [TT_EV_M2] = {"M2", 'W', 4.95,
	"meek's POST bodies are Tor's records: with H the client's most frequent record "
	"length (the empty poll, at least 5 times), at least half of at least 5 longer "
	"records (over H + 64) are H plus the Content-Length's extra digits plus 514 k + 22 "
	"bytes (one Tor TLS 1.3 record of k cells as the body). Depends on HTTP/1.1 with the "
	"body in the request's record; HTTP/2 through a CDN changes H. 10 of 10 meek "
	"connections where it can fire (corpus transports/meek-s1); 0 of 421 non-Tor flows "
	"where it can fire, measured (bench/tunnel_weight.py) against every non-Tor TLS flow "
	"the follower read: the corpus (peers, and the non-Tor flows of the tornet and "
	"transports captures), the long-polling and WebSocket captures of "
	"tools/pt_negatives.sh (set 4: Go, Socket.IO, nginx + Node ws and Python websockets, "
	"two WebSocket tunnels carrying inner TLS) and the five sets of "
	"tools/tls_negatives.py (OpenSSL, GnuTLS, nginx, Node.js, Go, Java; chat, echo, "
	"streaming, API calls, long-lived connections); loopback lab stacks, not the "
	"Internet's diversity: ln(1.0 / 0.00709) = 4.95. Group W: nested Tor records, as W1"},
};

static const char *const verdict_names[TT_VERDICT_COUNT] = {
    [TT_VERDICT_NONE] = "none",
    [TT_VERDICT_TOR] = "tor",
    [TT_VERDICT_TOR_BRIDGE] = "tor-bridge",
    [TT_VERDICT_TOR_PT] = "tor-pt",
    [TT_VERDICT_TOR_DIR] = "tor-dir",
    [TT_VERDICT_TOR_EXIT_SIDE] = "tor-exit-side",
    [TT_VERDICT_TOR_SNOWFLAKE] = "tor-snowflake",
    [TT_VERDICT_TOR_MEEK] = "tor-meek",
    [TT_VERDICT_TOR_WEBTUNNEL] = "tor-webtunnel",
};

const struct tt_evidence_item *tt_evidence_table(unsigned *n)
{
	*n = TT_EV_COUNT;
	return items;
}

const char *tt_verdict_name(unsigned verdict)
{
	return verdict < TT_VERDICT_COUNT ? verdict_names[verdict] : "none";
}
