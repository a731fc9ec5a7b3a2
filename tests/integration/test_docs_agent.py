#!/usr/bin/python3
"""Keeps docs/agent.md true to the code:
  1. every block after `<!-- include: PATH -->` is the file PATH, byte for byte (the compiled
     example docs/examples/agent_minimal.c, which CTest docs-agent-example builds and runs);
  2. the table after `<!-- table: sizes -->` is what docs/examples/agent_sizes.sh prints for the
     agent headers of this tree (sizeof(ward_agent_t) on Cortex-M4 and x86-64).

  test_docs_agent.py            check
  test_docs_agent.py --update   rewrite those blocks in docs/agent.md from the files and the script
"""

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "agent.md")
INCLUDE = re.compile(r"(<!-- include: (\S+) -->\n```\w*\n)(.*?)(```\n)", re.S)
TABLE = re.compile(r"(<!-- table: sizes -->\n)((?:\|.*\n)+)")


def sizes_table():
    return subprocess.run([os.path.join(ROOT, "docs", "examples", "agent_sizes.sh")], check=True,
                          capture_output=True, text=True, timeout=120).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--update", action="store_true")
    args = ap.parse_args()
    c = Checker("docs-agent")
    text = open(DOC, encoding="utf-8").read()

    def file_text(rel):
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            return f.read()

    if args.update:
        text = INCLUDE.sub(lambda m: m.group(1) + file_text(m.group(2)) + m.group(4), text)
        table = sizes_table()
        text = TABLE.sub(lambda m: m.group(1) + table, text)
        open(DOC, "w", encoding="utf-8").write(text)
        print("docs-agent: updated %s" % DOC)
        return 0

    includes = list(INCLUDE.finditer(text))
    c.check(any(m.group(2) == "docs/examples/agent_minimal.c" for m in includes),
            "docs/agent.md includes docs/examples/agent_minimal.c")
    for m in includes:
        c.check(m.group(3) == file_text(m.group(2)),
                "the code block after <!-- include: %s --> is that file (run with --update)"
                % m.group(2))
    t = TABLE.search(text)
    if c.check(t is not None, "docs/agent.md has the sizes table"):
        c.equal(t.group(2), sizes_table(),
                "the sizes table is what docs/examples/agent_sizes.sh prints (run with --update)")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
