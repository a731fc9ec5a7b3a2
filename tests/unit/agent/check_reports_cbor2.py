#!/usr/bin/python3
"""Independent check of the agent's reports with python3-cbor2 (CTest agent_report_cbor2).

Runs test_agent_pyreport, which writes report parts (<dir>/part-<n>.cbor) and, for each, what the
C side says it encoded (<dir>/part-<n>.json). Every part is decoded here with cbor2, an
implementation that shares no code with the agent or with libcbor, checked against
docs/protocol.md (keys, types, shortest integers), and compared with the C side field by field.

  check_reports_cbor2.py --bin build/bin/test_agent_pyreport
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import cbor2

KNOWN = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25}
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def shortest(b):
    """Every head uses the shortest argument and definite lengths (RFC 8949 4.2.1)."""
    pos, pending = 0, 1
    while pending:
        ib = b[pos]
        major, ai = ib >> 5, ib & 31
        pos += 1
        v = ai
        if ai >= 24:
            check(ai <= 27, "indefinite or reserved head at %d" % pos)
            n = 1 << (ai - 24)
            v = int.from_bytes(b[pos:pos + n], "big")
            check(v >= (24, 0x100, 0x10000, 0x100000000)[ai - 24], "non-shortest head at %d" % pos)
            pos += n
        pending -= 1
        if major in (2, 3):
            pos += v
        elif major == 4:
            pending += v
        elif major == 5:
            pending += 2 * v
    check(pos == len(b), "trailing bytes")


def compare(name, got, want):
    if got != want:
        errors.append("%s: cbor2 %r, C side %r" % (name, got, want))


def check_part(path):
    raw = open(path, "rb").read()
    want = json.load(open(path[:-5] + ".json"))
    check(len(raw) == want["len"], "%s: length" % path)
    shortest(raw)
    m = cbor2.loads(raw)
    check(isinstance(m, dict), "%s: not a map" % path)
    check(all(isinstance(k, int) and k in KNOWN for k in m), "%s: unknown key %r" % (path, list(m)))
    compare("%s nkeys" % path, len(m), want["nkeys"])
    p = path
    compare(p + " version", m[0], want["version"])
    compare(p + " device_id", m[1], want["device_id"])
    compare(p + " agent_version", m[2], want["agent_version"])
    for k, f in ((3, "boot_id"), (4, "seq"), (5, "start"), (6, "end"), (8, "time_base"),
                 (9, "interval")):
        compare("%s %s" % (p, f), m[k], want[f])
    compare(p + " part", m[7], want["part"])
    check(m[5] <= m[6], p + ": period")
    compare(p + " config_rev", m.get(10), want.get("config_rev"))
    compare(p + " priority", m.get(11), want.get("priority"))
    if 18 in m or "local_addrs" in want:
        compare(p + " local_addrs", [a.hex() for a in m.get(18, [])], want.get("local_addrs"))
    if 16 in m or "flows" in want:
        flows = [[x.hex() if isinstance(x, bytes) else x for x in f] for f in m[16]]
        compare(p + " flows", flows, want["flows"])
        for f in m[16]:
            check(len(f) in (12, 13), p + ": flow positions")
            check((len(f) == 13) == (f[0] == 6), p + ": tcp flags only on TCP")
            check(f[2] < len(m[18]) and len(m[18][f[2]]) == len(f[4]), p + ": local addr")
            check(f[6] + f[7] > 0, p + ": empty flow")
    compare(p + " overflow", m.get(17), want.get("overflow"))
    for k, f in ((21, "counters"), (23, "malformed")):
        got = None if k not in m else {str(a): b for a, b in m[k].items()}
        compare("%s %s" % (p, f), got, want.get(f))
    if 19 in m or "listening" in want:
        compare(p + " listening", [[l[0], l[1].hex(), l[2]] for l in m[19]], want["listening"])
    if 20 in m or "sysinfo" in want:
        compare(p + " sysinfo", {str(a): b for a, b in m[20].items()}, want["sysinfo"])
        check(all(isinstance(m[20][k], bool) for k in (4, 5) if k in m[20]), p + ": bools")
    if 22 in m or "metrics" in want:
        compare(p + " metrics", [[a, b] for a, b in m[22].items()], want["metrics"])
    if 24 in m or "detections" in want:
        det = [[x.hex() if isinstance(x, bytes) else x for x in d] for d in m[24]]
        compare(p + " detections", det, want["detections"])
    compare(p + " config_status", m.get(25), want.get("config_status"))
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([args.bin, d], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            print("check_reports_cbor2: %s failed" % args.bin)
            return 1
        paths = sorted(glob.glob(os.path.join(d, "part-*.cbor")),
                       key=lambda s: int(s.rsplit("-", 1)[1].split(".")[0]))
        check(len(paths) >= 3, "expected a priority report and a split one")
        parts = [check_part(p) for p in paths]
        # Across the split report: every part shares seq and count; each item in one part only.
        reg = [m for m in parts if not m.get(11)]
        check(all(m[7][1] == len(reg) and m[4] == reg[0][4] for m in reg), "split parts")
        check(sorted(m[7][0] for m in reg) == list(range(len(reg))), "part indexes")
        check(sum(20 in m for m in reg) == 1, "sysinfo in exactly one part")
        check(sum(21 in m for m in reg) == 1 and 21 in reg[0], "counters in part 0 only")
        check(any(m.get(11) for m in parts), "a priority report")
        keys = set().union(*[set(m) for m in parts])
        check(KNOWN - {12, 13, 14, 15} <= keys | set(), "every key seen: missing %s" %
              sorted(KNOWN - keys))
    if errors:
        for e in errors:
            print("FAIL:", e)
        return 1
    print("check_reports_cbor2: %d parts decoded by cbor2 %s, every field equal" %
          (len(paths), getattr(cbor2, "__version__", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
