#!/usr/bin/python3
"""Integration test: capture -> ward-agent -> Mosquitto -> wardd -> SQLite / JSON lines -> wardctl.

Everything is real: the broker is Debian's mosquitto on a free loopback port, wardd stores into a
real SQLite file, ward-agent replays capture files this test writes byte by byte (pcapgen.py).
The expected flows and alerts are computed from the packets written (pcapgen's reference model)
and the intel list, never copied from a run.

What it checks:
  1. ward-agent exits 0 for every capture (pcap and pcapng; Ethernet, 802.1ad/Q, raw IP, SLL,
     SLL2, null, loop) and counts outbound / inbound / other / non-IP packets right;
  2. what was published on ward/v1/<id>/report, decoded here with cbor2, independently of wardd:
     header fields, sequence numbers, and flows summed over all reports equal the model; the
     status topic ends "offline"; `wardctl decode` reads every part as cbor2 does;
  3. wardd stores every report part (wardctl devices), exits 0 on SIGTERM;
  4. wardctl flows equals the model (per flow: packets and bytes both ways, initiator);
  5. wardctl alerts and the alerts JSON-lines file hold exactly the expected intel alerts (type,
     device, remote address, direction, protocol, ports, indicator), none for clean addresses
     nor for traffic that is not the device's.

Usage: test_pipeline.py --bin BUILD/bin [--keep]
"""

import argparse
import calendar
import ipaddress
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

try:
    import cbor2
except ImportError:  # the report check is skipped, and says so
    cbor2 = None

INTEL_LIST = """\
# ward integration test: a plain IP/CIDR list (comments, blank lines, inline comments)

# exact addresses
198.51.100.7          # IPv4: a C2 server the device dials
2001:db8:bad::5       # IPv6: a resolver that answers for a botnet

# ranges
203.0.113.0/24        # IPv4: scanners
2001:db8:dead::/48    # IPv6: a hosting range
"""


def intel_networks(text):
    nets = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            nets.append(ipaddress.ip_network(line, strict=False))
    return nets


# ---- the traffic -----------------------------------------------------------------------------

SENSOR_A = ["10.0.0.10", "2001:db8:1::10"]
GATEWAY_B = ["192.168.7.20", "fd00:7::20"]


def scenario_a(t0):
    """Device A: malicious flows of each kind early (all inside the first report interval), clean
    flows, some of them long-lived across three report intervals, and traffic that is not A's."""
    s = g.Scenario(t0)
    a4, a6 = SENSOR_A
    # Malicious. Outbound TCP to an exact IPv4 indicator: handshake, data both ways, close.
    s.tcp_session(1.0, a4, "198.51.100.7", 40001, 443, data_out=[120, 80], data_in=[1400])
    # Inbound TCP from the IPv4 CIDR to a device service port (telnet).
    s.tcp_session(3.0, "203.0.113.66", a4, 51000, 23, data_out=[10, 12], data_in=[60])
    # Outbound UDP to an exact IPv6 indicator (a DNS question and its answer).
    s.udp_exchange(5.0, a6, "2001:db8:bad::5", 5353, 53, requests=[33], replies=[97])
    # Inbound TCP from the IPv6 CIDR to the device's web port.
    s.tcp_session(7.0, "2001:db8:dead::99", a6, 60000, 8080, data_out=[200], data_in=[512, 512])

    # Clean: a long-lived MQTT-over-TLS connection across three report intervals.
    s.tcp_session(2.0, a4, "192.0.2.10", 41000, 8883, data_out=[300], data_in=[40], close=False)
    for t in (30.0, 61.0, 100.0, 121.0, 140.0):
        s.tcp(t, a4, "192.0.2.10", 41000, 8883, g.PSH | g.ACK, payload_len=2)
        s.tcp(t + 0.05, "192.0.2.10", a4, 8883, 41000, g.ACK)
    # Clean: NTP now and then, DNS, ping both families, an IPv6 HTTP fetch.
    for t in (10.0, 62.0, 122.0):
        s.udp_exchange(t, a4, "192.0.2.123", 123, 123, requests=[48], replies=[48])
    s.udp_exchange(12.0, a4, "192.0.2.53", 40053, 53, requests=[40, 40], replies=[120])
    s.ping(14.0, a4, "192.0.2.1", count=3)
    s.ping(16.0, a6, "2001:db8:c1ea::1", count=2)
    s.tcp_session(18.0, a6, "2001:db8:c1ea::80", 42000, 80, data_out=[150], data_in=[1200, 800])
    # Clean: a TCP connection seen mid-way (the capture started after its SYN): initiator unknown.
    s.tcp(20.0, a4, "192.0.2.77", 43000, 5683, g.PSH | g.ACK, payload_len=20)
    s.tcp(20.1, "192.0.2.77", a4, 5683, 43000, g.ACK)
    # Clean: an inbound ping to the device, answered.
    s.icmp(22.0, "192.0.2.200", a4, 8, payload_len=32)
    s.icmp(22.01, a4, "192.0.2.200", 0, payload_len=32)

    # Not A's traffic: another host talking to a malicious address, in both families, and ARP.
    s.tcp(25.0, "10.0.0.99", "198.51.100.7", 45000, 443, g.SYN)
    s.udp(26.0, "2001:db8:1::99", "2001:db8:bad::5", 5353, 53, 33)
    s.tcp(27.0, "203.0.113.5", "10.0.0.98", 1234, 22, g.SYN)
    s.arp(28.0)
    s.arp(95.0)
    # The last packet at 145 s: three reports at a 60 s interval (60, 120, final flush).
    s.udp(145.0, a4, "192.0.2.123", 123, 123, 48)
    return s


