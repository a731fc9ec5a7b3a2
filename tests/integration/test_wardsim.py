#!/usr/bin/python3
"""wardsim against the real pipeline: a fresh Mosquitto on a free loopback port, the real wardd with
a small intel feed, and a small simulated fleet (every scenario, a quarter compromised, time
accelerated). Asserts that wardsim scored every injected scenario as detected and found no false
positive (its exit status 0, and its summary lines say so).

  test_wardsim.py --bin BUILD/bin [--keep] [--devices N] [--seed S]

Standard library only; traffic stays on 127.0.0.1.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEED = os.path.join(ROOT, "tests", "cases", "demo", "feed.txt")
SCENARIOS = ["port_scan", "host_sweep", "syn_flood", "icmp_flood", "brute_force", "exfiltration",
             "intel"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--devices", type=int, default=28)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    c = h.Checker("test_wardsim")
    with h.Env(prefix="ward-sim-", keep=args.keep) as env:
        broker, port = h.start_broker(env)
        db = env.path("ward.db")
        wardd = env.start("wardd", [os.path.join(args.bin, "wardd"),
                                    "--broker", "127.0.0.1:%d" % port, "--db", db,
                                    "--intel", FEED,
                                    "--alerts-jsonl", env.path("alerts.jsonl")])
        if not c.check(wardd.wait_line("ready", 20) is not None, "wardd starts"):
            h.log(wardd.tail())
            return c.summary()
        # 28 devices, 7 compromised: one of each scenario. 1500 simulated seconds at x60 with a
        # 60 s report interval: 25 reports per device, about 25 s of real time.
        sim = h.run([os.path.join(args.bin, "wardsim"), "--broker", "127.0.0.1:%d" % port,
                     "--devices", str(args.devices), "--compromised", "0.25",
                     "--duration", "1500", "--interval", "60", "--accel", "60",
                     "--connections", "3", "--seed", str(args.seed), "--intel-feed", FEED,
                     "--db", db, "--wardctl", os.path.join(args.bin, "wardctl"),
                     "--settle", "60"], timeout=240)
        out = sim.stdout or ""
        for line in out.splitlines():
            h.log("    | " + line)
        if sim.stderr:
            h.log("    stderr: " + sim.stderr.strip()[-2000:])
        rates = dict(re.findall(r"^wardsim scenario=(\w+) injected=\d+ detected=\d+ "
                                r"rate=([0-9.]+)$", out, re.M))
        for s in SCENARIOS:
            c.equal(rates.get(s), "1.00", "scenario %s injected and detected" % s)
        m = re.search(r"^wardsim false_positives=(\d+) benign_devices=(\d+)$", out, re.M)
        c.check(m is not None and m.group(1) == "0", "no false positive",
                "false_positives=0", m.group(0) if m else None)
        c.equal(sim.returncode, 0, "wardsim exit status")
        stop = wardd.terminate()
        c.equal(stop, 0, "wardd stops cleanly")
        broker.terminate()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
