/*
 * IP packet parser for the packet hook: IPv4 (options, fragments), IPv6 (extension-header chain,
 * fragments), then TCP, UDP, ICMP and ICMPv6 far enough to key a flow.
 *
 * Untrusted input: every read is checked against two limits. `cap_end` is what the caller captured
 * (a capture may stop at a snap length); `ip_end` is what the IP header says the packet is. A
 * header that the IP length itself cannot hold is malformed (BAD_IHL, EXT_CHAIN or BAD_L4); one
 * the IP length holds but the capture cut is TRUNCATED. Bytes are always counted from the IP
 * length, so a snap length does not shrink the byte counts. Owns no state; runs in the hook's
 * context, outside the critical section.
 */
#include <string.h>

#include "agent_internal.h"

#define IP6_HDR_LEN 40u
#define IP4_HDR_MIN 20u

/* IPv6 extension headers walked to reach the transport header. */
#define NH_HOPOPTS 0u
#define NH_ROUTING 43u
#define NH_FRAGMENT 44u
#define NH_AH 51u
#define NH_DSTOPTS 60u

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

/*
 * The transport header at packet[off]: ports, ICMP type/code, TCP flags. `ip_end` and `cap_end`
 * are as in the file comment. Only the bytes needed are required in the capture (ports and flags,
 * not a whole TCP header), but the IP length must hold the protocol's minimum header.
 */
static ward_status_t parse_l4(const uint8_t *p, size_t off, size_t ip_end, size_t cap_end,
                              ward__pkt_t *pk, int *reason)
{
    ward_status_t st = WARD_OK;
    size_t need_ip;  /* smallest valid header of the protocol */
    size_t need_cap; /* bytes this parser reads */
    unsigned doff;

    switch (pk->proto) {
    case WARD_IPPROTO_TCP:
        need_ip = 20;
        need_cap = 14;
        break;
    case WARD_IPPROTO_UDP:
        need_ip = 8;
        need_cap = 4;
        break;
    case WARD_IPPROTO_ICMP:
    case WARD_IPPROTO_ICMPV6:
        need_ip = 4; /* type, code, checksum */
        need_cap = 2;
        break;
    default:
        need_ip = 0; /* other protocols are keyed by number only: nothing to read */
        need_cap = 0;
        break;
    }

    if (off > ip_end || ip_end - off < need_ip) {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_BAD_L4;
    } else if (off > cap_end || cap_end - off < need_cap) {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_TRUNCATED;
    } else if (pk->proto == WARD_IPPROTO_TCP) {
        doff = (unsigned)(p[off + 12] >> 4);
        if (doff < 5u || (size_t)doff * 4u > ip_end - off) {
            st = WARD_E_MALFORMED;
            *reason = WARD_MF_BAD_L4;
        } else {
            pk->sport = rd16(p + off);
            pk->dport = rd16(p + off + 2);
            pk->tcp_flags = p[off + 13];
        }
    } else if (pk->proto == WARD_IPPROTO_UDP) {
        pk->sport = rd16(p + off);
        pk->dport = rd16(p + off + 2);
    } else if (pk->proto == WARD_IPPROTO_ICMP || pk->proto == WARD_IPPROTO_ICMPV6) {
        pk->dport = rd16(p + off); /* type * 256 + code */
    }
    return st;
}

static ward_status_t parse_ipv4(const uint8_t *p, size_t len, ward__pkt_t *pk, int *reason)
{
    ward_status_t st = WARD_OK;
    size_t ihl;
    size_t total;
    size_t ip_end;
    size_t cap_end;

    if (len < IP4_HDR_MIN) {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_TRUNCATED;
    } else {
        ihl = (size_t)(p[0] & 0x0fu) * 4u;
        total = rd16(p + 2);
        if (ihl < IP4_HDR_MIN || ihl > total) {
            st = WARD_E_MALFORMED;
            *reason = WARD_MF_BAD_IHL;
        } else if (ihl > len) {
            st = WARD_E_MALFORMED; /* options cut by the capture */
            *reason = WARD_MF_TRUNCATED;
        } else {
            pk->family = 4;
            pk->ip_len = (uint32_t)total;
            pk->proto = p[9];
            pk->src = p + 12;
            pk->dst = p + 16;
            ip_end = total;
            /* Trailing bytes past the IP length (link padding) are not the packet's. */
            cap_end = len < total ? len : total;
            if ((rd16(p + 6) & 0x1fffu) != 0) {
                /* A later fragment: its first bytes are payload, not a transport header. */
                pk->later_fragment = 1;
            } else {
                st = parse_l4(p, ihl, ip_end, cap_end, pk, reason);
            }
        }
    }
    return st;
}

