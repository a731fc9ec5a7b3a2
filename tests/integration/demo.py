#!/usr/bin/python3
"""Helpers of scripts/demo (standard library only).

  demo.py captures DIR   write one capture per simulated device into DIR (pcapgen.py) and print
                         one line per device: DEVICE-ID FILE ADDR [ADDR]
  demo.py follow FILE    follow wardd's alerts JSON-lines file and print each new alert on one
                         line a person reads at a glance; runs until killed
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402


def devices(t0):
    """(device id, addresses, scenario) of the demo's simulated fleet. Documentation ranges only:
    198.51.100.0/24, 203.0.113.0/24, 2001:db8:bad::/48 are in tests/cases/demo/feed.txt,
    192.0.2.0/24 and 2001:db8:c1ea::/48 are the clean internet."""
    out = []

    # A thermostat whose firmware beacons to a command-and-control server every ~10 s.
    a4, a6 = "10.20.0.11", "2001:db8:20::11"
    s = g.Scenario(t0)
    s.tcp_session(0.5, a4, "192.0.2.10", 41000, 8883, data_out=[300, 40], data_in=[40])
    for i, t in enumerate((2.0, 12.0, 22.0, 32.0)):
        s.tcp_session(t, a4, "198.51.100.7", 49152 + i, 443, data_out=[180], data_in=[64])
    s.udp_exchange(5.0, a4, "192.0.2.123", 123, 123, [48], [48])
    s.ping(8.0, a6, "2001:db8:c1ea::1", count=2)
    out.append(("thermostat-01", [a4, a6], s))

    # A camera with telnet open, hammered by a brute-force range.
    c4 = "10.20.0.12"
    s = g.Scenario(t0)
    for i in range(6):
        s.tcp_session(3.0 + i * 1.5, "203.0.113.45", c4, 50000 + i, 23, data_out=[24, 24],
                      data_in=[30])
    s.tcp_session(4.0, c4, "192.0.2.10", 41001, 8883, data_out=[900] * 3, data_in=[40])
    out.append(("camera-02", [c4], s))

    # A smart plug whose DNS goes to a resolver in a malicious IPv6 range.
    p4, p6 = "10.20.0.13", "2001:db8:20::13"
    s = g.Scenario(t0)
    s.udp_exchange(6.0, p6, "2001:db8:bad::53", 5353, 53, [40, 40], [120, 120])
    s.tcp_session(7.0, p4, "192.0.2.10", 41002, 8883, data_out=[64], data_in=[16])
    out.append(("plug-03", [p4, p6], s))

    # A gateway that only does what it should.
    w4, w6 = "10.20.0.1", "2001:db8:20::1"
    s = g.Scenario(t0)
    s.udp_exchange(1.0, w4, "192.0.2.53", 40053, 53, [40], [120])
    s.tcp_session(2.0, w6, "2001:db8:c1ea::80", 42000, 443, data_out=[500], data_in=[4000, 4000])
    s.ping(9.0, w4, "192.0.2.1", count=3)
    out.append(("gateway-04", [w4, w6], s))

    # A smart meter that was enrolled into a cryptominer pool.
    m4 = "10.20.0.15"
    s = g.Scenario(t0)
    s.tcp_session(10.0, m4, "198.51.100.66", 40666, 3333, data_out=[200] * 5, data_in=[90] * 5,
                  close=False)
    s.udp_exchange(11.0, m4, "192.0.2.123", 123, 123, [48], [48])
    out.append(("meter-05", [m4], s))
    return out


def cmd_captures(outdir):
    t0 = float(int(time.time()) - 40)  # the traffic happened in the last 40 seconds
    for i, (dev, addrs, scen) in enumerate(devices(t0)):
        fmt = "pcapng" if i % 2 else "pcap"
        path = os.path.join(outdir, "%s.%s" % (dev, fmt))
        scen.write(path, fmt, g.LINKTYPE_ETHERNET, addrs)
        print(dev, path, *addrs)
    return 0


def format_alert(a):
    ev = a.get("evidence") or {}
    ind = ev.get("indicator") or {}
    remote = ev.get("remote_addr", "?")
    if ":" in remote:
        remote = "[%s]" % remote
    if ev.get("protocol") in ("icmp", "icmpv6"):
        where = "%s %s type %s" % (remote, ev.get("protocol"), ev.get("icmp_type"))
    else:
        where = "%s:%s/%s" % (remote, ev.get("remote_port", "?"), ev.get("protocol", "?"))
    seen = (a.get("first_seen") or "")[11:19] or "--:--:--"
    return "ALERT %s  %-14s %-20s %-28s %-8s indicator %s (%s)" % (
        seen, a.get("device", "?"), a.get("type", "?"), where, ev.get("direction", "?"),
        ind.get("value", "?"), os.path.basename(str(ind.get("source", "?"))))


def cmd_follow(path):
    """tail -F, in Python: wait for the file, print every complete line appended to it."""
    pos, buf = 0, b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
        except FileNotFoundError:
            chunk = b""
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                try:
                    print(format_alert(json.loads(line)), flush=True)
                except ValueError:
                    print("ALERT (unreadable line) %r" % line[:80], flush=True)
        time.sleep(0.2)


def main(argv):
    if len(argv) == 3 and argv[1] == "captures":
        return cmd_captures(argv[2])
    if len(argv) == 3 and argv[1] == "follow":
        try:
            return cmd_follow(argv[2])
        except KeyboardInterrupt:
            return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
