/*
 * quic.h - what becomes of a client's QUIC datagram (UDP to port 443, the
 * port HTTP/3 uses): quic_policy decides, the packet threads act and count.
 * Pure: no globals, no I/O.
 *
 * QUIC carries web traffic the proxies never see, so a filtering appliance
 * refuses it by default: with reject the client gets an ICMP (ICMPv6) port
 * unreachable at once and the browser falls back to HTTP over TCP, which
 * goes through the proxies; with drop it waits for its QUIC attempt to time
 * out first.
 */
#ifndef DROVER_QUIC_H
#define DROVER_QUIC_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "ratelimit.h"
#include "settings.h"

/* The UDP destination port of HTTP/3 (RFC 9114 3.1: the port of https). */
#define QUIC_PORT 443

/* What becomes of one datagram, with the counters each outcome moves. */
enum quic_action {
	QUIC_ACTION_PASS,   /* forwarded unfiltered: quic_passed */
	QUIC_ACTION_DROP,   /* dropped silently: quic_dropped */
	QUIC_ACTION_REJECT, /* dropped, port unreachable sent: quic_rejected, quic_reject_sent */
	QUIC_ACTION_REJECT_UNANSWERED, /* dropped, no reply allowed (RFC 1122): quic_rejected,
					  not_answered */
	QUIC_ACTION_REJECT_LIMITED,    /* dropped, the bucket is empty: quic_rejected,
					  quic_reject_rate_limited */
};

/* Whether a parsed packet is a QUIC datagram: UDP with ports, to QUIC_PORT. */
static inline bool quic_is_datagram(uint8_t protocol, bool has_ports, uint16_t dport)
{
	return protocol == IPPROTO_UDP && has_ports && dport == QUIC_PORT;
}

/*
 * The action for a client's QUIC datagram under policy. may_answer: whether
 * RFC 1122 allows any reply to it (reply_may_answer, reply6_may_answer).
 * Under reject a reply takes a token from bucket (rate a second, at now_ms);
 * a datagram that may not be answered takes none. The caller sends the
 * reply for QUIC_ACTION_REJECT and drops the datagram for every action but
 * QUIC_ACTION_PASS.
 */
enum quic_action quic_decide(enum quic_policy policy, bool may_answer, struct ratelimit *bucket,
			     uint64_t now_ms, uint32_t rate);

#endif
