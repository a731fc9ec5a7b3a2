#!/usr/bin/python3
"""Integration test: a full flow table loses nothing, end to end.

A capture with far more flows than ward-agent's flow table holds (WARD_MAX_FLOWS, 64 by default)
is replayed by the real ward-agent through a real Mosquitto into a real wardd. What the table had
no room for goes into the agent's overflow summary (report key 17), which wardd stores; `wardctl
flows --json` lists it as entries marked "overflow": true beside the flows ("overflow": false).

What it checks, for the device:
  1. ward-agent exits 0 and counts the capture's outbound and inbound packets;
  2. `wardctl flows --device ID --json` has overflow entries (with untracked flows, the report
     period as first/last seen, a protocol and a direction), and every other row is a flow;
  3. the packets and the bytes of the flows plus those of the overflow entries equal exactly the
     device's packets and IP bytes in the capture, in total and per direction;
  4. the table view shows the overflow entries as lines marked OVERFLOW;
  5. another device whose flows all fit has no overflow entries, and its sums match too.

The capture spans three report intervals, so flows that go idle are evicted after a report and
new ones take their place: the table churns, and overflow happens in more than one report. It
also holds IPv4 and IPv6 fragments after the first (no ports: the agent counts them in the
summary under protocol 0).

Usage: test_overflow.py --bin BUILD/bin [--keep]
"""

import argparse
import ipaddress
import json
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

BUSY = ("busy-1", ["10.0.0.10", "2001:db8:1::10"])
CALM = ("calm-1", ["10.0.0.20", "2001:db8:1::20"])
TABLE = 64  # ward-agent's flow table (WARD_MAX_FLOWS default)


def later_fragment(src, dst, proto, payload_len, ident):
    """An IP packet that is a fragment other than the first: no transport header to read."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    body = b"f" * payload_len
    if s.version == 4:
        total = 20 + len(body)
        # Fragment offset 185 (x 8 bytes), more fragments clear: the last fragment of a datagram.
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 185, 64, proto, 0, s.packed,
                          d.packed)
        return hdr + body
    frag = struct.pack("!BBHI", proto, 0, 185 << 3, ident)  # offset 185, M clear
    return struct.pack("!IHBB16s16s", 6 << 28, len(frag) + len(body), 44, 64, s.packed,
                       d.packed) + frag + body


def busy_scenario(t0, addrs):
    """Over 170 s: a few long-lived flows, and in each minute ~120 short new ones (TCP, UDP,
    ping; both families; outbound and inbound), far more than the table holds."""
    s = g.Scenario(t0)
    a4, a6 = addrs
    s.tcp_session(1.0, a4, "192.0.2.10", 41000, 8883, data_out=[300], data_in=[40], close=False)
    for t in range(5, 170, 10):
        s.tcp(float(t), a4, "192.0.2.10", 41000, 8883, g.PSH | g.ACK, payload_len=20)
        s.tcp(t + 0.05, "192.0.2.10", a4, 8883, 41000, g.ACK)
    n = 0
    for minute in range(3):
        for i in range(120):
            t = minute * 60 + 2 + i * 0.45
            n += 1
            v6 = n % 10 < 3
            local = a6 if v6 else a4
            remote = ("2001:db8:77::%x" % n) if v6 else ("198.18.%d.%d" % (n // 250, n % 250 + 1))
            kind = n % 7
            if kind in (0, 1, 2):
                s.tcp_session(t, local, remote, 42000 + n, 443, data_out=[100 + n % 50],
                              data_in=[500 + n % 300])
            elif kind == 3:
                s.tcp_session(t, remote, local, 50000 + n, 80, data_out=[60], data_in=[900])
            elif kind in (4, 5):
                s.udp_exchange(t, local, remote, 43000 + n, 53, requests=[33], replies=[90])
            else:
                s.ping(t, local, remote, count=1)
    # Fragments after the first, both families, both directions.
    for k, (src, dst) in enumerate([(a4, "198.18.200.1"), ("198.18.200.2", a4),
                                    (a6, "2001:db8:77::ff01"), ("2001:db8:77::ff02", a6)]):
        ip = later_fragment(src, dst, g.UDP, 700 + k, 0x4000 + k)
        s.packets.append(g.Packet(t0 + 30 + k, src, dst, g.UDP, 0, 0, ip))
    s.udp(175.0, a4, "192.0.2.123", 123, 123, 48)  # the last packet
    return s


def calm_scenario(t0, addrs):
    s = g.Scenario(t0)
    a4, a6 = addrs
    s.tcp_session(2.0, a4, "192.0.2.10", 41500, 8883, data_out=[64, 64], data_in=[4])
    s.udp_exchange(5.0, a6, "2001:db8:c1ea::53", 41053, 53, requests=[45], replies=[140])
    s.ping(9.0, a4, "192.0.2.1", count=2)
    return s


def capture_totals(scen, addrs):
    """{packets_out, packets_in, bytes_out, bytes_in} of the device's packets (ward-agent's
    direction model: from a device address outbound, to one inbound, else not the device's)."""
    mine = {ipaddress.ip_address(a) for a in addrs}
    t = {"packets_out": 0, "packets_in": 0, "bytes_out": 0, "bytes_in": 0}
    for p in scen.packets:
        if p.src in mine:
            d = "out"
        elif p.dst in mine:
            d = "in"
        else:
            continue
        t["packets_" + d] += 1
        t["bytes_" + d] += len(p.ip)
    return t


