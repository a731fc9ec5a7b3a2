#!/usr/bin/python3
"""Integration tests of threat intelligence in wardd and wardctl (issue 4, docs/feeds.md).

Everything is real: Mosquitto on a free loopback port, wardd with a SQLite file, ward-agent
replaying captures this test writes (pcapgen.py), feeds written here in their published formats,
and for URLs and TAXII an HTTP server (python3 http.server) on 127.0.0.1 started by this test.

Cases (--case NAME, default all):
  feeds   a folder of feeds in four formats (STIX 2.1, Zeek intel, Spamhaus DROP, plain list) and
          a capture -> exactly the expected intel.malicious_ip alerts, with the indicator metadata,
          every match, folding (count, last_flow) and the same evidence in the JSON lines;
  reload  wardd running: append to a watched file, save a file the way editors do (write a
          temporary file, rename it over), drop a new file into a watched folder -> each is
          reloaded (one summary line with timings) and traffic to the new indicators alerts;
  retro   traffic first, then the indicator is added to the feed -> a retrospective alert for the
          past contact, with the contact's first/last seen; none for clean contacts;
  taxii   a TAXII 2.1 collection served in two pages (more/next), then an update that revokes one
          indicator and adds another -> matches follow; the poll sends the TAXII Accept header,
          added_after and next; a plain URL feed is fetched again with If-None-Match (304);
  check   wardctl intel check: exit 0/1/2 and its output (table and JSON);
  docs    every `wardctl intel check` example in docs/feeds.md gives the output shown there.

Usage: test_intel.py --bin BUILD/bin [--case NAME] [--keep]
"""

import argparse
import calendar
import http.server
import ipaddress
import json
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEV_ADDRS = ["10.0.0.10", "2001:db8:1::10"]


# ---- helpers ------------------------------------------------------------------------------------

class Wardd:
    """A broker and a wardd on it; replay() sends a scenario through ward-agent."""

    def __init__(self, env, bindir, c, args):
        self.env, self.bindir, self.c = env, bindir, c
        self.broker, self.port = h.start_broker(env)
        self.db, self.jsonl = env.path("ward.db"), env.path("alerts.jsonl")
        argv = [os.path.join(bindir, "wardd"), "--broker", "127.0.0.1:%d" % self.port, "--db",
                self.db, "--alerts-jsonl", self.jsonl] + args
        self.p = env.start("wardd", argv)
        self.ready = self.p.wait_line(r"\bready\b", 30)
        self.parts = 0
        self.n = 0

    def replay(self, dev, scen):
        self.n += 1
        cap = self.env.path("cap-%d.pcap" % self.n)
        scen.write(cap, "pcap", g.LINKTYPE_ETHERNET, DEV_ADDRS)
        argv = [os.path.join(self.bindir, "ward-agent"), "--device-id", dev, "--broker",
                "127.0.0.1:%d" % self.port, "--pcap", cap, "--once"]
        for a in DEV_ADDRS:
            argv += ["--device-addr", a]
        r = h.run(argv, timeout=60)
        self.c.check(r.returncode == 0, "ward-agent replays capture %d" % self.n, 0,
                     "%s: %s" % (r.returncode, r.stderr.strip()))
        m = re.search(r"(\d+) report parts published", r.stdout)
        self.parts += int(m.group(1)) if m else 0
        # Wait until wardd stored every part published so far.
        ok = h.wait_for(lambda: self.reports() >= self.parts, 30, 0.1)
        self.c.check(ok, "wardd stored the reports of capture %d" % self.n, self.parts,
                     self.reports())

    def reports(self):
        try:
            return sum(d.get("reports", 0) for d in self.ctl("devices"))
        except (RuntimeError, ValueError):
            return 0

    def ctl(self, *args):
        r = h.run([os.path.join(self.bindir, "wardctl"), "--db", self.db] + list(args) +
                  ["--json"], timeout=30)
        if r.returncode != 0:
            raise RuntimeError("wardctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return json.loads(r.stdout)

    def alerts(self):
        return [a for a in self.ctl("alerts") if a.get("type") == "intel.malicious_ip"]

    def lines(self):
        try:
            with open(self.jsonl) as f:
                return [json.loads(x) for x in f if x.strip()]
        except OSError:
            return []

    def wait_log(self, pattern, timeout=20):
        return self.p.wait_line(pattern, timeout)

    def stop(self):
        rc = self.p.terminate(15)
        self.c.equal(rc, 0, "wardd exits 0 on SIGTERM")
        if rc != 0:
            h.log(self.p.tail(30))


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def scenario(t0, targets):
    """Outbound TCP sessions (or UDP for port 53) from the device to each (addr, port)."""
    s = g.Scenario(t0)
    t = 1.0
    for i, (addr, port) in enumerate(targets):
        local = DEV_ADDRS[0] if ipaddress.ip_address(addr).version == 4 else DEV_ADDRS[1]
        if port == 53:
            t = s.udp_exchange(t, local, addr, 40000 + i, 53, requests=[40], replies=[90])
        else:
            t = s.tcp_session(t, local, addr, 40000 + i, port, data_out=[100], data_in=[200])
        t += 0.5
    return s


def by_key(alerts):
    """{(device, indicator value, indicator source basename): alert}."""
    out = {}
    for a in alerts:
        ind = a["evidence"].get("indicator", {})
        k = (a["device"], ind.get("value"), os.path.basename(ind.get("source", "")))
        out[k] = a if k not in out else {"duplicate": True}
    return out


# ---- (a) a folder of feeds -----------------------------------------------------------------------

STIX = {
    "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {"type": "indicator", "spec_version": "2.1",
         "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2024-03-01T00:00:00.000Z", "modified": "2024-03-01T00:00:00.000Z",
         "name": "C2 server", "indicator_types": ["malicious-activity"],
         "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [ipv4-addr:value = '203.0.113.9']",
         "pattern_type": "stix", "valid_from": "2024-03-01T00:00:00Z",
         "valid_until": "2099-01-01T00:00:00Z", "confidence": 85},
        {"type": "indicator", "spec_version": "2.1",
         "id": "indicator--0a6e7b3e-4a2c-4c43-8f2a-7a8b2c1d0e9f",
         "created": "2024-03-01T00:00:00.000Z", "modified": "2024-03-01T00:00:00.000Z",
         "pattern": "[domain-name:value = 'bad.example']", "pattern_type": "stix",
         "valid_from": "2024-03-01T00:00:00Z"},
    ]}
