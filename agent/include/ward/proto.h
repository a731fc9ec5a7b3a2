/*
 * ward wire protocol, version 1: the one definition of every CBOR key, position and enum that the
 * agent writes and the service reads. docs/protocol.md is the prose contract; this header is its
 * machine form, shared by agent/ and service/ (as lwIP shares lwip/prot/). Both sides include it,
 * so a key can never mean one thing on the device and another in the service.
 *
 * Compatibility rules (docs/protocol.md, "Versioning"):
 *  - Numbers here are append-only. A key, position or enum value, once released, keeps its meaning.
 *  - A minor version adds optional map keys, optional trailing array positions or enum values;
 *    a reader ignores map keys it does not know and array positions past those it knows.
 *  - A major version may break anything; it changes the topic prefix (ward/v2/...).
 *
 * C99, no dependencies: this header is part of the agent core.
 */
#ifndef WARD_PROTO_H
#define WARD_PROTO_H

/* ---- Versions and topics ------------------------------------------------------------------- */

#define WARD_PROTO_MAJOR 1
#define WARD_PROTO_MINOR 0

/** Every topic starts with this prefix, followed by the device id and a leaf. */
#define WARD_TOPIC_PREFIX "ward/v1/"
#define WARD_TOPIC_REPORT "report" /**< device -> service, QoS 1, not retained */
#define WARD_TOPIC_CONFIG "config" /**< service -> device, QoS 1, retained */
#define WARD_TOPIC_STATUS "status" /**< device last will and birth, QoS 1, retained */

/** A device id is 1..WARD_DEVICE_ID_MAX characters of [A-Za-z0-9._-]. */
#define WARD_DEVICE_ID_MAX 64

/* ---- Report: top-level map keys (CBOR map, unsigned integer keys) --------------------------- */

enum ward_report_key {
    WARD_RK_VERSION = 0,       /**< array [major uint, minor uint]; required */
    WARD_RK_DEVICE_ID = 1,     /**< tstr, the device id; must equal the topic's id; required */
    WARD_RK_AGENT_VERSION = 2, /**< tstr, agent version "MAJOR.MINOR.PATCH"; required */
    WARD_RK_BOOT_ID = 3,       /**< uint (32 bit), random per boot; required */
    WARD_RK_SEQ = 4,           /**< uint, report number, monotonic per boot, shared by parts; required */
    WARD_RK_PERIOD_START = 5,  /**< uint, ms: start of the oldest data in the report; required */
    WARD_RK_PERIOD_END = 6,    /**< uint, ms: end of the period (time of encoding); required */
    WARD_RK_PART = 7,          /**< array [index uint (0-based), count uint]; absent = [0, 1] */
    WARD_RK_TIME_BASE = 8,     /**< uint, enum ward_time_base; absent = WARD_TIME_UNIX */
    WARD_RK_INTERVAL = 9,      /**< uint, s: report interval in force */
    WARD_RK_CONFIG_REV = 10,   /**< uint, revision of the config in force; absent = 0 (built-in) */
    WARD_RK_PRIORITY = 11,     /**< bool, true: sent at once for an on-device detection */

    WARD_RK_FLOWS = 16,        /**< array of flow arrays (enum ward_flow_pos) */
    WARD_RK_OVERFLOW = 17,     /**< array of overflow arrays (enum ward_overflow_pos) */
    WARD_RK_LOCAL_ADDRS = 18,  /**< array of bstr (4 or 16 bytes): the device's own addresses */
    WARD_RK_LISTENING = 19,    /**< array of listening arrays (enum ward_listen_pos) */
    WARD_RK_SYSINFO = 20,      /**< map, keys enum ward_sysinfo_key */
    WARD_RK_COUNTERS = 21,     /**< map uint (enum ward_counter) -> uint, totals since boot */
    WARD_RK_METRICS = 22,      /**< map tstr (1..32 chars) -> int, application custom metrics */
    WARD_RK_MALFORMED = 23,    /**< map uint (enum ward_malformed) -> uint, packets this period */
    WARD_RK_DETECTIONS = 24,   /**< array of detection arrays (enum ward_detect_pos) */
    WARD_RK_CONFIG_STATUS = 25 /**< array [revision uint, status uint (ward_status_t), reason tstr] */
};

/** Time base of every time in a report. */
enum ward_time_base {
    WARD_TIME_UNIX = 0, /**< milliseconds since 1970-01-01T00:00:00Z (device clock synced) */
    WARD_TIME_BOOT = 1  /**< milliseconds since the device booted (clock not synced) */
};

