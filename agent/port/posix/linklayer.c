/*
 * Link-layer decoding for ward-agent (see linklayer.h). Owns nothing; called from the capture loop
 * only. Every read is checked against caplen before it happens.
 */
#include "linklayer.h"

#include <pcap/pcap.h>

/* LINKTYPE_RAW as written in capture files; libpcap maps it to DLT_RAW, but accept both. */
#define WARD_LINKTYPE_RAW 101

#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86DDu
#define ETHERTYPE_VLAN 0x8100u /* 802.1Q */
#define ETHERTYPE_QINQ 0x88A8u /* 802.1ad */
#define ETHERTYPE_QINQ_OLD 0x9100u
#define VLAN_MAX_DEPTH 4 /* more stacked tags than this is not a frame we believe */

#define ETH_HDR_LEN 14u
#define SLL_HDR_LEN 16u
#define SLL2_HDR_LEN 20u
#define NULL_HDR_LEN 4u

static unsigned rd16(const uint8_t *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t rd32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint32_t rd32le(const uint8_t *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static int is_raw_dlt(int dlt)
{
    if (dlt == DLT_RAW || dlt == WARD_LINKTYPE_RAW) {
        return 1;
    }
#ifdef DLT_IPV4
    if (dlt == DLT_IPV4 || dlt == DLT_IPV6) {
        return 1;
    }
#endif
    return 0;
}

int ward_posix_dlt_supported(int dlt)
{
    return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 || dlt == DLT_NULL ||
           dlt == DLT_LOOP || is_raw_dlt(dlt);
}

/*
 * The IP packet starts at frame + off. version_hint is what the link layer said (0: nothing).
 * Trailing link-layer padding (Ethernet pads to 60 bytes) is cut off using the IP length, so that
 * the core sees exactly the IP packet; a length beyond the capture is left alone (snap length).
 */
static ward_posix_l2_result_t finish_ip(const uint8_t *frame, size_t caplen, size_t off,
                                        int version_hint, int pkttype, ward_posix_l3_t *out)
{
    const uint8_t *ip;
    size_t avail;
    int version;

    if (off >= caplen) {
        return WARD_L2_TRUNCATED;
    }
    ip = frame + off;
    avail = caplen - off;
    version = ip[0] >> 4;
    if (version == 4 && avail >= 20) {
        size_t total = rd16(ip + 2);
        if (total >= 20 && total < avail) {
            avail = total;
        }
    } else if (version == 6 && avail >= 40) {
        size_t total = 40u + rd16(ip + 4);
        if (rd16(ip + 4) != 0 && total < avail) { /* 0 = jumbogram: length is elsewhere */
            avail = total;
        }
    }
    out->ip = ip;
    out->len = avail;
    out->version = (version == 4 || version == 6) ? version : version_hint;
    out->pkttype = pkttype;
    return WARD_L2_IP;
}

/*
 * type is an ethertype and off the first byte after the header that carried it. Skip 802.1Q/802.1ad
 * tags (each: TCI, then the next ethertype), then require IPv4 or IPv6.
 */
static ward_posix_l2_result_t after_ethertype(const uint8_t *frame, size_t caplen, unsigned type,
                                              size_t off, int pkttype, ward_posix_l3_t *out)
{
    int depth = 0;

    while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) {
        if (++depth > VLAN_MAX_DEPTH) {
            return WARD_L2_NOT_IP;
        }
        if (caplen < off + 4) {
            return WARD_L2_TRUNCATED;
        }
        type = rd16(frame + off + 2);
        off += 4;
    }
    if (type == ETHERTYPE_IPV4) {
        return finish_ip(frame, caplen, off, 4, pkttype, out);
    }
    if (type == ETHERTYPE_IPV6) {
        return finish_ip(frame, caplen, off, 6, pkttype, out);
    }
    return WARD_L2_NOT_IP;
}

/* BSD loopback: a 4-byte address family, in the capturing host's byte order (DLT_NULL) or in
 * network byte order (DLT_LOOP). AF_INET6 differs between systems; these are all of them. */
static int null_family_version(uint32_t af)
{
    switch (af) {
    case 2:
        return 4;
    case 10: /* Linux */
    case 23: /* Windows */
    case 24: /* NetBSD, OpenBSD */
    case 28: /* FreeBSD, DragonFly */
    case 30: /* macOS */
        return 6;
    default:
        return 0;
    }
}

ward_posix_l2_result_t ward_posix_l2_decode(int dlt, const uint8_t *frame, size_t caplen,
                                            ward_posix_l3_t *out)
{
    if (frame == NULL || out == NULL) {
        return WARD_L2_TRUNCATED;
    }
    if (dlt == DLT_EN10MB) {
        /* destination (6), source (6), ethertype (2) */
        if (caplen < ETH_HDR_LEN) {
            return WARD_L2_TRUNCATED;
        }
        return after_ethertype(frame, caplen, rd16(frame + 12), ETH_HDR_LEN, WARD_PKT_UNKNOWN, out);
    }
    if (dlt == DLT_LINUX_SLL) {
        /* packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2) */
        if (caplen < SLL_HDR_LEN) {
            return WARD_L2_TRUNCATED;
        }
        return after_ethertype(frame, caplen, rd16(frame + 14), SLL_HDR_LEN, (int)rd16(frame), out);
    }
    if (dlt == DLT_LINUX_SLL2) {
        /* protocol (2), reserved (2), interface index (4), ARPHRD type (2), packet type (1),
         * address length (1), address (8) */
        if (caplen < SLL2_HDR_LEN) {
            return WARD_L2_TRUNCATED;
        }
        return after_ethertype(frame, caplen, rd16(frame), SLL2_HDR_LEN, frame[10], out);
    }
    if (dlt == DLT_NULL || dlt == DLT_LOOP) {
        int v;
        if (caplen < NULL_HDR_LEN) {
            return WARD_L2_TRUNCATED;
        }
        if (dlt == DLT_LOOP) {
            v = null_family_version(rd32be(frame));
        } else {
            /* Host byte order of the machine that captured: try both. */
            v = null_family_version(rd32le(frame));
            if (v == 0) {
                v = null_family_version(rd32be(frame));
            }
        }
        if (v == 0) {
            return WARD_L2_NOT_IP;
        }
        return finish_ip(frame, caplen, NULL_HDR_LEN, v, WARD_PKT_UNKNOWN, out);
    }
    if (is_raw_dlt(dlt)) {
        if (caplen < 1) {
            return WARD_L2_TRUNCATED;
        }
        return finish_ip(frame, caplen, 0, 0, WARD_PKT_UNKNOWN, out);
    }
    return WARD_L2_BAD_DLT;
}

int ward_posix_ip_addrs(const ward_posix_l3_t *l3, uint8_t src[16], uint8_t dst[16])
{
    const uint8_t *ip = l3->ip;
    int version = l3->len >= 1 ? ip[0] >> 4 : 0;
    int i;

    for (i = 0; i < 16; i++) {
        src[i] = 0;
        dst[i] = 0;
    }
    if (version == 4 && l3->len >= 20) {
        for (i = 0; i < 4; i++) {
            src[i] = ip[12 + i];
            dst[i] = ip[16 + i];
        }
        return 4;
    }
    if (version == 6 && l3->len >= 40) {
        for (i = 0; i < 16; i++) {
            src[i] = ip[8 + i];
            dst[i] = ip[24 + i];
        }
        return 6;
    }
    return 0;
}