ZEEK = ("#separator \\x09\n"
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\tmeta.confidence\n"
        "192.0.2.66\tIntel::ADDR\tzeek-feed\tBotnet C2\thttps://intel.example/ioc/66\t90\n"
        "2001:db8:bad::5\tIntel::ADDR\tzeek-feed\tBotnet resolver\t-\t70\n"
        "bad.example\tIntel::DOMAIN\tzeek-feed\t-\t-\t-\n")
DROP = ("; Spamhaus DROP List 2024/06/05 - (c) 2024 The Spamhaus Project SLU\n"
        "203.0.113.0/24 ; SBL123456\n")
PLAIN = ("# local blocklist\n"
         "198.51.100.7\n"
         "2001:db8:dead::/48   # hosting range\n"
         "999.1.1.1\n")


def case_feeds(env, bindir, c):
    feeds = env.path("feeds")
    os.mkdir(feeds)
    write(os.path.join(feeds, "bundle.json"), json.dumps(STIX))
    write(os.path.join(feeds, "intel.dat"), ZEEK)
    write(os.path.join(feeds, "drop.txt"), DROP)
    write(os.path.join(feeds, "local.txt"), PLAIN)
    w = Wardd(env, bindir, c, ["--intel", feeds])
    if not c.check(w.ready is not None, "wardd says ready"):
        h.log(w.p.tail())
        return
    out = w.p.output()
    # Startup: one summary line per feed, and the bad line with its file and line number.
    c.check(re.search(r"intel: feed %s: folder of 4 files, 7 loaded, 2 skipped, 1 bad"
                      % re.escape(feeds), out) is not None,
            "startup summary line for the folder", None, out)
    c.check(re.search(r"%s:4: .*999\.1\.1\.1" % re.escape(os.path.join(feeds, "local.txt")),
                      out) is not None, "bad line reported as file:line: reason", None, out)
    c.check("(7 indicators)" in w.ready, "ready line counts 7 indicators", None, w.ready)

    t0 = float(int(time.time()) - 300)
    s = g.Scenario(t0)
    a4, a6 = DEV_ADDRS
    s.tcp_session(1.0, a4, "198.51.100.7", 40001, 443, data_out=[120], data_in=[900])
    s.tcp_session(3.0, "203.0.113.66", a4, 51000, 23, data_out=[10], data_in=[60])
    s.udp_exchange(5.0, a4, "203.0.113.9", 40053, 53, requests=[40], replies=[90])
    s.tcp_session(7.0, a4, "192.0.2.66", 40002, 8080, data_out=[50], data_in=[50])
    s.udp_exchange(11.0, a6, "2001:db8:bad::5", 40054, 53, requests=[40], replies=[90])
    s.tcp_session(13.0, "2001:db8:dead::99", a6, 60000, 80, data_out=[300], data_in=[100])
    s.tcp_session(15.0, a4, "192.0.2.10", 41000, 8883, data_out=[30], data_in=[30])  # clean
    s.udp_exchange(17.0, a6, "2001:db8:c1ea::53", 41053, 53, requests=[40], replies=[90])
    # A repeat in the next report (60 s interval): folded into the first alert.
    s.tcp_session(70.0, a4, "192.0.2.66", 40003, 8080, data_out=[50], data_in=[50])
    w.replay("sensor-a", s)
    alerts = h.wait_for(lambda: len(w.alerts()) >= 6 and w.alerts(), 20) or w.alerts()
    w.stop()

    def ind(value, source, category, confidence, ref, first_seen=None, expires=None):
        return {"value": value, "source": os.path.join(feeds, source), "category": category,
                "confidence": confidence, "first_seen": first_seen, "expires": expires,
                "ref": ref}
    stix_id = STIX["objects"][0]["id"]
    stix_7 = ind("198.51.100.7", "bundle.json", "malicious-activity", 85, stix_id,
                 "2024-03-01T00:00:00Z", "2099-01-01T00:00:00Z")
    stix_9 = dict(stix_7, value="203.0.113.9")
    plain_7 = ind("198.51.100.7", "local.txt", "", 75, "")
    drop = ind("203.0.113.0/24", "drop.txt", "spamhaus_drop", 100, "SBL123456")
    zeek_66 = ind("192.0.2.66", "intel.dat", "Botnet C2", 90, "https://intel.example/ioc/66")
    zeek_5 = ind("2001:db8:bad::5", "intel.dat", "Botnet resolver", 70, "zeek-feed")
    plain_48 = ind("2001:db8:dead::/48", "local.txt", "", 75, "")
    # (remote, port, direction, indicator, every match, count)
    exp = {
        ("sensor-a", "198.51.100.7", "bundle.json"):
            ("198.51.100.7", 443, "outbound", stix_7, [stix_7, plain_7], 1),
        ("sensor-a", "203.0.113.0/24", "drop.txt"):
            ("203.0.113.66", 51000, "inbound", drop, [drop], 1),
        ("sensor-a", "203.0.113.9", "bundle.json"):
            ("203.0.113.9", 53, "outbound", stix_9, [stix_9, drop], 1),
        ("sensor-a", "192.0.2.66", "intel.dat"):
            ("192.0.2.66", 8080, "outbound", zeek_66, [zeek_66], 2),
        ("sensor-a", "2001:db8:bad::5", "intel.dat"):
            ("2001:db8:bad::5", 53, "outbound", zeek_5, [zeek_5], 1),
        ("sensor-a", "2001:db8:dead::/48", "local.txt"):
            ("2001:db8:dead::99", 60000, "inbound", plain_48, [plain_48], 1),
    }
    got = by_key(alerts)
    c.equal(sorted(got), sorted(exp), "one alert per (device, indicator), no others")
    for k, (remote, port, direction, indicator, matches, count) in exp.items():
        a = got.get(k)
        if a is None or "duplicate" in a:
            continue
        ev = a["evidence"]
        view = {"remote_addr": ev.get("remote_addr"), "remote_port": ev.get("remote_port"),
                "direction": ev.get("direction"), "indicator": ev.get("indicator"),
                "matches": ev.get("matches"), "count": a.get("count"),
                "retrospective": ev.get("retrospective")}
        c.equal(view, {"remote_addr": remote, "remote_port": port, "direction": direction,
                       "indicator": indicator, "matches": matches, "count": count,
                       "retrospective": None}, "alert %s %s: evidence and metadata" % k[1:])
    # The folded alert: evidence = the first flow, last_flow = the second.
    a = got.get(("sensor-a", "192.0.2.66", "intel.dat"), {})
    ev = a.get("evidence", {})
    c.equal((ev.get("local_port"), (ev.get("last_flow") or {}).get("local_port")), (40002, 40003),
            "folded alert: evidence is the first flow, last_flow the latest")
    # JSON lines: one line per alert, the evidence the database has (minus last_flow).
    lines = {a["id"]: a for a in w.lines() if a.get("type") == "intel.malicious_ip"}
    c.equal(len(w.lines()), len(lines), "one JSON line per alert")
    same = all(lines.get(a["id"], {}).get("evidence") ==
               {k: v for k, v in a["evidence"].items() if k != "last_flow"} for a in alerts)
    c.check(same and len(lines) == len(alerts),
            "JSON lines carry the same evidence as the database (first flow)")


