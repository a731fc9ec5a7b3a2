/*
 * Link-layer decoding for ward-agent: from one captured frame (any link type libpcap hands us that
 * ward supports) to the IP packet inside it, plus, for Linux cooked captures, the kernel's packet
 * type (which says whether the host sent or received the frame).
 *
 * Pure functions over caller-owned bytes: no state, no allocation, every read bounds-checked.
 */
#ifndef WARD_POSIX_LINKLAYER_H
#define WARD_POSIX_LINKLAYER_H

#include <stddef.h>
#include <stdint.h>

/** Kernel packet types of Linux cooked captures (PACKET_* in <linux/if_packet.h>). */
enum ward_posix_pkttype {
    WARD_PKT_UNKNOWN = -1,  /**< the link type carries no packet type */
    WARD_PKT_HOST = 0,      /**< addressed to this host */
    WARD_PKT_BROADCAST = 1, /**< link-layer broadcast */
    WARD_PKT_MULTICAST = 2, /**< link-layer multicast */
    WARD_PKT_OTHERHOST = 3, /**< addressed to another host (promiscuous capture) */
    WARD_PKT_OUTGOING = 4   /**< sent by this host */
};

/** What ward_posix_l2_decode() found. */
typedef enum ward_posix_l2_result {
    WARD_L2_IP = 0,        /**< an IPv4 or IPv6 packet: see the ward_posix_l3_t */
    WARD_L2_NOT_IP = 1,    /**< a well-formed frame that carries something else (ARP, LLDP, ...) */
    WARD_L2_TRUNCATED = 2, /**< the frame ends inside its link-layer header */
    WARD_L2_BAD_DLT = 3    /**< a link type ward-agent does not decode */
} ward_posix_l2_result_t;

/** The IP packet inside a frame. */
typedef struct ward_posix_l3 {
    const uint8_t *ip; /**< first byte of the IP header, inside the frame */
    size_t len;  /**< bytes of the packet: trimmed to the IP length when the frame has padding */
    int version; /**< 4 or 6 from the link layer's protocol field or the IP header; 0 if unsure */
    int pkttype; /**< enum ward_posix_pkttype */
} ward_posix_l3_t;

/** Non-zero when ward_posix_l2_decode() handles this libpcap link type (DLT_*). */
int ward_posix_dlt_supported(int dlt);

/**
 * Find the IP packet inside one captured frame.
 * @param dlt    the capture's link type (pcap_datalink())
 * @param frame  the captured bytes
 * @param caplen number of bytes captured
 * @param out    filled when the result is WARD_L2_IP
 */
ward_posix_l2_result_t ward_posix_l2_decode(int dlt, const uint8_t *frame, size_t caplen,
                                            ward_posix_l3_t *out);

/**
 * Read the source and destination addresses of an IP packet found by ward_posix_l2_decode().
 * @param src, dst 16 bytes each; IPv4 addresses fill the first 4
 * @return 4 or 6 (the IP version), or 0 when the packet is too short or not IPv4/IPv6
 */
int ward_posix_ip_addrs(const ward_posix_l3_t *l3, uint8_t src[16], uint8_t dst[16]);

#endif /* WARD_POSIX_LINKLAYER_H */
