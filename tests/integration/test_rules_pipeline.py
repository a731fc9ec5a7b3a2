#!/usr/bin/python3
"""Integration test: group rules through the real pipeline.

A real Mosquitto on a free loopback port, wardd on a real SQLite file, reports built here with
cbor2 (docs/protocol.md) and published at QoS 1 by a minimal MQTT publisher; groups applied and
devices assigned with wardctl, also while wardd runs.

What it checks (exact alerts: type, device, state, count, evidence):
  1. allowed traffic raises nothing;
  2. rule.outbound_ip_not_allowed (IPv4 and IPv6 flows, the offending flow as evidence),
     rule.listening_port_not_allowed, rule.c2d_messages (counter deltas) raise on the first
     violating report, rule.bytes_out (alarm_after 2) only on the second;
  3. clean reports resolve them (clear_after), folds count repeats;
  4. a device in "default" (no rules) sending the same traffic gets no rule alert, until it is
     moved into the group with wardctl while wardd runs: then its next report alarms;
  5. the alerts JSON-lines file has a line for each alert raised and each resolved.

Usage: test_rules_pipeline.py --bin BUILD/bin [--keep]
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

T0 = 1700000000000


# ---- reports ----------------------------------------------------------------------------------

def addr(text):
    return ipaddress.ip_address(text).packed


def flow(proto, direction, remote, rport, bytes_out, bytes_in, lport=40001):
    # [protocol, flags(initiator), local index, local port, remote, remote port, pkts out, pkts in,
    #  bytes out, bytes in, first, last]
    flags = {"out": 1, "in": 2}[direction]
    return [proto, flags, 0, lport, addr(remote), rport, bytes_out // 100 + 1, bytes_in // 100 + 1,
            bytes_out, bytes_in, 1, 2]


def report(device, seq, flows=(), listening=(), counters=None, boot=0xB007):
    r = {0: [1, 0], 1: device, 2: "1.0.0", 3: boot, 4: seq,
         5: T0 + seq * 60000, 6: T0 + seq * 60000 + 60000, 9: 60,
         16: list(flows), 18: [addr("10.0.0.2")],
         19: [[6, b"\0\0\0\0", p] for p in listening]}
    if counters is not None:
        r[21] = {0: counters[0], 1: counters[1]}
    return cbor2.dumps(r)


# ---- the test ---------------------------------------------------------------------------------

GROUP = {
    "group": "cams",
    "rules": [
        {"type": "rule.outbound_ip_not_allowed", "id": "cloud-only", "operator": "in-cidr-set",
         "values": ["10.0.0.0/8", "2001:db8:1::/48"], "severity": "high"},
        {"type": "rule.listening_port_not_allowed", "operator": "not-in-port-set",
         "values": [23, "2323"]},
        {"type": "rule.bytes_out", "max": 10000, "alarm_after": 2},
        {"type": "rule.c2d_messages", "max": 5},
    ],
}

ALLOWED = [flow(6, "out", "10.1.1.1", 443, 1000, 4000),
           flow(17, "out", "2001:db8:1::53", 53, 80, 120, lport=5353)]
BAD_V4 = flow(6, "out", "198.51.100.7", 443, 20000, 600, lport=40002)
BAD_V6 = flow(6, "out", "2001:db8:bad::5", 8883, 100, 100, lport=40003)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if cbor2 is None:
        print("python3-cbor2 is missing: skipped")
        return 77
    wardd = os.path.join(os.path.abspath(args.bin), "wardd")
    wardctl = os.path.join(os.path.abspath(args.bin), "wardctl")
    c = h.Checker("rules-pipeline")
    with h.Env(prefix="ward-rules-int-", keep=args.keep) as env:
        db, jsonl = env.path("ward.db"), env.path("alerts.jsonl")

        def ctl(*argv):
            r = h.run([wardctl, "--db", db] + list(argv))
            if r.returncode != 0:
                raise RuntimeError("wardctl %s: %s" % (" ".join(argv), r.stderr))
            return r.stdout

        # Groups before wardd runs (the database is created by wardctl).
        with open(env.path("cams.json"), "w") as f:
            json.dump(GROUP, f)
        ctl("group", "apply", env.path("cams.json"))
        ctl("device", "set-group", "cam-1", "cams")

        broker, port = h.start_broker(env)
        d = env.start("wardd", [wardd, "--broker", "127.0.0.1:%d" % port, "--db", db,
                                "--alerts-jsonl", jsonl] + (["--verbose"] if os.environ.get("WARD_VERBOSE") else []))
        if not c.check(d.wait_line("ready", 20) is not None, "wardd is ready"):
            print(d.tail())
            return c.summary()
        pub = h.Publisher(port, "ward-rules-pub")

        def reports_of(device):
            devs = json.loads(ctl("devices", "--json"))
            return next((x["reports"] for x in devs if x["id"] == device), 0)

        def send(device, seq, **kw):
            before = reports_of(device)
            pub.publish("ward/v1/%s/report" % device, report(device, seq, **kw))
            ok = h.wait_for(lambda: reports_of(device) > before, 10)
            if not ok:
                raise RuntimeError("wardd did not store %s seq %d:\n%s" % (device, seq, d.tail()))

        def rule_alerts(device=None):
            a = json.loads(ctl("alerts", "--json"))
            return {(x["device"], x["type"]): x for x in a
                    if x["type"].startswith("rule.") and (device is None or x["device"] == device)}

        # 1. Allowed traffic: nothing.
        send("cam-1", 0, flows=ALLOWED, listening=[443], counters=(1, 2))
        c.equal(rule_alerts(), {}, "allowed traffic raises no rule alert")

        # 2. Violations: outbound v4 + v6, telnet listening, 8 messages from the cloud, 20 kB out.
        send("cam-1", 1, flows=ALLOWED + [BAD_V4, BAD_V6], listening=[443, 2323], counters=(2, 10))
        a = rule_alerts("cam-1")
        c.equal(sorted(t for _, t in a), ["rule.c2d_messages", "rule.listening_port_not_allowed",
                                          "rule.outbound_ip_not_allowed"],
                "first violating report: three alerts (bytes_out waits for alarm_after 2)")
        out = a.get(("cam-1", "rule.outbound_ip_not_allowed"), {})
        ev = out.get("evidence", {})
        c.equal((out.get("severity"), out.get("state"), out.get("count"), ev.get("group"),
                 ev.get("rule_id"), ev.get("alarm"), ev.get("observed")),
                ("high", "active", 1, "cams", "cloud-only", "in_alarm", 2),
                "outbound: severity, state, count, group, rule, observed flows")
        c.equal(ev.get("rule"), dict(GROUP["rules"][0]), "outbound: the rule and its parameters")
        c.equal(sorted((f["remote_addr"], f["remote_port"], f["direction"], f["protocol"],
                        f["bytes_out"]) for f in ev.get("flows", [])),
                [("198.51.100.7", 443, "outbound", "tcp", 20000),
                 ("2001:db8:bad::5", 8883, "outbound", "tcp", 100)],
                "outbound: the offending IPv4 and IPv6 flows, not the allowed ones")
        lst = a.get(("cam-1", "rule.listening_port_not_allowed"), {}).get("evidence", {})
        c.equal(lst.get("listening"), [{"protocol": "tcp", "local_addr": "0.0.0.0", "port": 2323}],
                "listening: the socket on 2323")
        c2d = a.get(("cam-1", "rule.c2d_messages"), {}).get("evidence", {})
        c.equal((c2d.get("observed"), c2d.get("allowed")), (8, {"min": 0, "max": 5}),
                "c2d: 10 - 2 = 8 messages over max 5")

        # 3. Second report: bytes_out alarms (2nd datapoint); outbound and c2d clear; telnet folds.
        send("cam-1", 2, flows=[flow(6, "out", "10.1.1.1", 443, 20000, 100)], listening=[23],
             counters=(3, 10))
        a = rule_alerts("cam-1")
        states = {t: (x["state"], x["count"]) for (_, t), x in a.items()}
        c.equal(states, {"rule.outbound_ip_not_allowed": ("resolved", 1),
                         "rule.listening_port_not_allowed": ("active", 2),
                         "rule.c2d_messages": ("resolved", 1),
                         "rule.bytes_out": ("active", 1)},
                "second report: states and counts")
        bo = a.get(("cam-1", "rule.bytes_out"), {}).get("evidence", {})
        c.equal((bo.get("observed"), bo.get("datapoints"), bo.get("allowed")),
                (20000, 2, {"min": 0, "max": 10000}), "bytes_out: observed, datapoints, allowed")
        res = a.get(("cam-1", "rule.outbound_ip_not_allowed"), {}).get("evidence", {})
        c.equal((res.get("alarm"), "cleared_at" in res, len(res.get("flows", []))),
                ("cleared", True, 2), "resolved alert keeps its last violation, says cleared")

        # 4. A device in default: same traffic, no rule alert; moved into cams while wardd runs,
        #    its next report alarms.
        send("cam-2", 0, flows=[BAD_V4], listening=[2323], counters=(0, 0))
        c.equal(rule_alerts("cam-2"), {}, "default group: no rules, no rule alert")
        ctl("device", "set-group", "cam-2", "cams")
        send("cam-2", 1, flows=[BAD_V4], listening=[], counters=(0, 1))
        a = rule_alerts("cam-2")
        c.equal(sorted(t for _, t in a), ["rule.outbound_ip_not_allowed"],
                "after set-group: the next report is checked against cams")
        f0 = a.get(("cam-2", "rule.outbound_ip_not_allowed"), {}).get("evidence", {})
        c.equal([x["remote_addr"] for x in f0.get("flows", [])], ["198.51.100.7"],
                "cam-2: the offending flow")

        pub.close()
        rc = d.terminate()
        c.equal(rc, 0, "wardd exits 0 on SIGTERM")

        # 5. The JSON-lines sink: raised and resolved rule alerts, in order.
        lines = [json.loads(x) for x in open(jsonl)]
        got = [(x["device"], x["type"], x["state"]) for x in lines if x["type"].startswith("rule.")]
        c.equal(sorted(got), sorted([
            ("cam-1", "rule.outbound_ip_not_allowed", "active"),
            ("cam-1", "rule.listening_port_not_allowed", "active"),
            ("cam-1", "rule.c2d_messages", "active"),
            ("cam-1", "rule.outbound_ip_not_allowed", "resolved"),
            ("cam-1", "rule.c2d_messages", "resolved"),
            ("cam-1", "rule.bytes_out", "active"),
            ("cam-2", "rule.outbound_ip_not_allowed", "active")]),
            "alerts file: a line per raised and per resolved rule alert")
        if c.failed:
            print(d.tail(40))
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