/* ---- Flow: a CBOR array, by position ------------------------------------------------------- */

/*
 * Flows are arrays, not maps, because they are most of every report: keys would double their size.
 * Counters are deltas for the time the flow was reported last (or first seen). Positions past
 * WARD_FP_TCP_FLAGS may be omitted by the writer when zero.
 */
enum ward_flow_pos {
    WARD_FP_PROTO = 0,       /**< uint, IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...) */
    WARD_FP_FLAGS = 1,       /**< uint, bit field enum ward_flow_flag */
    WARD_FP_LOCAL_ADDR = 2,  /**< uint, index into WARD_RK_LOCAL_ADDRS */
    WARD_FP_LOCAL_PORT = 3,  /**< uint, local port; 0 for protocols without ports */
    WARD_FP_REMOTE_ADDR = 4, /**< bstr, 4 bytes (IPv4) or 16 bytes (IPv6) */
    WARD_FP_REMOTE_PORT = 5, /**< uint, remote port; ICMP/ICMPv6: type * 256 + code; else 0 */
    WARD_FP_PACKETS_OUT = 6, /**< uint, packets device -> remote */
    WARD_FP_PACKETS_IN = 7,  /**< uint, packets remote -> device */
    WARD_FP_BYTES_OUT = 8,   /**< uint, IP bytes (headers included) device -> remote */
    WARD_FP_BYTES_IN = 9,    /**< uint, IP bytes remote -> device */
    WARD_FP_FIRST = 10,      /**< uint, s: first packet, offset from WARD_RK_PERIOD_START */
    WARD_FP_LAST = 11,       /**< uint, s: last packet, offset from WARD_RK_PERIOD_START */
    WARD_FP_TCP_FLAGS = 12,  /**< uint, TCP flags seen: out in bits 0-7, in in bits 8-15; optional */
    WARD_FP_COUNT_ = 13      /**< number of positions defined in this version */
};

/** Bits of WARD_FP_FLAGS. */
enum ward_flow_flag {
    WARD_FF_INITIATOR_MASK = 0x03, /**< bits 0-1: enum ward_direction of the first packet */
    WARD_FF_CONTINUED = 0x04       /**< the flow was already reported in an earlier report */
};

/** Direction of a packet, and initiator of a flow. */
enum ward_direction {
    WARD_DIR_UNKNOWN = 0,  /**< not known (flow seen mid-way, or direction not given) */
    WARD_DIR_OUTBOUND = 1, /**< device -> remote */
    WARD_DIR_INBOUND = 2   /**< remote -> device */
};

/* ---- Overflow summary: flows the table had no room for ------------------------------------- */

enum ward_overflow_pos {
    WARD_OP_PROTO = 0,     /**< uint, IP protocol number; 0 = fragments whose flow is unknown;
                                255 also holds any protocol the agent's summary had no room for */
    WARD_OP_DIRECTION = 1, /**< uint, enum ward_direction */
    WARD_OP_FLOWS = 2,     /**< uint, new flows not tracked (distinct first packets seen) */
    WARD_OP_PACKETS = 3,   /**< uint, packets not tracked */
    WARD_OP_BYTES = 4      /**< uint, IP bytes not tracked */
};

/* ---- Listening sockets --------------------------------------------------------------------- */

enum ward_listen_pos {
    WARD_LP_PROTO = 0,      /**< uint, 6 TCP or 17 UDP */
    WARD_LP_LOCAL_ADDR = 1, /**< bstr (4 or 16 bytes, all zero = any address) */
    WARD_LP_PORT = 2        /**< uint, local port */
};

/* ---- System information -------------------------------------------------------------------- */

enum ward_sysinfo_key {
    WARD_SK_OS = 0,          /**< tstr, OS or RTOS name and version */
    WARD_SK_FIRMWARE = 1,    /**< tstr, firmware version */
    WARD_SK_HARDWARE = 2,    /**< tstr, hardware model */
    WARD_SK_IP_STACK = 3,    /**< tstr, IP stack name and version */
    WARD_SK_TLS = 4,         /**< bool, the report transport uses TLS */
    WARD_SK_TIME_SYNCED = 5, /**< bool, the device clock is synced (NTP, ...) */
    WARD_SK_FLOW_CAPACITY = 6 /**< uint, flow table capacity (for sizing recommendations) */
};

/** A custom metric name (WARD_RK_METRICS) is 1..WARD_METRIC_NAME_MAX characters. */
#define WARD_METRIC_NAME_MAX 32

/* ---- Counters (totals since boot) ---------------------------------------------------------- */

