"""Write pcap and pcapng captures byte by byte, and know what the ward agent should make of them.

Used by the integration tests and by scripts/demo. Standard library only.

A Scenario is a list of IP packets with timestamps (built with its tcp_session / udp_exchange /
ping helpers). It can be written as a capture with any link type ward-agent reads (Ethernet with or
without 802.1Q tags, raw IP, Linux cooked SLL and SLL2, BSD null/loopback) in pcap or pcapng, and
it computes the flows the agent must report for a device: the reference model the tests compare
wardd's view (and the raw reports) against.

Checksums are computed (IPv4 header, TCP, UDP, ICMP, ICMPv6), so the captures also open cleanly
in Wireshark; ward does not verify them.
"""

import ipaddress
import struct

# Link types (the numbers written in capture files: LINKTYPE_*).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmpv6"}

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Linux packet types (SLL/SLL2).
PACKET_HOST, PACKET_OUTGOING = 0, 4


def _addr(a):
    return ipaddress.ip_address(a)


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _pseudo(src, dst, proto, length):
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, proto, length)
    return src.packed + dst.packed + struct.pack("!IxxxB", length, proto)


# ---- layer 4 -----------------------------------------------------------------------------------

def tcp_segment(src, dst, sport, dport, flags, seq=0, ack=0, payload=b""):
    src, dst = _addr(src), _addr(dst)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    c = _csum(_pseudo(src, dst, TCP, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def udp_datagram(src, dst, sport, dport, payload=b""):
    src, dst = _addr(src), _addr(dst)
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = _csum(_pseudo(src, dst, UDP, length) + hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c) + payload


def icmp_message(src, dst, icmp_type, code, ident=0x77, seq=1, payload=b""):
    src, dst = _addr(src), _addr(dst)
    body = struct.pack("!BBHHH", icmp_type, code, 0, ident, seq) + payload
    if src.version == 4:
        c = _csum(body)
    else:
        c = _csum(_pseudo(src, dst, ICMPV6, len(body)) + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


# ---- layer 3 -----------------------------------------------------------------------------------

def ip_packet(src, dst, proto, l4, ident=0):
    """An IPv4 or IPv6 packet (by the addresses' family) carrying l4."""
    src, dst = _addr(src), _addr(dst)
    if src.version != dst.version:
        raise ValueError("mixed address families")
    if src.version == 4:
        total = 20 + len(l4)
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, 64, proto, 0,
                          src.packed, dst.packed)
        hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
        return hdr + l4
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, src.packed, dst.packed)
    return hdr + l4


# ---- link layers -------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def _ethertype(ip):
    return 0x0800 if ip[0] >> 4 == 4 else 0x86DD


def frame(linktype, ip, outgoing, vlan=None):
    """Wrap an IP packet for linktype. outgoing sets the SLL packet type; vlan adds 802.1Q tags
    (a VLAN id or a list of them) to Ethernet and SLL frames. Ethernet frames are padded to the
    60-byte minimum, as a NIC does, so a reader must use the IP length, not the frame length."""
    et = _ethertype(ip)
    # With tags, the header's ethertype is the outer tag's TPID (802.1ad for all but the innermost
    # tag, 802.1Q for that one); each tag is then its TCI and the next TPID, the last one followed
    # by the real ethertype.
    ids = [] if vlan is None else list(vlan) if isinstance(vlan, (list, tuple)) else [vlan]
    tpids = [0x88A8] * (len(ids) - 1) + [0x8100] if ids else []
    first = tpids[0] if ids else et
    tags = b"".join(struct.pack("!HH", vid & 0x0FFF, (tpids + [et])[i + 1])
                    for i, vid in enumerate(ids))
    pkttype = PACKET_OUTGOING if outgoing else PACKET_HOST
    if linktype == LINKTYPE_ETHERNET:
        src, dst = (MAC_A, MAC_B) if outgoing else (MAC_B, MAC_A)
        f = dst + src + struct.pack("!H", first) + tags + ip
        return f + b"\0" * max(0, 60 - len(f))
    if linktype == LINKTYPE_RAW:
        return ip
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", pkttype, 1, 6, MAC_A + b"\0\0", first) + tags + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", first, 0, 2, 1, pkttype, 6, MAC_A + b"\0\0") + tags + ip
    if linktype == LINKTYPE_NULL:
        # Host byte order of the capturing machine: write little-endian, Linux's AF_INET6 (10).
        return struct.pack("<I", 2 if ip[0] >> 4 == 4 else 10) + ip
    if linktype == LINKTYPE_LOOP:
        return struct.pack("!I", 2 if ip[0] >> 4 == 4 else 24) + ip
    raise ValueError("unknown link type %d" % linktype)


