/* Helpers for the unit tests: byte buffers, frame and capture builders, temp files. */
#ifndef TT_TESTS_TESTUTIL_H
#define TT_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tbuf {
	uint8_t *p;
	size_t n, cap;
};

void tb_put(struct tbuf *b, const void *data, size_t n);
void tb_u8(struct tbuf *b, uint8_t v);
void tb_be16(struct tbuf *b, uint16_t v);
void tb_be32(struct tbuf *b, uint32_t v);
/* 16/32/64-bit in host order, or swapped when is_swapped */
void tb_h16(struct tbuf *b, uint16_t v, bool is_swapped);
void tb_h32(struct tbuf *b, uint32_t v, bool is_swapped);
void tb_h64(struct tbuf *b, uint64_t v, bool is_swapped);
void tb_free(struct tbuf *b);

/* An IPv4 (or IPv6 when is_v6) TCP/UDP packet, starting at the IP header. src/dst are
 * the last byte of 10.0.0.x / fd00::x. flags: TCP flags. */
struct tpkt {
	bool is_v6;
	uint8_t proto; /* 6 or 17 */
	uint8_t src, dst;
	uint16_t sport, dport;
	uint8_t flags;
	uint32_t seq;
	uint16_t payload; /* bytes of payload (filled with 'x') */
	const char *data; /* or this payload, if set */
};
void tb_ip(struct tbuf *b, const struct tpkt *p);
/* Ethernet header with optional 802.1Q tags (n_vlans), then the packet. */
void tb_eth(struct tbuf *b, uint16_t ethertype, int n_vlans);

/* Classic pcap. magic: 0xa1b2c3d4 (µs) or 0xa1b23c4d (ns). */
void tb_pcap_header(
    struct tbuf *b, uint32_t magic, uint32_t linktype, uint32_t snaplen, bool is_swapped);
void tb_pcap_record(struct tbuf *b, uint32_t sec, uint32_t frac, const struct tbuf *frame,
    uint32_t wirelen, bool is_swapped);

/* pcapng blocks. */
void tb_ng_shb(struct tbuf *b, bool is_swapped);
void tb_ng_idb(struct tbuf *b, uint16_t linktype, uint32_t snaplen, int tsresol,
    bool is_swapped); /* tsresol < 0: no option */
void tb_ng_epb(
    struct tbuf *b, uint32_t ifid, uint64_t ts, const struct tbuf *frame, bool is_swapped);
void tb_ng_spb(struct tbuf *b, const struct tbuf *frame, bool is_swapped);
void tb_ng_block(struct tbuf *b, uint32_t type, const void *body, size_t n, bool is_swapped);

/* A fresh temporary directory (removed by the test's fini or left in /tmp). */
char *tt_test_tmpdir(void);
/* Write b to dir/name; returns the malloc()ed path. */
char *tt_test_write(const char *dir, const char *name, const void *data, size_t n);
/* Read a whole file (NUL-terminated); NULL if missing. */
char *tt_test_slurp(const char *path, size_t *n);
void tt_test_rmrf(const char *dir);

#endif
