#!/usr/bin/env python3
"""Integration test: agent config pushed by wardctl, deny-list hits and rejected configs in wardd.

Real Mosquitto, wardd, wardctl and ward-agent (pcap mode), on 127.0.0.1:
  1. `wardctl config push DEVICE --deny 198.51.100.77:alert --interval 10` BEFORE ward-agent
     replays a capture in which the device talks to 198.51.100.77 (and to a clean address);
     ward-agent waits for the retained config, applies it, and sends a priority report (key 11)
     with the detection; wardd raises agent.deny_list_hit with that remote address, and
     `wardctl devices --json` shows config_rev = the pushed revision.
  2. An invalid config (interval 5) published raw with cbor2 (wardctl refuses to write one):
     ward-agent (a new process, so its built-in config is in force) rejects it, reports
     config_status, and wardd raises device.config_rejected (revision, status, reason); the
     device's config_rev is never the rejected revision.
  3. Every command example of docs/config.md, run against the same broker and database.
"""
import argparse
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

try:
    import cbor2
except ImportError:
    cbor2 = None

DEVICE = "sensor-12"
DEV_ADDR = "192.0.2.10"
DENY = "198.51.100.77"
CLEAN = "192.0.2.53"
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "config.md")


def capture(path):
    t0 = float(int(time.time()) - 300)
    scen = g.Scenario(t0)
    t = scen.tcp_session(t0 + 1, DEV_ADDR, DENY, 40001, 443, data_out=(120,), data_in=(300,))
    # Later traffic: the agent polls on the capture's clock, so the priority report goes out
    # before the capture ends (and the regular report that closes it).
    scen.udp_exchange(t + 3, DEV_ADDR, CLEAN, 40002, 53, requests=(40,), replies=(80,))
    scen.udp_exchange(t + 6, DEV_ADDR, CLEAN, 40003, 53, requests=(40,), replies=(80,))
    scen.write(path, "pcap", g.LINKTYPE_ETHERNET, [DEV_ADDR])


def wardctl(bindir, args, timeout=30):
    return h.run([os.path.join(bindir, "wardctl")] + args, timeout=timeout)


def json_of(r):
    try:
        return json.loads(r.stdout) if r.returncode == 0 else None
    except ValueError:
        return None


