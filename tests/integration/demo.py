#!/usr/bin/python3
"""Helpers of scripts/demo (standard library only).

  demo.py captures DIR   write one capture per simulated device into DIR (pcapgen.py) and print
                         one line per device: DEVICE-ID FILE ADDR [ADDR]
  demo.py follow FILE [SIMLOG]
                         follow wardd's alerts JSON-lines file and print each new alert on one
                         line a person reads at a glance (time, severity, device, type, the key
                         fact), colored by severity on a terminal; runs until killed
"""

import json
import os
import re
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


SEVERITY_COLOR = {"critical": "1;35", "high": "1;31", "medium": "33", "low": "36"}


def _endpoint(addr, port=None):
    if addr is None:
        return None
    if ":" in addr and port is not None:
        return "[%s]:%s" % (addr, port)
    return addr if port is None else "%s:%s" % (addr, port)


def _mb(n):
    return "%.1f MB" % (n / 1e6) if n >= 100000 else "%d B" % n


def key_fact(a):
    """The one fact that says what happened, by alert type."""
    t = a.get("type", "")
    ev = a.get("evidence") or {}
    ob = ev.get("observed") or {}
    remote = ev.get("remote_addr")
    if t.startswith("intel."):
        ind = ev.get("indicator") or {}
        if not ind and ev.get("matches"):
            ind = ev["matches"][0]
        if ev.get("protocol") in ("icmp", "icmpv6"):
            where = "%s %s" % (remote, ev.get("protocol"))
        else:
            where = "%s/%s" % (_endpoint(remote, ev.get("remote_port")), ev.get("protocol", "?"))
        return "%s %s, on feed as %s (%s)" % (ev.get("direction", ""), where, ind.get("value", "?"),
                                             os.path.basename(str(ind.get("source", "?"))))
    if t == "behavior.port_scan":
        return "%s probed %s ports" % (remote or "untracked sources", ob.get("ports", "?"))
    if t == "behavior.host_sweep":
        return "contacted %s hosts on port %s" % (ob.get("hosts", "?"), ev.get("remote_port", "?"))
    if t == "behavior.syn_flood":
        return "%s SYNs to port %s from %s" % (ob.get("syns", "?"), ev.get("local_port", "?"),
                                               remote or "many sources")
    if t == "behavior.icmp_flood":
        return "%s echo requests from %s" % (ob.get("echo_requests", "?"), remote or "many sources")
    if t == "behavior.brute_force":
        return "%s short connections from %s to port %s" % (
            ob.get("connections", "?"), remote or "?", ev.get("local_port", "?"))
    if t == "behavior.exfiltration":
        return "%s out in %ss, mostly to %s" % (_mb(ob.get("bytes_out", 0)),
                                               int(ob.get("period_s", 0)), remote or "?")
    if t.startswith("rule."):
        alarm = ev.get("alarm", "")
        if alarm in ("cleared", "invalidated"):
            return "%s (%s)" % (a.get("title", ""), alarm)
        flows = ev.get("flows") or []
        if flows:
            f = flows[0]
            eg = _endpoint(f.get("remote_addr"), f.get("remote_port"))
            return "%s flow(s) outside rule %s, e.g. %s" % (ev.get("observed", len(flows)),
                                                            ev.get("rule_id", t), eg)
        if "allowed" in ev:
            return "%s = %s, allowed %s" % (ev.get("rule_id", t), ev.get("observed"),
                                            json.dumps(ev["allowed"]))
    if remote:
        return "%s: %s" % (a.get("title", ""), _endpoint(remote, ev.get("remote_port")))
    return a.get("title", "")


def format_alert(a, color=False):
    sev = a.get("severity", "?")
    seen = (a.get("last_seen") or a.get("first_seen") or "")[11:19] or "--:--:--"
    line = "%s  %-8s %-12s %-30s %s" % (seen, sev.upper(), a.get("device", "?"),
                                        a.get("type", "?"), key_fact(a))
    if color:
        return "\033[%sm%s\033[0m" % (SEVERITY_COLOR.get(sev, "0"), line)
    return line


def _read_new(path, state):
    """The complete lines appended to path since the last call (state: [pos, partial])."""
    try:
        with open(path, "rb") as f:
            f.seek(state[0])
            chunk = f.read()
            state[0] = f.tell()
    except FileNotFoundError:
        return []
    state[1] += chunk
    lines = state[1].split(b"\n")
    state[1] = lines.pop()
    return [x.decode("utf-8", "replace") for x in lines if x.strip()]


def cmd_follow(path, simlog=None):
    """tail -F, in Python: print every alert appended to path, and (when simlog is given) every
    attack wardsim starts, as it starts."""
    color = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
    st_alerts, st_sim = [0, b""], [0, b""]
    while True:
        if simlog:
            for line in _read_new(simlog, st_sim):
                m = re.match(r"wardsim: t=(\d+)s (\S+) (\w+): (.*)", line)
                if m:
                    text = "%s  %-8s %-12s %-30s %s" % (time.strftime("%H:%M:%S", time.gmtime()),
                                                         "ATTACK", m.group(2), m.group(3),
                                                         m.group(4))
                    print("\033[2m%s\033[0m" % text if color else text, flush=True)
        for line in _read_new(path, st_alerts):
            try:
                print(format_alert(json.loads(line), color), flush=True)
            except ValueError:
                print("ALERT (unreadable line) %r" % line[:80], flush=True)
        time.sleep(0.2)


def main(argv):
    if len(argv) == 3 and argv[1] == "captures":
        return cmd_captures(argv[2])
    if len(argv) in (3, 4) and argv[1] == "follow":
        try:
            return cmd_follow(argv[2], argv[3] if len(argv) == 4 else None)
        except KeyboardInterrupt:
            return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