def scenario_b(t0):
    """Device B: outbound to the IPv6 CIDR (UDP), an outbound ping to the IPv4 CIDR, clean flows."""
    s = g.Scenario(t0)
    b4, b6 = GATEWAY_B
    s.udp_exchange(2.0, b6, "2001:db8:dead:1::7", 40123, 123, requests=[48, 48], replies=[48])
    s.ping(4.0, b4, "203.0.113.9", count=2, reply=False)
    s.tcp_session(6.0, b4, "192.0.2.10", 41500, 8883, data_out=[64, 64, 64], data_in=[4])
    s.udp_exchange(8.0, b6, "2001:db8:c1ea::53", 41053, 53, requests=[45], replies=[140])
    s.tcp_session(35.0, "192.168.7.1", b4, 50500, 80, data_out=[300], data_in=[2000])
    s.ping(40.0, b6, "2001:db8:c1ea::1", count=1)
    s.tcp(41.0, "192.168.7.1", "192.168.7.30", 1, 2, g.SYN)  # not B's
    s.arp(42.0)
    return s


def runs(t0):
    """(device id, scenario, device addresses, format, link type, vlan, --interval or None)."""
    a, b = scenario_a(t0), scenario_b(t0)
    return [
        ("sensor-a", a, SENSOR_A, "pcap", g.LINKTYPE_ETHERNET, None, None),
        ("gateway-b", b, GATEWAY_B, "pcapng", g.LINKTYPE_ETHERNET, None, 30),
        # A's traffic in every other link type ward-agent reads: same flows, same alerts.
        ("lt-vlan", a, SENSOR_A, "pcap", g.LINKTYPE_ETHERNET, [100, 200], 60),
        ("lt-raw", a, SENSOR_A, "pcapng", g.LINKTYPE_RAW, None, 60),
        ("lt-sll", a, SENSOR_A, "pcap", g.LINKTYPE_LINUX_SLL, None, 60),
        ("lt-sll2", a, SENSOR_A, "pcapng", g.LINKTYPE_LINUX_SLL2, None, 60),
        ("lt-sll-vlan", a, SENSOR_A, "pcapng", g.LINKTYPE_LINUX_SLL, 42, 60),
        ("lt-null", a, SENSOR_A, "pcap", g.LINKTYPE_NULL, None, 60),
        ("lt-loop", a, SENSOR_A, "pcapng", g.LINKTYPE_LOOP, None, 60),
    ]


# ---- expectations ----------------------------------------------------------------------------

def addr_str(a):
    return str(ipaddress.ip_address(a))


def service_flow_key(device, wire_key):
    """The model's key (wire form: ICMP type*256+code as remote port) in wardd's form: remote port
    0 and (icmp_type, icmp_code) beside it."""
    proto, local, lport, remote, rport = wire_key
    icmp = None
    if proto in ("icmp", "icmpv6"):
        icmp, rport = (rport >> 8, rport & 0xFF), 0
    return (device, proto, local, lport, remote, rport, icmp)


def expected_service_flows(plan):
    out = {}
    for dev, scen, addrs, *_ in plan:
        for k, v in scen.expected_flows(addrs).items():
            out[service_flow_key(dev, k)] = dict(v)
    return out