# ---- (b) live reload ---------------------------------------------------------------------------

def case_reload(env, bindir, c):
    folder = env.path("feeds.d")
    os.mkdir(folder)
    single = env.path("single.txt")
    write(single, "198.51.100.1\n")
    write(os.path.join(folder, "a.txt"), "198.51.100.2\n")
    w = Wardd(env, bindir, c, ["--intel", single, "--intel", folder])
    if not c.check(w.ready is not None, "wardd says ready"):
        h.log(w.p.tail())
        return
    reload_rx = (r"intel: (%s) changed: (\d+) indicators from 2 feeds \((\d+) new, \d+ bad "
                 r"records\), index \d+ KiB; load \d+ ms, build \d+ ms, publish \d+ ms")
    seen = [0]

    def wait_reload(path, what):
        rx = re.compile(reload_rx % re.escape(path))
        ok = h.wait_for(lambda: len([x for x in w.p.output().splitlines() if rx.search(x)]) >
                        seen[0], 10)
        seen[0] = len([x for x in w.p.output().splitlines() if rx.search(x)])
        c.check(ok, "reload logged after %s" % what, None, w.p.tail(5))

    t0 = float(int(time.time()) - 120)
    # 1. Append to the watched file (an operator's echo >>).
    with open(single, "a") as f:
        f.write("198.51.100.50\n")
    wait_reload(single, "an append")
    # 2. An editor's save: a temporary file renamed over the original.
    write(single, "198.51.100.1\n198.51.100.50\n198.51.100.70\n")
    wait_reload(single, "a rename over the file")
    # 3. A new file dropped into the watched folder.
    write(os.path.join(folder, "new.txt"), "198.51.100.60\n")
    seen[0] = 0
    wait_reload(folder, "a new file in the folder")
    w.replay("sensor-b", scenario(t0, [("198.51.100.50", 443), ("198.51.100.60", 443),
                                       ("198.51.100.70", 443), ("198.51.100.99", 443)]))
    alerts = h.wait_for(lambda: len(w.alerts()) >= 3 and w.alerts(), 10) or w.alerts()
    w.stop()
    got = sorted((a["evidence"]["indicator"]["value"],
                  os.path.basename(a["evidence"]["indicator"]["source"])) for a in alerts)
    c.equal(got, [("198.51.100.50", "single.txt"), ("198.51.100.60", "new.txt"),
                  ("198.51.100.70", "single.txt")], "alerts for the indicators added live")


