#!/usr/bin/python3
"""Integration test: behaviour detectors and hygiene recommendations through the real wardd.

A real Mosquitto on a free loopback port, the real wardd storing into a real SQLite file, and
CBOR reports built here with cbor2 (keys of docs/protocol.md) published over MQTT by a minimal
publisher of this file. The expected results come from the reports written, never from a run.

What it checks:
  1. an nmap -sS-like scan of cam-int-1 by 192.0.2.66 (SYN in, RST/ACK out) over 60 local ports,
     spread over two reports, gives exactly one behavior.port_scan alert (device, remote, count 2
     folded, 60 ports observed), in wardctl alerts and one line in the alerts JSON-lines file;
  2. a benign device (MQTT over TLS to one broker, NTP, DNS) raises nothing;
  3. telnet listening (report key 19) gives exactly one recommendation for cam-int-1:
     hygiene.insecure_service tcp/23, open, in `wardctl recommendations --json` and in its table;
     a later report without telnet resolves it;
  4. wardd exits 0 on SIGTERM.

Usage: test_behavior.py --bin BUILD/bin [--keep]
"""

import argparse
import ipaddress
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

try:
    import cbor2
except ImportError:
    cbor2 = None

SCANNER = "192.0.2.66"
T_BASE = 1700000000000  # ms, period start of report 1


# ---- reports ---------------------------------------------------------------------------------

def addr(text):
    return ipaddress.ip_address(text).packed


def report(device, seq, flows=(), listening=None, interval=60):
    start = T_BASE + (seq - 1) * 60000
    r = {0: [1, 0], 1: device, 2: "1.2.3", 3: 0x1234, 4: seq, 5: start, 6: start + 60000,
         9: interval, 18: [addr("10.0.0.2")], 16: list(flows)}
    if listening is not None:
        r[19] = listening
    return cbor2.dumps(r)


def flow(proto, initiator, lport, remote, rport, pout, pin, bout, bin_, first, last, tcp=None):
    f = [proto, initiator, 0, lport, addr(remote), rport, pout, pin, bout, bin_, first, last]
    if tcp is not None:
        f.append(tcp)
    return f


SYN, RST, ACK, PSH = 0x02, 0x04, 0x10, 0x08


def syn_scan(ports):
    # SYN in, RST/ACK out: flags out in bits 0-7, in in bits 8-15
    return [flow(6, 2, p, SCANNER, 61000, 1, 1, 40, 44, 1, 1, (RST | ACK) | (SYN << 8))
            for p in ports]


def benign():
    return [flow(6, 1, 40000, "198.18.0.10", 8883, 12, 10, 2400, 1800, 0, 59,
                 (SYN | ACK | PSH) | ((SYN | ACK | PSH) << 8)),
            flow(17, 1, 123, "198.18.0.20", 123, 1, 1, 76, 76, 3, 3),
            flow(17, 1, 5353, "198.18.0.53", 53, 2, 2, 140, 300, 1, 1)]


# ---- the test --------------------------------------------------------------------------------

def wardctl(bindir, db, *args):
    return h.run([os.path.join(bindir, "wardctl"), "--db", db] + list(args), timeout=30)