enum ward_counter {
    WARD_CTR_MSGS_SENT = 0,        /**< messages the application sent to the cloud */
    WARD_CTR_MSGS_RECEIVED = 1,    /**< messages the application received from the cloud */
    WARD_CTR_CONNECT_ATTEMPTS = 2, /**< connection attempts to the cloud */
    WARD_CTR_AUTH_FAILURES = 3,    /**< authentication failures */
    WARD_CTR_PARSE_ERRORS = 4,     /**< messages the application could not parse */
    WARD_CTR_REPORTS_SPLIT = 5,    /**< reports that needed more than one part */
    WARD_CTR_FLOWS_DROPPED = 6,    /**< flows that went to the overflow summary */
    WARD_CTR_PACKETS = 7,          /**< packets seen by the hook */
    WARD_CTR_PACKETS_MALFORMED = 8,/**< packets the hook could not parse */
    WARD_CTR_PUBLISH_FAILED = 9,   /**< report parts the transport failed (negative return) */
    WARD_CTR_DETECTIONS_LOST = 10, /**< deny-list hits not recorded: the detection table was full
                                        (the packet is still counted, and dropped if the rule says) */
    WARD_CTR_CONFIGS_REJECTED = 11,/**< config messages rejected */
    WARD_CTR_COUNT_ = 12
};

/* ---- Malformed packet reasons -------------------------------------------------------------- */

enum ward_malformed {
    WARD_MF_TRUNCATED = 0,     /**< shorter than a header says */
    WARD_MF_BAD_VERSION = 1,   /**< IP version neither 4 nor 6 */
    WARD_MF_BAD_IHL = 2,       /**< IPv4 header length below 20 or past the packet */
    WARD_MF_BAD_LENGTH = 3,    /**< IP total/payload length inconsistent with the packet */
    WARD_MF_EXT_CHAIN = 4,     /**< IPv6 extension-header chain too long or malformed */
    WARD_MF_BAD_L4 = 5,        /**< transport header malformed (e.g. TCP data offset < 5) */
    WARD_MF_COUNT_ = 6
};

/* ---- On-device detections ------------------------------------------------------------------ */

enum ward_detect_pos {
    WARD_DP_KIND = 0,        /**< uint, enum ward_detect_kind */
    WARD_DP_DIRECTION = 1,   /**< uint, enum ward_direction */
    WARD_DP_PROTO = 2,       /**< uint, IP protocol number */
    WARD_DP_REMOTE_ADDR = 3, /**< bstr, 4 or 16 bytes */
    WARD_DP_REMOTE_PORT = 4, /**< uint */
    WARD_DP_LOCAL_PORT = 5,  /**< uint */
    WARD_DP_RULE = 6,        /**< uint, index of the deny-list entry that matched */
    WARD_DP_ACTION = 7,      /**< uint, enum ward_deny_action taken */
    WARD_DP_COUNT = 8,       /**< uint, packets that matched */
    WARD_DP_TIME = 9         /**< uint, s: first match, offset from WARD_RK_PERIOD_START */
};

enum ward_detect_kind {
    WARD_DK_DENY_LIST = 0 /**< a packet matched the configured deny-list */
};

/* ---- Config message (service -> device, retained on ward/v1/<id>/config) ------------------- */

enum ward_config_key {
    WARD_CK_VERSION = 0,    /**< array [major, minor]; required */
    WARD_CK_REVISION = 1,   /**< uint, > 0, chosen by the service; echoed in WARD_RK_CONFIG_REV */
    WARD_CK_INTERVAL = 2,   /**< uint, s: report interval, 10..86400 */
    WARD_CK_COLLECTORS = 3, /**< uint, bit field enum ward_collector: collectors enabled */
    WARD_CK_DENY = 4        /**< array of [addr bstr (4|16), prefix uint, action uint] */
};

enum ward_collector {
    WARD_COL_FLOWS = 1 << 0,
    WARD_COL_LISTENING = 1 << 1,
    WARD_COL_SYSINFO = 1 << 2,
    WARD_COL_COUNTERS = 1 << 3,
    WARD_COL_METRICS = 1 << 4,
    WARD_COL_ALL_ = 0x1f
};

enum ward_deny_action {
    WARD_DENY_ALERT = 0, /**< report the packet at once */
    WARD_DENY_DROP = 1   /**< report it and drop it where the port can */
};

/* IP protocol numbers the protocol names. */
#define WARD_IPPROTO_ICMP 1
#define WARD_IPPROTO_TCP 6
#define WARD_IPPROTO_UDP 17
#define WARD_IPPROTO_ICMPV6 58

#endif /* WARD_PROTO_H */