def docs_examples(c, bindir, port, db):
    """Each `$ wardctl ...` line of docs/config.md's console blocks, with the shown output."""
    with open(DOCS) as f:
        text = f.read()
    n = 0
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        items = re.split(r"^\$ ", block, flags=re.M)[1:]
        for item in items:
            lines = item.rstrip("\n").split("\n")
            cmd, shown = lines[0], "\n".join(lines[1:]).strip()
            argv = cmd.split()
            if argv[0] != "wardctl":
                continue
            argv = [a.replace("127.0.0.1:1883", "127.0.0.1:%d" % port)
                    .replace("/var/lib/ward/ward.db", db) for a in argv[1:]]
            r = wardctl(bindir, argv)
            n += 1
            want_rc = 2 if shown.startswith("wardctl: ") else 0
            c.equal(r.returncode, want_rc, "docs/config.md: `%s` exits %d" % (cmd[:70], want_rc))
            if not shown:
                continue
            if shown.startswith("{") or shown.startswith("["):
                c.equal(json_of(r), json.loads(shown), "docs/config.md: `%s` output" % cmd[:60])
            else:
                got = (r.stdout + r.stderr).strip()
                c.equal(got, shown, "docs/config.md: `%s` output" % cmd[:60])
    c.check(n >= 6, "docs/config.md has its examples", ">= 6", n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent, wardd and wardctl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("integration-agent-config")
    if not c.check(cbor2 is not None, "python3-cbor2 is installed"):
        return c.summary()
    agent = os.path.join(bindir, "ward-agent")

    with h.Env(prefix="ward-cfg-", keep=args.keep) as env:
        sub = None
        try:
            broker, port = h.start_broker(env)
            sub = h.Subscriber(port, ["ward/v1/%s/#" % DEVICE])
            db = env.path("ward.db")
            wardd = env.start("wardd", [os.path.join(bindir, "wardd"), "--broker",
                                        "127.0.0.1:%d" % port, "--db", db])
            if not c.check(wardd.wait_line(r"\bready\b", 20) is not None, "wardd says ready"):
                h.log(wardd.tail())
                return c.summary()
            cap = env.path("deny.pcap")
            capture(cap)
            run_agent = [agent, "--device-id", DEVICE, "--broker", "127.0.0.1:%d" % port,
                         "--pcap", cap, "--once", "--device-addr", DEV_ADDR]

            # 1. Push, then replay.
            r = wardctl(bindir, ["--broker", "127.0.0.1:%d" % port, "config", "push", DEVICE,
                                 "--deny", DENY + ":alert", "--interval", "10"])
            c.equal(r.returncode, 0, "wardctl config push exits 0")
            m = re.search(r"config revision (\d+) published", r.stdout)
            rev = int(m.group(1)) if m else -1
            c.check(abs(rev - time.time()) < 60, "the default revision is the Unix time", "now",
                    rev)
            shown = json_of(wardctl(bindir, ["--broker", "127.0.0.1:%d" % port, "config", "show",
                                             DEVICE]))
            c.equal((shown or {}).get("deny"), [{"cidr": DENY + "/32", "action": "alert"}],
                    "wardctl config show reads the retained deny-list back")
            r = h.run(run_agent, timeout=60)
            c.equal(r.returncode, 0, "ward-agent replays the capture (exit 0)")
            c.check("config applied" in r.stdout, "ward-agent applied the retained config",
                    "config applied", r.stdout.strip()[-300:])
            if r.returncode != 0:
                h.log("        | " + r.stderr.strip())

            def reports():
                return [cbor2.loads(p) for t, p, _ in sub.received() if t.endswith("/report")]
            det = h.wait_for(lambda: [x for x in reports() if 24 in x] or None, 10) or []
            c.check(len(det) >= 1, "a report with the detection (key 24) went out", ">= 1",
                    len(det))
            pri = [x for x in det if x.get(11) is True]
            c.check(len(pri) >= 1, "the detection went out in a priority report (key 11 true)",
                    ">= 1", [(x.get(4), sorted(x)) for x in reports()])
            for x in pri[:1]:
                d = x[24][0]
                c.equal((bytes(d[3]), d[6], d[7]), (socket.inet_aton(DENY), 0, 0),
                        "its detection: the denied address, rule 0, action alert")
                c.equal(x.get(10), rev, "the report carries the pushed revision")
                c.equal(16 in x, False, "the priority report carries no flows")

            def alerts_of(kind):
                a = json_of(wardctl(bindir, ["--db", db, "alerts", "--json"]))
                return [x for x in (a or []) if x.get("type") == kind] or None
            hits = h.wait_for(lambda: alerts_of("agent.deny_list_hit"), 20, 0.2) or []
            c.equal(len(hits), 1, "wardd raised one agent.deny_list_hit")
            if hits:
                ev = hits[0].get("evidence", {})
                c.equal((hits[0].get("severity"), ev.get("remote_addr"), ev.get("rule"),
                         ev.get("action"), ev.get("direction"), ev.get("protocol"),
                         ev.get("remote_port"), ev.get("local_port")),
                        ("high", DENY, 0, "alert", "outbound", "tcp", 443, 40001),
                        "deny_list_hit evidence")
                c.check(ev.get("count", 0) >= 1, "deny_list_hit counts packets", ">= 1",
                        ev.get("count"))

            def device():
                d = json_of(wardctl(bindir, ["--db", db, "devices", "--json"]))
                return next((x for x in (d or []) if x.get("id") == DEVICE), None)
            dev = h.wait_for(lambda: (device() or {}).get("config_rev") == rev and device(),
                             20, 0.2)
            c.equal((dev or {}).get("config_rev"), rev, "wardctl devices --json: config_rev")

            # 2. An invalid config, published raw (wardctl would refuse it).
            bad = cbor2.dumps({0: [1, 0], 1: rev + 1, 2: 5})
            h.publish_retained(port, "ward/v1/%s/config" % DEVICE, bad)
            r = wardctl(bindir, ["--broker", "127.0.0.1:%d" % port, "config", "show", DEVICE])
            c.equal(r.returncode, 1, "wardctl config show: the retained config is invalid")
            c.check("key 2 (interval)" in r.stderr, "and says which field", "key 2 (interval)",
                    r.stderr.strip())
            r = h.run(run_agent, timeout=60)
            c.equal(r.returncode, 0, "ward-agent with an invalid config still runs (exit 0)")
            c.check("config rejected" in r.stderr + r.stdout, "ward-agent rejects the config",
                    "config rejected", r.stderr.strip()[-300:])
            rej = h.wait_for(lambda: alerts_of("device.config_rejected"), 20, 0.2) or []
            c.equal(len(rej), 1, "wardd raised device.config_rejected")
            if rej:
                ev = rej[0].get("evidence", {})
                c.equal((rej[0].get("severity"), ev.get("revision"), ev.get("status"),
                         ev.get("reason")), ("medium", rev + 1, "out_of_range", "interval"),
                        "config_rejected evidence")
            dev = device() or {}
            c.check(dev.get("config_rev") != rev + 1,
                    "config_rev is never the rejected revision (a new ward-agent process runs "
                    "its built-in config: 0)", "0", dev.get("config_rev"))
            c.equal(len(alerts_of("agent.deny_list_hit") or []), 1,
                    "the second replay's hits (built-in config: no deny-list) raise nothing new")

            # 3. docs/config.md.
            docs_examples(c, bindir, port, db)
            c.equal(wardd.terminate(15), 0, "wardd exits 0 on SIGTERM")
        except Exception as e:
            c.check(False, "no exception", None, repr(e))
        finally:
            if sub is not None:
                sub.close()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