def first_last_ts(scen, addrs, wire_key):
    """Capture times of the first and last packet of one model flow."""
    mine = {ipaddress.ip_address(a) for a in addrs}
    times = []
    for p in scen.packets:
        if p.src in mine:
            local, remote, lport, rport = p.src, p.dst, p.sport, p.dport
        elif p.dst in mine:
            local, remote, lport, rport = p.dst, p.src, p.dport, p.sport
        else:
            continue
        if p.icmp is not None:
            lport, rport = 0, p.icmp[0] * 256 + p.icmp[1]
        if (str(local), lport, str(remote), rport) == wire_key[1:]:
            times.append(p.ts)
    return min(times), max(times)


def expected_alerts(plan, nets):
    """{(device, indicator network): alert fields} for every model flow whose remote address is
    in an indicator. The test is built so that each (device, indicator) has exactly one flow."""
    out, times = {}, {}
    for dev, scen, addrs, *_ in plan:
        for k, v in scen.expected_flows(addrs).items():
            proto, local, lport, remote, rport = k
            hits = [n for n in nets if ipaddress.ip_address(remote) in n]
            if not hits:
                continue
            if len(hits) != 1:
                raise AssertionError("test design: %s is in several indicators" % remote)
            key = (dev, str(hits[0]))
            if key in out:
                raise AssertionError("test design: two flows of %s match %s" % key)
            _, _, _, _, srport, icmp = service_flow_key(dev, k)[1:]
            ev = {"remote_addr": remote, "remote_port": srport, "local_port": lport,
                  "protocol": proto, "direction": v["initiator"], "indicator": str(hits[0])}
            if icmp is not None:
                ev["icmp_type"], ev["icmp_code"] = icmp
            out[key] = {"type": "intel.malicious_ip", "device": dev, "count": 1,
                        "state": "active", "evidence": ev}
            times[key] = first_last_ts(scen, addrs, k)
    return out, times


def alert_view(a):
    """The fields of an alert (wardctl or JSON lines) that the test compares exactly."""
    ev = a.get("evidence") or {}
    ind = ev.get("indicator") or {}
    try:
        value = str(ipaddress.ip_network(ind.get("value", ""), strict=False))
    except ValueError:
        value = ind.get("value")
    v = {"remote_addr": addr_str(ev["remote_addr"]) if ev.get("remote_addr") else None,
         "remote_port": ev.get("remote_port"), "local_port": ev.get("local_port"),
         "protocol": ev.get("protocol"), "direction": ev.get("direction"), "indicator": value}
    if "icmp_type" in ev or "icmp_code" in ev:
        v["icmp_type"], v["icmp_code"] = ev.get("icmp_type"), ev.get("icmp_code")
    return (a.get("device"), value), {"type": a.get("type"), "device": a.get("device"),
                                      "count": a.get("count"), "state": a.get("state"),
                                      "evidence": v}