static ward_status_t parse_ipv6(const uint8_t *p, size_t len, ward__pkt_t *pk, int *reason)
{
    ward_status_t st = WARD_OK;
    size_t ip_end = 0;
    size_t cap_end = 0;
    size_t off = IP6_HDR_LEN;
    size_t hlen;
    unsigned nh = 0;
    unsigned walked = 0;
    int done = 0;

    if (len < IP6_HDR_LEN) {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_TRUNCATED;
        done = 1;
    } else {
        pk->family = 6;
        ip_end = IP6_HDR_LEN + (size_t)rd16(p + 4);
        /* A jumbogram (payload length 0, RFC 2675) is not expected on the devices ward watches;
         * its headers then lie outside the IP length and it counts as malformed. */
        pk->ip_len = (uint32_t)ip_end;
        cap_end = len < ip_end ? len : ip_end;
        pk->src = p + 8;
        pk->dst = p + 24;
        nh = p[6];
    }

    /* The chain is walked forward only, at most WARD_IPV6_EXT_MAX headers: a chain that repeats
     * headers or never ends costs a fixed bound, then counts as malformed. */
    while (!done) {
        if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_FRAGMENT && nh != NH_AH &&
            nh != NH_DSTOPTS) {
            done = 1;
        } else if (walked >= WARD_IPV6_EXT_MAX || (nh == NH_HOPOPTS && walked > 0)) {
            /* Hop-by-hop options may only follow the IPv6 header (RFC 8200, 4.1). */
            st = WARD_E_MALFORMED;
            *reason = WARD_MF_EXT_CHAIN;
            done = 1;
        } else if (off > ip_end || ip_end - off < 8u) {
            st = WARD_E_MALFORMED; /* every extension header is at least 8 bytes */
            *reason = WARD_MF_EXT_CHAIN;
            done = 1;
        } else if (off > cap_end || cap_end - off < (nh == NH_FRAGMENT ? 4u : 2u)) {
            st = WARD_E_MALFORMED;
            *reason = WARD_MF_TRUNCATED;
            done = 1;
        } else {
            if (nh == NH_FRAGMENT) {
                hlen = 8;
            } else if (nh == NH_AH) {
                hlen = ((size_t)p[off + 1] + 2u) * 4u;
            } else {
                hlen = ((size_t)p[off + 1] + 1u) * 8u;
            }
            if (hlen > ip_end - off) {
                st = WARD_E_MALFORMED;
                *reason = WARD_MF_EXT_CHAIN;
                done = 1;
            } else if (nh == NH_FRAGMENT && (rd16(p + off + 2) & 0xfff8u) != 0) {
                pk->proto = p[off];
                pk->later_fragment = 1;
                done = 1;
            } else {
                nh = p[off];
                off += hlen;
                walked++;
            }
        }
    }

    if (st == WARD_OK && len >= IP6_HDR_LEN && !pk->later_fragment) {
        pk->proto = (uint8_t)nh;
        st = parse_l4(p, off, ip_end, cap_end, pk, reason);
    }
    return st;
}

ward_status_t ward__packet_parse(const uint8_t *packet, size_t len, ward__pkt_t *pk, int *reason)
{
    ward_status_t st;

    memset(pk, 0, sizeof *pk);
    if (len < 1u) {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_TRUNCATED;
    } else if ((packet[0] >> 4) == 4u) {
        st = parse_ipv4(packet, len, pk, reason);
    } else if ((packet[0] >> 4) == 6u) {
        st = parse_ipv6(packet, len, pk, reason);
    } else {
        st = WARD_E_MALFORMED;
        *reason = WARD_MF_BAD_VERSION;
    }
    return st;
}
