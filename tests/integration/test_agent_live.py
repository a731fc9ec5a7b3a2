#!/usr/bin/python3
"""Integration test: ward-agent's live capture (--iface lo).

ward-agent captures on the loopback interface (which needs root or CAP_NET_RAW: without them the
test is skipped, exit status 77), the test sends UDP datagrams over 127.0.0.1, then stops the
agent with SIGTERM. It must exit 0 after publishing a last report in which the datagrams appear
as flows with the right direction (from the kernel's packet type), packets and IP bytes; its
status topic must go online, then offline. Real Mosquitto, traffic on 127.0.0.1 only.

Usage: test_agent_live.py --bin BUILD/bin [--keep]
"""

import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

try:
    import cbor2
except ImportError:
    cbor2 = None

DATAGRAMS, PAYLOAD = 5, 100
IP_BYTES = 20 + 8 + PAYLOAD


def can_capture():
    if os.geteuid() == 0:
        return True
    try:  # CAP_NET_RAW (13) in the effective set
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 13 & 1)
    except OSError:
        pass
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    agent = os.path.join(os.path.abspath(args.bin), "ward-agent")
    if not can_capture():
        return h.skip("integration-agent-live", "capturing on lo needs root or CAP_NET_RAW")
    c = h.Checker("integration-agent-live")
    if not c.check(cbor2 is not None, "python3-cbor2 is installed"):
        return c.summary()

    with h.Env(prefix="ward-live-", keep=args.keep) as env:
        sub = None
        try:
            broker, port = h.start_broker(env)
            sub = h.Subscriber(port, ["ward/v1/live-lo/#"])
            a = env.start("ward-agent", [agent, "--device-id", "live-lo", "--broker",
                                         "127.0.0.1:%d" % port, "--iface", "lo"])
            # "online" is published once connected, and the capture is open before that.
            online = h.wait_for(lambda: any(p == b"online" for _, p, _ in sub.received()), 10)
            if not c.check(online, "ward-agent --iface lo connects (status online)"):
                h.log(a.tail())
                return c.summary()

            target = h.free_port()  # nothing listens: the kernel answers port unreachable
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            src = s.getsockname()[1]
            for _ in range(DATAGRAMS):
                s.sendto(b"w" * PAYLOAD, ("127.0.0.1", target))
            s.close()

            # No wait: sendto() on lo hands each datagram to the capture sockets before it
            # returns, and ward-agent drains its capture after the signal, before its last report.
            rc = a.terminate(15)
            c.equal(rc, 0, "ward-agent exits 0 on SIGTERM")
            done = h.wait_for(lambda: [p for _, p, _ in sub.received()
                                       if p == b"offline"], 10)
            c.check(done, "status went offline")

            flows = {}
            for topic, payload, _ in sub.received():
                if topic.endswith("/report"):
                    for f in cbor2.loads(payload).get(16, []):
                        if f[0] == 17 and {f[3], f[5]} == {src, target}:
                            k = (f[3], f[5], f[1] & 3)
                            e = flows.setdefault(k, [0, 0, 0, 0])
                            for i in range(4):
                                e[i] += f[6 + i]
            # Outbound copies: local port src, remote target, initiator outbound (1). Loopback may
            # also show the receiving side (local target, remote src, inbound 2).
            out = flows.get((src, target, 1))
            c.equal(out, [DATAGRAMS, 0, DATAGRAMS * IP_BYTES, 0],
                    "datagrams reported outbound: packets out/in, bytes out/in")
            other = {k: v for k, v in flows.items() if k != (src, target, 1)}
            c.check(all(k == (target, src, 2) and v == [0, DATAGRAMS, 0, DATAGRAMS * IP_BYTES]
                        for k, v in other.items()),
                    "no other flows of those ports, except the receiving side as inbound",
                    "{(%d, %d, 2): [0, %d, 0, %d]} or nothing" % (target, src, DATAGRAMS,
                                                                  DATAGRAMS * IP_BYTES),
                    other)
        finally:
            if sub is not None:
                sub.close()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
