"""Checks that the worked example of docs/protocol.md (section 7) is true: the hex shown is
exactly the report that the real agent core writes for the example traffic
(docs/examples/protocol_example.c), `wardctl decode` prints exactly the JSON shown, and an
independent decoder (python3-cbor2) reads the same values.

  test_docs.py --bin build/bin            check
  test_docs.py --bin build/bin --update   rewrite the example blocks in docs/protocol.md
"""

import argparse
import json
import os
import re
import subprocess
import sys

import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "protocol.md")
BLOCK = re.compile(r"(<!-- example:(\w+) -->\n```\w*\n)(.*?)(```\n)", re.S)


def blocks(text):
    return {m.group(2): m.group(3) for m in BLOCK.finditer(text)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--update", action="store_true")
    args = ap.parse_args()
    c = Checker("docs")

    hexout = subprocess.run([os.path.join(args.bin, "protocol-example")], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    raw = bytes.fromhex("".join(hexout.split()))
    decoded = subprocess.run([os.path.join(args.bin, "wardctl"), "decode", "-"], input=raw,
                             check=True, capture_output=True, timeout=30).stdout.decode()
    want = {"hex": hexout, "json": decoded if decoded.endswith("\n") else decoded + "\n"}

    text = open(DOC, encoding="utf-8").read()
    if args.update:
        text = BLOCK.sub(lambda m: m.group(1) + want[m.group(2)] + m.group(4), text)
        open(DOC, "w", encoding="utf-8").write(text)
        print("docs: updated %s" % DOC)
        return 0

    have = blocks(text)
    c.check(set(have) == {"hex", "json"}, "docs/protocol.md has the hex and json example blocks",
            ["hex", "json"], sorted(have))
    c.equal(have.get("hex"), want["hex"], "the hex in docs/protocol.md is what the agent core writes")
    c.equal(have.get("json"), want["json"], "the JSON in docs/protocol.md is what `wardctl decode` prints")

    # The prose that reads the bytes quotes them: every quoted run of hex bytes is in the report,
    # and the map size it names is the report's.
    reading = text[text.find("Reading the first bytes"):text.find("<!-- example:json -->")]
    runs = re.findall(r"`((?:[0-9a-f]{2} )+[0-9a-f]{2})`", reading)
    c.check(len(runs) >= 5, "the reading of the example quotes the bytes", ">= 5 runs", len(runs))
    for run in runs:
        c.check(bytes.fromhex(run.replace(" ", "")) in raw, "quoted bytes `%s` are in the report" % run)
    m = re.search(r"`([0-9a-f]{2})` is a map of (\d+) pairs", reading)
    c.check(m is not None and raw[0] == int(m.group(1), 16) == 0xa0 + int(m.group(2)),
            "the map header and its size as the prose says", "0x%02x" % raw[0],
            m.groups() if m else None)

    # An independent decoder sees the same report, key by key, as the documentation says.
    r = cbor2.loads(raw)
    j = json.loads(want["json"])
    c.equal(r[0], j["version"], "key 0 version")
    c.equal(r[1], j["device_id"], "key 1 device id")
    c.equal(r[2], j["agent_version"], "key 2 agent version")
    c.equal(r[3], j["boot_id"], "key 3 boot id")
    c.equal(r[4], j["seq"], "key 4 seq")
    c.equal((r[5], r[6]), (j["period_start"], j["period_end"]), "keys 5, 6 period")
    c.equal(len(r[16]), len(j["flows"]), "key 16 flow count")
    for i, (f, jf) in enumerate(zip(r[16], j["flows"])):
        names = ["packets_out", "packets_in", "bytes_out", "bytes_in", "first_offset_s",
                 "last_offset_s"]
        c.equal(list(f[6:12]), [jf[n] for n in names], "flow %d positions 6-11" % i)
        c.equal(f[3], jf["local_port"], "flow %d local port" % i)
        c.equal(f[5], jf["remote_port"], "flow %d remote port" % i)
        c.equal(f[1] & 3, {"unknown": 0, "outbound": 1, "inbound": 2}[jf["initiator"]],
                "flow %d initiator bits" % i)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
