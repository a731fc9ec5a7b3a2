#!/usr/bin/python3
"""Every example of docs/rules.md, run for real with wardctl on a real SQLite file.

- each ```json block after `<!-- file: NAME -->` is written to NAME and must be accepted by
  `wardctl group apply NAME` (exit 0), and `group show --json` must give it back unchanged;
- each ```json block after `<!-- refused: NAME: MESSAGE -->` is written to NAME and must be
  refused: exit 1, stderr exactly "wardctl: NAME: MESSAGE", and the database unchanged;
- each ```json block after `<!-- example: alert -->` must parse and have the alert shape, its
  evidence quoting the rule of the group it names as applied (with its id filled in);
- each line of a ```sh block is run in order (in the folder holding the files; `ward.db` there)
  and must exit 0;
- a ```json block with none of these markers fails the test (an example nobody runs).

Usage: test_rules_docs.py --bin BUILD/bin [--doc docs/rules.md] [--keep]
"""

import argparse
import json
import os
import re
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = re.compile(r"^<!--\s*(file|refused|example):\s*(.*?)\s*-->\s*$")


def blocks(text):
    """(marker kind, marker arg, fence language, body) for each fenced block, in order."""
    out, marker, lines, i = [], None, text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            marker = (m.group(1), m.group(2))
        elif line.startswith("```") and len(line) > 3:
            lang = line[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((marker[0] if marker else None, marker[1] if marker else None, lang,
                        "\n".join(body) + "\n"))
            marker = None
        elif line.strip():
            marker = None if not line.startswith("<!--") else marker
        i += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--doc", default=os.path.join(HERE, "..", "..", "docs", "rules.md"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    wardctl = os.path.join(os.path.abspath(args.bin), "wardctl")
    c = h.Checker("rules-docs")
    with open(args.doc) as f:
        doc = f.read()
    with h.Env(prefix="ward-rules-docs-", keep=args.keep) as env:
        db = env.path("ward.db")

        def ctl(*argv):
            return h.run([wardctl, "--db", db] + list(argv), cwd=env.dir)

        def groups_state():
            r = ctl("group", "list", "--json")
            return r.stdout if r.returncode == 0 else None

        applied = {}
        n_json = n_sh = 0
        for kind, arg, lang, body in blocks(doc):
            if lang == "json":
                n_json += 1
                if kind == "file":
                    with open(env.path(arg), "w") as f:
                        f.write(body)
                    r = ctl("group", "apply", arg)
                    c.check(r.returncode == 0, "%s is accepted" % arg, "exit 0",
                            "exit %s: %s" % (r.returncode, r.stderr.strip()))
                    want = json.loads(body)
                    applied[want["group"]] = want
                    r = ctl("group", "show", want["group"], "--json")
                    got = json.loads(r.stdout)["spec"] if r.returncode == 0 else r.stderr
                    c.equal(got, want, "%s: group show gives the document back" % arg)
                elif kind == "refused":
                    name, msg = arg.split(": ", 1)
                    with open(env.path(name), "w") as f:
                        f.write(body)
                    before = groups_state()
                    r = ctl("group", "apply", name)
                    c.equal((r.returncode, r.stderr.strip()), (1, "wardctl: %s: %s" % (name, msg)),
                            "%s is refused with the documented message" % name)
                    c.equal(groups_state(), before, "%s: nothing stored" % name)
                elif kind == "example" and arg == "alert":
                    a = json.loads(body)
                    c.equal(sorted(a), sorted(["id", "type", "severity", "device", "title",
                                               "first_seen", "last_seen", "count", "state",
                                               "evidence"]), "alert example: the alert's keys")
                    ev = a["evidence"]
                    spec = applied.get(ev["group"], {})
                    rule = next((dict(r, id=r.get("id", r["type"])) for r in spec.get("rules", [])
                                 if r.get("id", r["type"]) == ev["rule_id"]), None)
                    c.equal(ev["rule"], rule, "alert example: evidence quotes the rule as applied")
                    c.equal(a["type"], ev["rule"]["type"], "alert example: type is the rule's")
                else:
                    c.check(False, "a json example without a marker (nobody runs it)", None,
                            body[:200])
            elif lang == "sh":
                for line in body.splitlines():
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    n_sh += 1
                    argv = shlex.split(line)
                    c.equal(argv[:3], ["wardctl", "--db", "ward.db"],
                            "sh example runs wardctl on ward.db: %s" % line)
                    r = h.run([wardctl, "--db", db] + argv[3:], cwd=env.dir)
                    c.check(r.returncode == 0 and r.stdout.strip() != "", "runs: %s" % line,
                            "exit 0 with output", "exit %s: %s%s" % (r.returncode, r.stdout,
                                                                     r.stderr))
        c.check(n_json >= 20 and n_sh >= 8, "the page has its examples (%d json, %d commands)"
                % (n_json, n_sh))
        # What the commands did: the device is in its group, doorbells was frozen into rules.
        r = ctl("group", "show", "cameras", "--json")
        c.equal(json.loads(r.stdout).get("device_ids"), ["cam-lobby-01"],
                "set-group put the device into cameras")
        r = ctl("group", "show", "doorbells", "--json")
        spec = json.loads(r.stdout)["spec"]
        c.check("learn" not in spec and any(x.get("id") == "learned.outbound_ip"
                                            for x in spec["rules"]),
                "--freeze replaced learn with learned.* rules", None, spec)
        r = ctl("group", "list", "--json")
        names = [g["group"] for g in json.loads(r.stdout)]
        c.check(set(applied) | {"default"} == set(names), "group list lists every group",
                sorted(set(applied) | {"default"}), names)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