def wardctl_json(bindir, db, *args):
    r = wardctl(bindir, db, *(list(args) + ["--json"]))
    if r.returncode != 0:
        raise RuntimeError("wardctl %s failed (%s): %s" % (" ".join(args), r.returncode,
                                                           r.stderr.strip()))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with wardd and wardctl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("behavior")
    if cbor2 is None:
        print("behavior: python3-cbor2 is missing (apt-get install python3-cbor2)")
        return 1

    with h.Env(prefix="ward-beh-", keep=args.keep) as env:
        broker, port = h.start_broker(env)
        db, jsonl = env.path("ward.db"), env.path("alerts.jsonl")
        wardd = env.start("wardd", [os.path.join(bindir, "wardd"), "--broker",
                                    "127.0.0.1:%d" % port, "--db", db, "--alerts-jsonl", jsonl])
        if not c.check(wardd.wait_line(r"\bready\b", 20) is not None, "wardd says ready"):
            h.log(wardd.tail())
            return c.summary()

        pub = h.Publisher(port, "ward-int-pub")
        telnet = [[6, bytes(4), 23], [6, bytes(4), 8883]]
        pub.publish("ward/v1/cam-int-1/report",
                    report("cam-int-1", 1, syn_scan(range(1, 31)), listening=telnet))
        pub.publish("ward/v1/thermo-int-1/report", report("thermo-int-1", 1, benign()))
        pub.publish("ward/v1/cam-int-1/report", report("cam-int-1", 2, syn_scan(range(31, 61))))
        pub.publish("ward/v1/thermo-int-1/report", report("thermo-int-1", 2, benign()))

        def stored(n):
            def ok():
                devs = wardctl_json(bindir, db, "devices")
                return sum(d["reports"] for d in devs) >= n or None
            return ok
        c.check(h.wait_for(stored(4), 20) is not None, "wardd stored the 4 reports")

        # 1. exactly one port-scan alert, folded over the two reports
        alerts = wardctl_json(bindir, db, "alerts")
        got = sorted((a["type"], a["device"], a["evidence"].get("remote_addr"), a["count"],
                      a["state"]) for a in alerts)
        c.equal(got, [("behavior.port_scan", "cam-int-1", SCANNER, 2, "active")],
                "wardctl alerts: exactly the port scan, folded over the two reports")
        scan = [a for a in alerts if a["type"] == "behavior.port_scan"]
        if scan:
            ev = scan[0]["evidence"]
            c.equal(ev["observed"]["ports"], 60, "the alert counts the 60 ports probed")
            c.equal(ev["observed"]["rst_answers"], 60, "all 60 probes answered by RST")
            c.equal(ev["parameters"], {"min_ports": 20, "window_s": 300},
                    "the alert carries the default thresholds")
            c.equal(scan[0]["severity"], "medium", "port scan severity")
        lines = [json.loads(x) for x in open(jsonl, encoding="utf-8").read().splitlines() if x]
        c.equal([(x["type"], x["device"], x["evidence"]["remote_addr"]) for x in lines],
                [("behavior.port_scan", "cam-int-1", SCANNER)],
                "the JSON-lines sink got the new alert once")

        # 2/3. recommendations: telnet on cam-int-1 only
        recs = wardctl_json(bindir, db, "recommendations")
        c.equal(sorted((r["device"], r["type"], r["key"], r["state"], r["severity"])
                       for r in recs),
                [("cam-int-1", "hygiene.insecure_service", "tcp/23", "open", "high")],
                "wardctl recommendations: exactly telnet listening on cam-int-1")
        table = wardctl(bindir, db, "recommendations")
        c.check(table.returncode == 0 and "hygiene.insecure_service" in table.stdout
                and "tcp/23" in table.stdout and table.stdout.startswith("ID"),
                "the recommendations table lists it", None, table.stdout + table.stderr)
        only = wardctl_json(bindir, db, "recommendations", "--device", "thermo-int-1")
        c.equal(only, [], "--device filters (the benign device has none)")

        # telnet closed: resolved
        pub.publish("ward/v1/cam-int-1/report",
                    report("cam-int-1", 3, listening=[[6, bytes(4), 8883]]))

        def resolved():
            rs = wardctl_json(bindir, db, "recommendations", "--device", "cam-int-1")
            return rs if rs and rs[0]["state"] == "resolved" else None
        rs = h.wait_for(resolved, 20)
        c.check(rs is not None and "resolved_at" in rs[0],
                "a report without telnet resolves the recommendation", "resolved",
                rs or wardctl_json(bindir, db, "recommendations"))
        pub.close()

        # 4. clean exit
        c.equal(wardd.terminate(15), 0, "wardd exits 0 on SIGTERM")
        broker.terminate(5)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