# ---- (c) retro-hunt ----------------------------------------------------------------------------

def case_retro(env, bindir, c):
    feed = env.path("feed.txt")
    write(feed, "192.0.2.1\n")
    w = Wardd(env, bindir, c, ["--intel", feed, "--history-days", "3"])
    if not c.check(w.ready is not None, "wardd says ready"):
        h.log(w.p.tail())
        return
    t0 = float(int(time.time()) - 600)
    s = scenario(t0, [("198.51.100.80", 443), ("198.51.100.81", 53)])
    w.replay("sensor-c", s)
    c.equal(w.alerts(), [], "no alert before the indicator exists")
    # The feed learns about 198.51.100.80 now: a retrospective alert for the past contact.
    with open(feed, "a") as f:
        f.write("198.51.100.80\n")
    alerts = h.wait_for(lambda: w.alerts(), 20) or []
    done = w.wait_log(r"retro-hunt: done", 10)
    w.stop()
    c.check(done is not None, "retro-hunt logged its end")
    c.equal(len(alerts), 1, "exactly one retrospective alert")
    if not alerts:
        return
    a = alerts[0]
    ev = a["evidence"]
    flows = [x for x in s.packets if str(x.dst) == "198.51.100.80" or
             str(x.src) == "198.51.100.80"]
    lo, hi = min(x.ts for x in flows), max(x.ts for x in flows)

    def epoch(t):
        try:
            return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))
        except (TypeError, ValueError):
            return None
    fs, ls = epoch(ev.get("first_seen")), epoch(ev.get("last_seen"))
    c.equal({"retrospective": ev.get("retrospective"), "remote_addr": ev.get("remote_addr"),
             "remote_port": ev.get("remote_port"), "protocol": ev.get("protocol"),
             "direction": ev.get("direction"), "indicator": ev.get("indicator", {}).get("value"),
             "device": a.get("device"),
             "contact times": fs is not None and ls is not None and lo - 2 <= fs <= ls <= hi + 2},
            {"retrospective": True, "remote_addr": "198.51.100.80", "remote_port": 443,
             "protocol": "tcp", "direction": "outbound", "indicator": "198.51.100.80",
             "device": "sensor-c", "contact times": True},
            "retrospective alert: the contact, its first/last seen, the indicator")
    lines = [x for x in w.lines() if x.get("id") == a["id"]]
    c.check(len(lines) == 1 and lines[0]["evidence"].get("retrospective") is True,
            "the JSON line says retrospective too", None, lines)


