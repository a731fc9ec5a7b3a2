#!/usr/bin/python3
"""Real listeners for the end-to-end test: the services of the device and of the peer hosts.

Usage: listen.py SPEC...   SPEC is tcp:PORT or udp:PORT

Every service answers on every IPv4 and IPv6 address of the network namespace it runs in. A TCP
connection (one socket on [::], IPV6_V6ONLY off) gets a one-line banner, and is closed when the
client closes it (or after 5 s of silence). A UDP datagram is echoed back from the address it was
sent to (one socket per family, with IP_PKTINFO / IPV6_PKTINFO: a host with many addresses would
otherwise answer from the one its route prefers, and a connected client would drop the answer).
Prints "listening" once every socket is bound; runs until killed. Standard library only.
"""

import select
import socket
import struct
import sys
import threading

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)


def serve_tcp(conn):
    try:
        conn.settimeout(5)
        conn.sendall(b"ward-e2e service\r\n")
        while conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def bind(kind, port):
    """The sockets of one service: [(socket, kind)]."""
    if kind == "tcp":
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(256)
        return [(s, "tcp")]
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s4.bind(("0.0.0.0", port))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    s6.bind(("::", port))
    return [(s4, "udp4"), (s6, "udp6")]


def echo(s, kind):
    data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(64))
    cmsg = []
    for level, ctype, cdata in anc:
        if kind == "udp4" and level == socket.IPPROTO_IP and ctype == IP_PKTINFO:
            # struct in_pktinfo {ifindex; spec_dst; addr}: answer from addr, the destination.
            ifindex, _, dst = struct.unpack("i4s4s", cdata[:12])
            cmsg = [(level, ctype, struct.pack("i4s4s", 0, dst, b"\0" * 4))]
        elif kind == "udp6" and level == socket.IPPROTO_IPV6 and ctype == IPV6_PKTINFO:
            # struct in6_pktinfo {addr; ifindex}: the destination becomes the source.
            cmsg = [(level, IPV6_PKTINFO, cdata[:20])]
    s.sendmsg([data], cmsg, 0, addr)


def main():
    socks = {}
    for spec in sys.argv[1:]:
        kind, _, port = spec.partition(":")
        if kind not in ("tcp", "udp") or not port.isdigit():
            sys.exit("listen.py: bad spec %r (want tcp:PORT or udp:PORT)" % spec)
        for sock, k in bind(kind, int(port)):
            socks[sock] = k
    print("listening on %s" % " ".join(sys.argv[1:]), flush=True)
    while True:
        ready, _, _ = select.select(list(socks), [], [])
        for s in ready:
            try:
                if socks[s] == "tcp":
                    conn, _ = s.accept()
                    threading.Thread(target=serve_tcp, args=(conn,), daemon=True).start()
                else:
                    echo(s, socks[s])
            except OSError:
                pass


if __name__ == "__main__":
    main()
