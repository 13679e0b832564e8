/*
 * reply.h - packets drover itself sends back to a client: ICMP fragmentation
 * needed, TCP reset, ICMP unreachable. Pure: no globals, no I/O.
 */
#ifndef DROVER_REPLY_H
#define DROVER_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* Room for the largest reply: IP + ICMP headers + a 548-byte quote (576 in all). */
#define REPLY_MAX_LEN 576

/*
 * Whether a host may answer the packet pi describes with an ICMP error or a
 * TCP reset at all (RFC 1122 3.2.2): false for an ICMP error (no error about
 * an error, so two hosts never trade errors forever), for a fragment other
 * than the first (it carries no header to quote), for a source that is not
 * one host (0/8, 127/8, multicast, reserved, broadcast) and for a multicast or
 * broadcast destination. The budget of replies is the caller's.
 */
bool reply_may_answer(const struct packet_info *pi);

/*
 * ICMP type 3 code 4 (fragmentation needed) for pkt, carrying next-hop MTU
 * mtu; ICMP header and quote only (the kernel adds the IP header: raw ICMP
 * socket). The quote is the offending packet's first bytes, at most
 * REPLY_MAX_LEN - 28. Returns the length written, 0 if cap is too small.
 */
size_t reply_frag_needed(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len,
			 uint16_t mtu);

/*
 * ICMP type 3 with the given code for pkt, same layout as reply_frag_needed.
 */
size_t reply_icmp_unreachable(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len,
			      uint8_t code);

/*
 * ICMP type 3 code 3 (port unreachable) for the UDP datagram pkt, same
 * layout as reply_frag_needed: what a host sends when nobody listens on the
 * datagram's port (RFC 792, RFC 1122 3.2.2.1). The client's stack matches it
 * to its socket by the quoted IP and UDP headers and fails the socket with
 * ECONNREFUSED; that is what makes a browser give up QUIC at once.
 */
size_t reply_port_unreachable(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len);

/*
 * A complete IPv4 + TCP RST answering the TCP packet described by pi (as if
 * from its destination): if the packet had ACK, seq = its ack; otherwise
 * seq 0 and ACK of its seq + segment length (+1 for SYN, +1 for FIN).
 * TTL 64, checksums filled. Returns the length (40), 0 if not TCP with ports
 * or the packet itself is a RST.
 */
size_t reply_tcp_reset(uint8_t *out, size_t cap, const struct packet_info *pi);

#endif