# ---- (d) TAXII 2.1 and URL polling --------------------------------------------------------------

def stix_indicator(n, addr, modified, revoked=False):
    o = {"type": "indicator", "spec_version": "2.1",
         "id": "indicator--00000000-0000-4000-8000-%012d" % n,
         "created": "2024-01-01T00:00:00.000Z", "modified": modified,
         "pattern": "[ipv4-addr:value = '%s']" % addr, "pattern_type": "stix",
         "valid_from": "2024-01-01T00:00:00Z", "indicator_types": ["malicious-activity"]}
    if revoked:
        o["revoked"] = True
    return o


class Mock(http.server.BaseHTTPRequestHandler):
    """A TAXII 2.1 collection (objects endpoint) and a plain feed, served from `state`."""
    state = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        st = Mock.state
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with st["lock"]:
            st["requests"].append((u.path, q, dict(self.headers)))
            if u.path == "/feed.txt":
                if self.headers.get("If-None-Match") == st["etag"]:
                    self.send_response(304)
                    self.end_headers()
                    return
                body = st["feed"].encode()
                self.send_response(200)
                self.send_header("ETag", st["etag"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if u.path != "/taxii2/api1/collections/c1/objects/":
                self.send_error(404)
                return
            after = q.get("added_after", "")
            # Versions added after `after`, in pages of 1 when a "next" chain is asked for.
            items = [(added, o) for added, o in st["objects"] if added > after]
            start = int(q.get("next", "0"))
            page = items[start:start + 1]
            more = start + 1 < len(items)
            env = {"more": more, "objects": [o for _, o in page]}
            if more:
                env["next"] = str(start + 1)
            body = json.dumps(env).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/taxii+json;version=2.1")
            if page:
                self.send_header("X-TAXII-Date-Added-First", page[0][0])
                self.send_header("X-TAXII-Date-Added-Last", page[-1][0])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def case_taxii(env, bindir, c):
    st = {"lock": threading.Lock(), "requests": [], "etag": '"v1"',
          "feed": "198.51.100.95\n",
          "objects": [("2024-01-01T00:00:01.000Z", stix_indicator(1, "198.51.100.91",
                                                                 "2024-01-01T00:00:00.000Z")),
                      ("2024-01-01T00:00:02.000Z", stix_indicator(2, "198.51.100.92",
                                                                 "2024-01-01T00:00:00.000Z"))]}
    Mock.state = st
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mock)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    coll = base + "/taxii2/api1/collections/c1/objects/"
    try:
        w = Wardd(env, bindir, c, ["--taxii", coll, "--intel-url", base + "/feed.txt",
                                   "--intel-url-interval", "1"])
        if not c.check(w.ready is not None, "wardd says ready"):
            h.log(w.p.tail())
            return
        c.check("(3 indicators)" in w.ready, "both TAXII pages and the URL loaded at start",
                None, w.ready)
        with st["lock"]:
            reqs = [r for r in st["requests"] if r[0].endswith("/objects/")]
        c.check(len(reqs) >= 2 and reqs[1][1].get("next") == "1",
                "the second page is asked for with next", None, [r[1] for r in reqs])
        c.check(all(r[2].get("Accept") == "application/taxii+json;version=2.1" for r in reqs),
                "TAXII requests send the TAXII 2.1 Accept header")
        t0 = float(int(time.time()) - 120)
        w.replay("sensor-d", scenario(t0, [("198.51.100.91", 443), ("198.51.100.92", 443),
                                           ("198.51.100.95", 443)]))
        alerts = h.wait_for(lambda: len(w.alerts()) >= 3 and w.alerts(), 10) or w.alerts()
        c.equal(sorted(a["evidence"]["indicator"]["value"] for a in alerts),
                ["198.51.100.91", "198.51.100.92", "198.51.100.95"], "alerts for both pages and "
                "the URL feed")
        # Update: indicator 2 revoked (a newer version), indicator 3 added.
        with st["lock"]:
            st["objects"].append(("2024-01-02T00:00:00.000Z", stix_indicator(
                2, "198.51.100.92", "2024-01-02T00:00:00.000Z", revoked=True)))
            st["objects"].append(("2024-01-02T00:00:01.000Z", stix_indicator(
                3, "198.51.100.93", "2024-01-02T00:00:00.000Z")))
        ok = w.wait_log(r"intel: %s updated: 3 indicators" % re.escape(coll), 15)
        c.check(ok is not None, "the TAXII update is reloaded (2 TAXII + 1 URL indicators)",
                None, w.p.tail(8))
        def feed_requests():
            with st["lock"]:
                return [r for r in st["requests"] if r[0] == "/feed.txt"]
        feed_reqs = h.wait_for(lambda: len(feed_requests()) >= 2 and feed_requests(), 5) or \
            feed_requests()
        with st["lock"]:
            later = [r for r in st["requests"] if r[0].endswith("/objects/")][2:]
        c.check(any(r[1].get("added_after") == "2024-01-01T00:00:02.000Z" for r in later),
                "later polls ask for added_after the last X-TAXII-Date-Added-Last", None,
                [r[1] for r in later[:3]])
        c.check(len(feed_reqs) >= 2 and feed_reqs[1][2].get("If-None-Match") == '"v1"',
                "the URL feed is polled again with If-None-Match", None,
                [r[2].get("If-None-Match") for r in feed_reqs[:3]])
        w.replay("sensor-d", scenario(t0 + 60, [("198.51.100.92", 443), ("198.51.100.93", 443)]))
        alerts = h.wait_for(lambda: len(w.alerts()) >= 4 and w.alerts(), 10) or w.alerts()
        w.stop()
        got = {a["evidence"]["indicator"]["value"]: a["count"] for a in alerts}
        c.equal(got, {"198.51.100.91": 1, "198.51.100.92": 1, "198.51.100.93": 1,
                      "198.51.100.95": 1},
                "after the update: the revoked indicator no longer matches, the new one does")
    finally:
        srv.shutdown()
        srv.server_close()


# ---- (e) wardctl intel check -------------------------------------------------------------------

def case_check(env, bindir, c):
    feeds = env.path("check")
    os.mkdir(feeds)
    write(os.path.join(feeds, "drop.txt"), DROP)
    write(os.path.join(feeds, "bundle.json"), json.dumps(STIX))
    plain = env.path("plain.txt")
    write(plain, PLAIN)
    ctl = os.path.join(bindir, "wardctl")

    r = h.run([ctl, "intel", "check", "203.0.113.9", "--feed", feeds, "--feed", plain])
    c.equal(r.returncode, 0, "match: exit 0")
    rows = [x.split() for x in r.stdout.splitlines()[2:]]
    c.equal(r.stdout.splitlines()[0], "203.0.113.9: 2 matching indicators", "match: title line")
    c.equal([(x[0], os.path.basename(x[1])) for x in rows],
            [("203.0.113.9", "bundle.json"), ("203.0.113.0/24", "drop.txt")],
            "match: most specific first")
    c.check(re.search(r":4: .*999\.1\.1\.1", r.stderr) is not None,
            "bad feed line on stderr as file:line: reason", None, r.stderr)

    r = h.run([ctl, "intel", "check", "::ffff:198.51.100.7", "--feed", feeds, "--feed", plain,
               "--json"])
    c.equal(r.returncode, 0, "IPv4-mapped address: exit 0")
    try:
        j = json.loads(r.stdout)
    except ValueError:
        j = {}
    c.equal([(m["value"], os.path.basename(m["source"]), m["confidence"], m["category"],
              m["expires"]) for m in j.get("matches", [])],
            [("198.51.100.7", "bundle.json", 85, "malicious-activity", "2099-01-01T00:00:00Z"),
             ("198.51.100.7", "plain.txt", 75, "", None)],
            "--json: every match with its metadata")

    r = h.run([ctl, "intel", "check", "192.0.2.200", "--feed", feeds, "--json"])
    c.equal((r.returncode, json.loads(r.stdout or "{}").get("matches")), (1, []),
            "no match: exit 1, empty matches")
    r = h.run([ctl, "intel", "check", "192.0.2.200", "--feed", feeds])
    c.equal((r.returncode, r.stdout.strip()), (1, "192.0.2.200: no matching indicator"),
            "no match: exit 1, says so")
    for argv, what in (
            (["intel", "check", "192.0.2.300", "--feed", feeds], "bad address"),
            (["intel", "check", "192.0.2.1", "--feed", env.path("missing.txt")],
             "unreadable feed"),
            (["intel", "check", "192.0.2.1"], "no --feed"),
            (["intel", "check", "--feed", feeds], "no address"),
            (["intel", "check", "192.0.2.1", "--feed", feeds, "--format", "nope"],
             "unknown format"),
            (["intel", "lookup", "192.0.2.1", "--feed", feeds], "unknown subcommand")):
        r = h.run([ctl] + argv)
        c.check(r.returncode == 2 and r.stderr.strip() != "", "%s: exit 2 with a message" % what,
                2, (r.returncode, r.stderr.strip()))


# ---- docs/feeds.md examples ---------------------------------------------------------------------

def case_docs(env, bindir, c):
    """Every ```console block of docs/feeds.md whose command is `wardctl intel check` is run from
    the repository root; its stdout and exit status must be what the block shows."""
    with open(os.path.join(ROOT, "docs", "feeds.md")) as f:
        text = f.read()
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    n = 0
    for b in blocks:
        lines = b.splitlines()
        if not lines or not lines[0].startswith("$ build/bin/wardctl intel check"):
            continue
        cmd = lines[0][2:]
        shown = [x for x in lines[1:] if not x.startswith("# exit status")]
        status = [int(m) for m in re.findall(r"^# exit status (\d+)", b, re.M)] or [0]
        argv = cmd.split()
        argv[0] = os.path.join(bindir, "wardctl")
        r = h.run(argv, cwd=ROOT)
        n += 1
        c.equal((r.returncode, r.stdout.rstrip("\n").splitlines()), (status[0], shown),
                "docs/feeds.md: %s" % cmd)
    c.check(n >= 3, "docs/feeds.md has wardctl intel check examples (%d)" % n)


CASES = {"feeds": case_feeds, "reload": case_reload, "retro": case_retro, "taxii": case_taxii,
         "check": case_check, "docs": case_docs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent, wardd and wardctl")
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("intel")
    for name in args.case or sorted(CASES):
        h.log("== %s" % name)
        with h.Env(prefix="ward-intel-%s-" % name, keep=args.keep) as env:
            try:
                CASES[name](env, bindir, c)
            except Exception as e:  # a broken step: say which, then clean up
                c.check(False, "%s: no unexpected error: %s: %s" % (name, type(e).__name__, e))
                for p in env.procs:
                    if p.name != "mosquitto":
                        h.log("  %s output:\n%s" % (p.name, p.tail(15)))
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