def distinct_flows(scen, addrs):
    return len(scen.expected_flows(addrs))


def wardctl(bindir, db, *args):
    return h.run([os.path.join(bindir, "wardctl"), "--db", db] + list(args), timeout=30)


def sums(rows):
    """Totals of wardctl flows rows: flows by their per-direction counters, overflow entries by
    their packets/bytes and direction."""
    t = {"packets_out": 0, "packets_in": 0, "bytes_out": 0, "bytes_in": 0}
    for r in rows:
        if r.get("overflow") is True:
            d = {"outbound": "out", "inbound": "in"}.get(r.get("direction"))
            if d is None:
                t["unknown direction"] = t.get("unknown direction", 0) + r.get("packets", 0)
                continue
            t["packets_" + d] += r.get("packets", 0)
            t["bytes_" + d] += r.get("bytes", 0)
        else:
            for k in ("packets_out", "packets_in", "bytes_out", "bytes_in"):
                t[k] += r.get(k, 0)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent, wardd and wardctl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("integration-overflow")
    for exe in ("ward-agent", "wardd", "wardctl"):
        if not os.access(os.path.join(bindir, exe), os.X_OK):
            c.check(False, "%s is built in %s" % (exe, bindir))
            return c.summary()

    t0 = float(int(time.time()) - 600)
    plan = [(BUSY[0], busy_scenario(t0, BUSY[1]), BUSY[1]),
            (CALM[0], calm_scenario(t0, CALM[1]), CALM[1])]
    n_busy = distinct_flows(plan[0][1], BUSY[1])
    c.check(n_busy > 3 * TABLE, "test design: %d distinct flows for a %d-flow table"
            % (n_busy, TABLE))

    with h.Env(prefix="ward-ovf-", keep=args.keep) as env:
        try:
            broker, port = h.start_broker(env)
            h.log("broker: mosquitto on 127.0.0.1:%d; temp dir %s" % (port, env.dir))
            db = env.path("ward.db")
            wardd = env.start("wardd", [os.path.join(bindir, "wardd"), "--broker",
                                        "127.0.0.1:%d" % port, "--db", db])
            if not c.check(wardd.wait_line(r"\bready\b", 20) is not None, "wardd says ready"):
                h.log(wardd.tail())
                return c.summary()

            # 1. Replay.
            parts = {}
            for dev, scen, addrs in plan:
                cap = env.path(dev + ".pcap")
                scen.write(cap, "pcap", g.LINKTYPE_ETHERNET, addrs)
                argv = [os.path.join(bindir, "ward-agent"), "--device-id", dev, "--broker",
                        "127.0.0.1:%d" % port, "--pcap", cap, "--once", "--interval", "60"]
                for a in addrs:
                    argv += ["--device-addr", a]
                r = h.run(argv, timeout=60)
                c.check(r.returncode == 0, "ward-agent %s exits 0" % dev, 0,
                        "%s; stderr: %s" % (r.returncode, r.stderr.strip()))
                m = re.search(r"(\d+) outbound, (\d+) inbound, .*?(\d+) report parts published",
                              r.stdout, re.S)
                if not c.check(m is not None, "ward-agent %s prints its summary" % dev, None,
                               r.stdout):
                    continue
                tot = capture_totals(scen, addrs)
                c.equal([int(m.group(1)), int(m.group(2))],
                        [tot["packets_out"], tot["packets_in"]],
                        "ward-agent %s: outbound and inbound packets" % dev)
                parts[dev] = int(m.group(3))

            def stored():
                r = wardctl(bindir, db, "devices", "--json")
                if r.returncode != 0:
                    return None
                try:
                    n = {d.get("id"): d.get("reports") for d in json.loads(r.stdout)}
                except ValueError:
                    return None
                return n if all(n.get(d) == k for d, k in parts.items()) else None
            if not c.check(h.wait_for(stored, 30, 0.2) is not None,
                           "wardd stored every report part", parts):
                h.log(wardd.tail(30))
            c.equal(wardd.terminate(15), 0, "wardd exits 0 on SIGTERM")

            # 2-3, 5. The flows and the overflow entries, per device.
            for dev, scen, addrs in plan:
                r = wardctl(bindir, db, "flows", "--device", dev, "--json")
                if not c.check(r.returncode == 0, "wardctl flows --device %s --json exits 0"
                               % dev, 0, "%s: %s" % (r.returncode, r.stderr.strip())):
                    continue
                rows = json.loads(r.stdout)
                ov = [x for x in rows if x.get("overflow") is True]
                fl = [x for x in rows if x.get("overflow") is False]
                c.equal(len(ov) + len(fl), len(rows),
                        "%s: every row says \"overflow\": true or false" % dev)
                c.equal(sorted({x.get("device") for x in rows}), [dev],
                        "%s: only the device's rows" % dev)
                if dev == BUSY[0]:
                    c.check(len(ov) > 0 and sum(x.get("flows", 0) for x in ov) > 0,
                            "%s: overflow entries with untracked flows" % dev, "> 0",
                            [(x.get("protocol"), x.get("direction"), x.get("flows"))
                             for x in ov])
                    c.check(len({x.get("first_seen") for x in ov}) > 1,
                            "%s: overflow in more than one report (the table churns)" % dev,
                            None, sorted({x.get("first_seen") for x in ov}))
                    c.check(any(x.get("protocol") == "0" for x in ov),
                            "%s: later fragments counted under protocol 0" % dev, None,
                            sorted({x.get("protocol") for x in ov}))
                    fields = {"device", "overflow", "protocol", "direction", "flows", "packets",
                              "bytes", "first_seen", "last_seen"}
                    c.check(all(fields <= set(x) and x["first_seen"] <= x["last_seen"]
                                for x in ov),
                            "%s: overflow entries have %s" % (dev, ", ".join(sorted(fields))),
                            None, ov[:3])
                    c.check(all(set(x) >= {"local_addr", "remote_addr", "initiator"}
                                for x in fl), "%s: flow rows are flows" % dev)
                else:
                    c.equal(ov, [], "%s: no overflow entries (all flows fit)" % dev)
                c.equal(sums(rows), capture_totals(scen, addrs),
                        "%s: flows + overflow entries = the capture's packets and bytes, each way"
                        % dev)

            # 4. The table view.
            r = wardctl(bindir, db, "flows", "--device", BUSY[0])
            lines = [x for x in r.stdout.splitlines() if "OVERFLOW" in x]
            c.check(r.returncode == 0 and lines and all("untracked flows" in x for x in lines),
                    "wardctl flows (table): overflow entries are lines marked OVERFLOW", None,
                    r.stdout[-800:])
        except Exception as e:  # a broken step: say which, then clean up
            c.check(False, "no unexpected error: %s: %s" % (type(e).__name__, e))
            for p in env.procs:
                if p.name != "mosquitto":
                    h.log("  %s output:\n%s" % (p.name, p.tail(15)))
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