def arp_frame():
    """An Ethernet ARP request (not IP: the agent must skip it)."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, bytes([10, 0, 0, 10]),
                       b"\0" * 6, bytes([10, 0, 0, 1]))
    f = b"\xff" * 6 + MAC_A + struct.pack("!H", 0x0806) + body
    return f + b"\0" * max(0, 60 - len(f))


# ---- capture files -----------------------------------------------------------------------------

def write_pcap(path, linktype, frames, snaplen=65535):
    """frames: list of (timestamp seconds as float, bytes). Classic pcap, microseconds."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for ts, data in frames:
            sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def _pad4(b):
    return b + b"\0" * (-len(b) % 4)


def _block(btype, body):
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, linktype, frames, snaplen=65535):
    """pcapng: section header, one interface (default microsecond resolution), enhanced packets."""
    with open(path, "wb") as f:
        # Section header with a comment option, which a reader must skip.
        comment = _pad4(b"ward integration test")
        opts = struct.pack("<HH", 1, len(b"ward integration test")) + comment + b"\0\0\0\0"
        f.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts))
        f.write(_block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen)))
        for ts, data in frames:
            t = int(round(ts * 1e6))
            body = struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data), len(data))
            f.write(_block(0x00000006, body + _pad4(data)))


def write_capture(path, fmt, linktype, frames):
    (write_pcapng if fmt == "pcapng" else write_pcap)(path, linktype, frames)


# ---- scenarios and the reference model ---------------------------------------------------------

class Packet:
    """One IP packet of a scenario, with what the reference model needs to know about it."""

    def __init__(self, ts, src, dst, proto, sport, dport, ip, tcp_flags=0, icmp=None):
        self.ts, self.src, self.dst, self.proto = ts, _addr(src), _addr(dst), proto
        self.sport, self.dport, self.ip = sport, dport, ip
        self.tcp_flags, self.icmp = tcp_flags, icmp  # icmp: (type, code)