def iso_to_epoch(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


# ---- report decoding (independent of wardd) --------------------------------------------------

PROTO_NAME = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
DIR_NAME = {0: "unknown", 1: "outbound", 2: "inbound"}


def decode_reports(messages):
    """{device: [report dict, ...]} from the published report messages, in arrival order."""
    out = {}
    for topic, payload, _ in messages:
        m = re.fullmatch(r"ward/v1/([^/]+)/report", topic)
        if m:
            out.setdefault(m.group(1), []).append(cbor2.loads(payload))
    return out


def flows_from_reports(reports):
    """Sum the flows of a device's reports into the model's form."""
    flows = {}
    for r in reports:
        locals_ = [ipaddress.ip_address(bytes(b)) for b in r.get(18, [])]
        for f in r.get(16, []):
            proto = PROTO_NAME.get(f[0], str(f[0]))
            key = (proto, str(locals_[f[2]]), f[3], str(ipaddress.ip_address(bytes(f[4]))), f[5])
            e = flows.setdefault(key, {"initiator": DIR_NAME.get(f[1] & 3, "?"), "packets_in": 0,
                                       "packets_out": 0, "bytes_in": 0, "bytes_out": 0})
            e["packets_out"] += f[6]
            e["packets_in"] += f[7]
            e["bytes_out"] += f[8]
            e["bytes_in"] += f[9]
    return flows


# ---- the test --------------------------------------------------------------------------------

def wardctl_json(bindir, db, *args):
    r = h.run([os.path.join(bindir, "wardctl"), "--db", db] + list(args) + ["--json"], timeout=30)
    if r.returncode != 0:
        raise RuntimeError("wardctl %s failed (%s): %s" % (" ".join(args), r.returncode,
                                                           r.stderr.strip()))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent, wardd and wardctl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("integration")
    for exe in ("ward-agent", "wardd", "wardctl"):
        if not os.access(os.path.join(bindir, exe), os.X_OK):
            c.check(False, "%s is built in %s" % (exe, bindir))
            return c.summary()

    nets = intel_networks(INTEL_LIST)
    t0 = float(int(time.time()) - 600)  # ten minutes ago: recent, and whole seconds
    plan = runs(t0)

    with h.Env(keep=args.keep) as env:
        sub = None
        try:
            broker, port = h.start_broker(env)
            h.log("broker: mosquitto on 127.0.0.1:%d; temp dir %s" % (port, env.dir))
            intel = env.path("intel.txt")
            with open(intel, "w") as f:
                f.write(INTEL_LIST)
            db, jsonl = env.path("ward.db"), env.path("alerts.jsonl")

            sub = h.Subscriber(port, ["ward/v1/+/report", "ward/v1/+/status"])
            wardd = env.start("wardd", [os.path.join(bindir, "wardd"), "--broker",
                                        "127.0.0.1:%d" % port, "--db", db, "--intel", intel,
                                        "--alerts-jsonl", jsonl])
            ready = wardd.wait_line(r"\bready\b", 20)
            if not c.check(ready is not None, "wardd says ready"):
                h.log(wardd.tail())
                return c.summary()

            # 1. Replay every capture.
            parts = {}
            for dev, scen, addrs, fmt, lt, vlan, interval in plan:
                cap = env.path("%s.%s" % (dev, fmt))
                scen.write(cap, fmt, lt, addrs, vlan)
                argv = [os.path.join(bindir, "ward-agent"), "--device-id", dev, "--broker",
                        "127.0.0.1:%d" % port, "--pcap", cap, "--once"]
                for a in addrs:
                    argv += ["--device-addr", a]
                if interval is not None:
                    argv += ["--interval", str(interval)]
                r = h.run(argv, timeout=60)
                c.check(r.returncode == 0, "ward-agent %s (%s, link type %d) exits 0"
                        % (dev, fmt, lt), 0, "%s; stderr: %s" % (r.returncode, r.stderr.strip()))
                m = re.search(r"(\d+) outbound, (\d+) inbound, (\d+) not the device's, (\d+) not "
                              r"IP.*?(\d+) report parts published", r.stdout)
                if not c.check(m is not None, "ward-agent %s prints its summary" % dev, None,
                               r.stdout):
                    continue
                o, i, other = scen.counts(addrs)
                non_ip = len(scen.non_ip) if lt == g.LINKTYPE_ETHERNET else 0
                c.equal([int(x) for x in m.groups()[:4]], [o, i, other, non_ip],
                        "ward-agent %s: outbound, inbound, not the device's, not IP" % dev)
                parts[dev] = int(m.group(5))

            # 2. What was published, decoded here.
            def all_reports_seen():
                got = decode_reports(sub.received()) if cbor2 else {}
                return all(len(got.get(d, [])) >= n for d, n in parts.items()) and got
            if cbor2 is None:
                c.check(False, "python3-cbor2 is installed (needed to decode reports)")
            else:
                got = h.wait_for(all_reports_seen, 20) or decode_reports(sub.received())
                for dev, scen, addrs, fmt, lt, vlan, interval in plan:
                    check_reports(c, dev, got.get(dev, []), parts.get(dev), scen, addrs,
                                  interval or 60)
                check_decode(c, bindir, env, sub.received())
            statuses = {}
            h.wait_for(lambda: all(any(t == "ward/v1/%s/status" % d and p == b"offline"
                                       for t, p, _ in sub.received()) for d in parts), 10)
            for t, p, _ in sub.received():
                m = re.fullmatch(r"ward/v1/([^/]+)/status", t)
                if m:
                    statuses.setdefault(m.group(1), []).append(p.decode(errors="replace"))
            for dev in parts:
                c.check(statuses.get(dev, [])[-1:] == ["offline"] and "online" in
                        statuses.get(dev, []), "%s status went online, then offline" % dev,
                        ["online", "offline"], statuses.get(dev))

            # 3. wardd stored every report part.
            def stored():
                try:
                    devs = wardctl_json(bindir, db, "devices")
                except (RuntimeError, ValueError):
                    return None
                n = {d.get("id"): d.get("reports") for d in devs}
                return n if all(n.get(d) == k for d, k in parts.items()) else None
            n = h.wait_for(stored, 30, 0.2)
            if not c.check(n is not None, "wardd stored every report part",
                           parts, _devices_or_error(bindir, db)):
                h.log(wardd.tail(30))
            rc = wardd.terminate(15)
            c.equal(rc, 0, "wardd exits 0 on SIGTERM")
            if rc != 0:
                h.log(wardd.tail(30))

            # 4. Flows.
            check_flows(c, bindir, db, plan)

            # 5. Alerts, in the database and in the JSON lines file.
            exp, times = expected_alerts(plan, nets)
            check_alerts(c, bindir, db, jsonl, exp, times)
        except Exception as e:  # a broken step: say which, then clean up
            c.check(False, "no unexpected error: %s: %s" % (type(e).__name__, e))
            for p in env.procs:
                if p.name != "mosquitto":
                    h.log("  %s output:\n%s" % (p.name, p.tail(15)))
        finally:
            if sub is not None:
                sub.close()
    return c.summary()


def _devices_or_error(bindir, db):
    try:
        return {d.get("id"): d.get("reports") for d in wardctl_json(bindir, db, "devices")}
    except (RuntimeError, ValueError) as e:
        return str(e)


def check_reports(c, dev, reports, parts, scen, addrs, interval):
    c.equal(len(reports), parts, "%s: every published part reached a subscriber" % dev)
    if not reports:
        return
    heads = {((r.get(0) or [None])[0], r.get(1),
              bool(re.fullmatch(r"\d+\.\d+\.\d+", str(r.get(2)))), r.get(8, 0), r.get(9))
             for r in reports}
    c.equal(sorted(heads, key=str), [(1, dev, True, 0, interval)],
            "%s: report headers (major version, device id, agent version, time base, interval)"
            % dev)
    boots = {r.get(3) for r in reports}
    c.equal(len(boots), 1, "%s: one boot id across its reports" % dev)
    seqs = sorted({r.get(4) for r in reports})
    c.equal(seqs, list(range(len(seqs))), "%s: sequence numbers 0..n-1" % dev)
    first, last = min(p.ts for p in scen.packets), max(p.ts for p in scen.packets)
    spans_ok = all(r.get(6, -1) >= r.get(5, 0) >= int(first * 1000) - 1000 and
                   r.get(6, 0) <= int(last * 1000) + 1000 for r in reports)
    c.check(spans_ok, "%s: report periods lie within the capture's time" % dev, None,
            [(r.get(5), r.get(6)) for r in reports])
    span = last - first
    c.check(len(seqs) >= int(span // interval) + 1,
            "%s: %d reports for a %.0f s capture at a %d s interval (capture time is the clock)"
            % (dev, len(seqs), span, interval))
    locals_ = set()
    for r in reports:
        locals_ |= {str(ipaddress.ip_address(bytes(b))) for b in r.get(18, [])}
    c.equal(sorted(locals_), sorted(addr_str(a) for a in addrs),
            "%s: local addresses reported" % dev)
    c.equal(flows_from_reports(reports), scen.expected_flows(addrs),
            "%s: flows in the reports (summed) match the capture" % dev)


def _wire_flow(f):
    """A report flow (cbor2 form) as a comparable tuple."""
    return (PROTO_NAME.get(f[0], str(f[0])), DIR_NAME.get(f[1] & 3), f[3],
            str(ipaddress.ip_address(bytes(f[4]))), f[5], f[6], f[7], f[8], f[9])


def _decoded_flow(f):
    """A flow of wardctl decode's JSON as the same tuple (ICMP: type*256+code as on the wire)."""
    rport = f.get("remote_port")
    if "icmp_type" in f:
        rport = f["icmp_type"] * 256 + f.get("icmp_code", 0)
    return (f.get("protocol"), f.get("initiator"), f.get("local_port"),
            addr_str(f.get("remote_addr")), rport, f.get("packets_out"), f.get("packets_in"),
            f.get("bytes_out"), f.get("bytes_in"))


def check_decode(c, bindir, env, messages):
    """wardctl decode and cbor2 must read every published part alike."""
    bad, n = [], 0
    for topic, payload, _ in messages:
        if not topic.endswith("/report"):
            continue
        n += 1
        path = env.path("part-%d.cbor" % n)
        with open(path, "wb") as f:
            f.write(payload)
        r = h.run([os.path.join(bindir, "wardctl"), "decode", path], timeout=30)
        ref = cbor2.loads(payload)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            bad.append((topic, "status %s, not JSON: %s" % (r.returncode, r.stderr.strip())))
            continue
        mine = (ref.get(1), ref.get(3), ref.get(4), ref.get(5), ref.get(6),
                sorted(_wire_flow(f) for f in ref.get(16, [])))
        theirs = (d.get("device_id"), d.get("boot_id"), d.get("seq"), d.get("period_start"),
                  d.get("period_end"), sorted(_decoded_flow(f) for f in d.get("flows", [])))
        if r.returncode != 0 or mine != theirs:
            bad.append((topic, {"cbor2": mine, "wardctl decode": theirs}))
    c.check(n > 0 and not bad, "wardctl decode reads all %d published parts as cbor2 does" % n,
            [], bad)


def check_flows(c, bindir, db, plan):
    rows = wardctl_json(bindir, db, "flows")
    got = {}
    for f in rows:
        icmp = None
        if f.get("protocol") in ("icmp", "icmpv6"):
            icmp = (f.get("icmp_type"), f.get("icmp_code"))
        key = (f.get("device"), f.get("protocol"), addr_str(f["local_addr"]), f.get("local_port"),
               addr_str(f["remote_addr"]), f.get("remote_port"), icmp)
        e = got.setdefault(key, {"initiator": f.get("initiator"), "packets_in": 0,
                                 "packets_out": 0, "bytes_in": 0, "bytes_out": 0})
        if e["initiator"] != f.get("initiator"):
            e["initiator"] = "inconsistent: %s/%s" % (e["initiator"], f.get("initiator"))
        for k in ("packets_in", "packets_out", "bytes_in", "bytes_out"):
            e[k] += f.get(k, 0)
    exp = expected_service_flows(plan)
    for dev in sorted({p[0] for p in plan}):
        c.equal({k: v for k, v in got.items() if k[0] == dev},
                {k: v for k, v in exp.items() if k[0] == dev},
                "wardctl flows: %s (packets, bytes, initiator of every flow)" % dev)
    stray = {k: v for k, v in got.items() if k[0] not in {p[0] for p in plan}}
    c.equal(stray, {}, "wardctl flows: no flows of unknown devices")


def check_alerts(c, bindir, db, jsonl, exp, times):
    alerts = wardctl_json(bindir, db, "alerts")
    got = {}
    for a in alerts:
        k, v = alert_view(a)
        if k in got:
            v = {"duplicate": [got[k], v]}
        got[k] = v
    c.equal(got, exp, "wardctl alerts: exactly the expected intel alerts (%d)" % len(exp))
    c.check(all(a.get("severity") and a.get("title") and a.get("id") is not None
                and ((a.get("evidence") or {}).get("indicator") or {}).get("source")
                for a in alerts), "wardctl alerts: id, severity, title, indicator source set")
    bad_times = []
    for a in alerts:
        k, _ = alert_view(a)
        if k not in times:
            continue
        lo, hi = times[k]
        try:
            fs, ls = iso_to_epoch(a["first_seen"]), iso_to_epoch(a["last_seen"])
        except (KeyError, ValueError):
            bad_times.append((k, a.get("first_seen"), a.get("last_seen")))
            continue
        if not (lo - 2 <= fs <= ls <= hi + 2):
            bad_times.append((k, a["first_seen"], a["last_seen"], lo, hi))
    c.equal(bad_times, [], "wardctl alerts: first/last seen are the flow's packet times")

    lines = []
    try:
        with open(jsonl) as f:
            lines = [json.loads(x) for x in f if x.strip()]
    except (OSError, ValueError) as e:
        c.check(False, "alerts JSON lines file readable: %s" % e)
    last = {}
    for a in lines:
        last[a.get("id")] = a  # a folded alert may be written again: the last line is current
    got_jl = {}
    for a in last.values():
        k, v = alert_view(a)
        got_jl[k] = v if k not in got_jl else {"duplicate": [got_jl[k], v]}
    c.equal(got_jl, exp, "alerts JSON lines: the same alerts")


if __name__ == "__main__":
    sys.exit(main())