class Scenario:
    """A timeline of IP packets (and some non-IP frames) for one or more devices."""

    def __init__(self, t0=1_700_000_000.0):
        self.t0 = t0
        self.packets = []
        self.non_ip = []  # (ts, ethernet frame): only written to Ethernet captures
        self._ident = 1

    def _next_ident(self):
        self._ident += 1
        return self._ident

    def tcp(self, t, src, dst, sport, dport, flags, payload_len=0, seq=0, ack=0):
        seg = tcp_segment(src, dst, sport, dport, flags, seq, ack, b"x" * payload_len)
        ip = ip_packet(src, dst, TCP, seg, self._next_ident())
        self.packets.append(Packet(self.t0 + t, src, dst, TCP, sport, dport, ip, tcp_flags=flags))

    def udp(self, t, src, dst, sport, dport, payload_len=0):
        ip = ip_packet(src, dst, UDP, udp_datagram(src, dst, sport, dport, b"u" * payload_len),
                       self._next_ident())
        self.packets.append(Packet(self.t0 + t, src, dst, UDP, sport, dport, ip))

    def icmp(self, t, src, dst, icmp_type, code=0, payload_len=0, seq=1):
        proto = ICMP if _addr(src).version == 4 else ICMPV6
        ip = ip_packet(src, dst, proto, icmp_message(src, dst, icmp_type, code, seq=seq,
                                                     payload=b"p" * payload_len),
                       self._next_ident())
        self.packets.append(Packet(self.t0 + t, src, dst, proto, 0, 0, ip,
                                   icmp=(icmp_type, code)))

    # Conversations ------------------------------------------------------------------------------

    def tcp_session(self, t, client, server, cport, sport, data_out=(), data_in=(), close=True,
                    step=0.01):
        """Handshake (SYN, SYN-ACK, ACK), then data segments client->server (data_out: payload
        lengths) and server->client (data_in), then FIN/ACK both ways. Returns the end time."""
        self.tcp(t, client, server, cport, sport, SYN, seq=1000)
        self.tcp(t + step, server, client, sport, cport, SYN | ACK, seq=5000, ack=1001)
        self.tcp(t + 2 * step, client, server, cport, sport, ACK, seq=1001, ack=5001)
        t += 3 * step
        for n in data_out:
            self.tcp(t, client, server, cport, sport, PSH | ACK, payload_len=n)
            t += step
        for n in data_in:
            self.tcp(t, server, client, sport, cport, PSH | ACK, payload_len=n)
            t += step
        if close:
            self.tcp(t, client, server, cport, sport, FIN | ACK)
            self.tcp(t + step, server, client, sport, cport, FIN | ACK)
            self.tcp(t + 2 * step, client, server, cport, sport, ACK)
            t += 3 * step
        return t

    def udp_exchange(self, t, client, server, cport, sport, requests=(), replies=(), step=0.01):
        for n in requests:
            self.udp(t, client, server, cport, sport, n)
            t += step
        for n in replies:
            self.udp(t, server, client, sport, cport, n)
            t += step
        return t

    def ping(self, t, src, dst, count=1, reply=True, payload_len=56, step=0.01):
        v4 = _addr(src).version == 4
        req, rep = (8, 0) if v4 else (128, 129)
        for i in range(count):
            self.icmp(t, src, dst, req, payload_len=payload_len, seq=i + 1)
            if reply:
                self.icmp(t + step, dst, src, rep, payload_len=payload_len, seq=i + 1)
            t += 2 * step
        return t

    def arp(self, t):
        self.non_ip.append((self.t0 + t, arp_frame()))

    # Output -------------------------------------------------------------------------------------

    def frames(self, linktype, device_addrs=(), vlan=None):
        """Capture frames in time order. device_addrs decides the SLL packet type (outgoing when
        the source is the device's); non-IP frames are included for Ethernet only."""
        mine = {_addr(a) for a in device_addrs}
        out = [(p.ts, frame(linktype, p.ip, p.src in mine, vlan)) for p in self.packets]
        if linktype == LINKTYPE_ETHERNET:
            out += list(self.non_ip)
        out.sort(key=lambda x: x[0])
        return out

    def write(self, path, fmt="pcap", linktype=LINKTYPE_ETHERNET, device_addrs=(), vlan=None):
        write_capture(path, fmt, linktype, self.frames(linktype, device_addrs, vlan))

    def expected_flows(self, device_addrs):
        """The flows the agent must report for the device with these addresses, summed over all
        reports: {(proto name, local addr, local port, remote addr, remote port): counters}.

        Model (docs/protocol.md 3.2): a packet from a device address is outbound, to one inbound,
        else not the device's. The key is (protocol, local address, local port, remote address,
        remote port); for ICMP/ICMPv6 the local port is 0 and the remote port type*256+code.
        Initiator: the direction of the flow's first packet, except for TCP, where a first SYN
        names its sender, a first SYN-ACK the other side, and anything else leaves it unknown
        until a later bare SYN. Bytes are IP total lengths."""
        mine = {_addr(a) for a in device_addrs}
        flows = {}
        for p in sorted(self.packets, key=lambda p: p.ts):
            if p.src in mine:
                d, local, remote, lport, rport = "outbound", p.src, p.dst, p.sport, p.dport
            elif p.dst in mine:
                d, local, remote, lport, rport = "inbound", p.dst, p.src, p.dport, p.sport
            else:
                continue
            if p.icmp is not None:
                lport, rport = 0, p.icmp[0] * 256 + p.icmp[1]
            key = (PROTO_NAMES.get(p.proto, str(p.proto)), str(local), lport, str(remote), rport)
            other = "inbound" if d == "outbound" else "outbound"
            syn_ack = p.tcp_flags & (SYN | ACK) if p.proto == TCP else None
            if key not in flows:
                init = d
                if p.proto == TCP:
                    init = d if syn_ack == SYN else other if syn_ack == SYN | ACK else "unknown"
                flows[key] = {"initiator": init, "packets_in": 0, "packets_out": 0,
                              "bytes_in": 0, "bytes_out": 0}
            f = flows[key]
            if f["initiator"] == "unknown" and syn_ack == SYN:
                f["initiator"] = d
            f["packets_" + ("out" if d == "outbound" else "in")] += 1
            f["bytes_" + ("out" if d == "outbound" else "in")] += len(p.ip)
        return flows

    def counts(self, device_addrs):
        """(outbound, inbound, not the device's) IP packets, as ward-agent counts them."""
        mine = {_addr(a) for a in device_addrs}
        o = sum(1 for p in self.packets if p.src in mine)
        i = sum(1 for p in self.packets if p.src not in mine and p.dst in mine)
        return o, i, len(self.packets) - o - i
