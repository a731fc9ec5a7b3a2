#!/usr/bin/python3
"""Integration test: ward-agent's error paths.

Each wrong invocation or environment must end ward-agent with a non-zero status and exactly one
line on stderr, starting "ward-agent: ", quickly (an unreachable broker within a few seconds, not
a hang). Real binaries, a real Mosquitto for the "broker refuses" case, traffic on 127.0.0.1 only.

Usage: test_agent_errors.py --bin BUILD/bin [--keep]
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

DEV = "10.0.0.10"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    agent = os.path.join(os.path.abspath(args.bin), "ward-agent")
    c = h.Checker("integration-agent-errors")
    if not c.check(os.access(agent, os.X_OK), "ward-agent is built"):
        return c.summary()

    with h.Env(prefix="ward-err-", keep=args.keep) as env:
        good = env.path("good.pcap")
        s = g.Scenario()
        s.udp(0, DEV, "192.0.2.1", 1000, 53, 10)
        s.write(good)
        wifi = env.path("wifi.pcap")
        g.write_pcap(wifi, 105, [(1.0, b"\x08\x00" + b"\0" * 30)])  # IEEE 802.11: unsupported
        text = env.path("notes.txt")
        with open(text, "w") as f:
            f.write("this is not a capture\n")
        dead = "127.0.0.1:%d" % h.free_port()  # nothing listens there

        def base(**kw):
            o = {"--device-id": "sensor-1", "--broker": dead, "--pcap": good, "--device-addr": DEV}
            o.update(kw)
            argv = [agent]
            for k, v in o.items():
                if v is not None:
                    argv += [k, v]
            return argv + ["--once"]

        cases = [
            ("missing capture file", base(**{"--pcap": env.path("nope.pcap")}), "nope.pcap"),
            ("capture file that is not a capture", base(**{"--pcap": text}), "notes.txt"),
            ("capture with an unsupported link type", base(**{"--pcap": wifi}), "link type"),
            ("bad --device-addr 10.0.0.300", base(**{"--device-addr": "10.0.0.300"}), "10.0.0.300"),
            ("bad --device-addr not-an-ip", base(**{"--device-addr": "not-an-ip"}), "not-an-ip"),
            ("bad --device-addr 2001:db8::zz", base(**{"--device-addr": "2001:db8::zz"}), "zz"),
            ("bad device id with a space", base(**{"--device-id": "bad id"}), "device-id"),
            ("bad device id with a slash", base(**{"--device-id": "a/b"}), "device-id"),
            ("empty device id", base(**{"--device-id": ""}), "device-id"),
            ("device id of 65 characters", base(**{"--device-id": "x" * 65}), "device-id"),
            ("no device id", base(**{"--device-id": None}), "device-id"),
            ("--broker without a port", base(**{"--broker": "127.0.0.1"}), "broker"),
            ("--broker port 0", base(**{"--broker": "127.0.0.1:0"}), "broker"),
            ("--broker port 99999", base(**{"--broker": "127.0.0.1:99999"}), "broker"),
            ("--pcap without --device-addr", base(**{"--device-addr": None}), "device-addr"),
            ("--interval 5 (below 10)", base(**{"--interval": "5"}), "interval"),
            ("--interval abc", base(**{"--interval": "abc"}), "interval"),
            ("--iface and --pcap together", base(**{"--iface": "lo"}), "iface"),
            ("unknown option", base(**{"--frobnicate": "1"}), "frobnicate"),
            ("unreachable broker port", base(), "connect"),
        ]

        mosq, port = start_refusing_broker(env)
        if c.check(mosq is not None, "a broker that refuses every client started"):
            cases.append(("broker refuses the client (not authorised)",
                          base(**{"--broker": "127.0.0.1:%d" % port}), "refused"))

        for name, argv, word in cases:
            t = time.monotonic()
            r = h.run(argv, timeout=30)
            took = time.monotonic() - t
            err = r.stderr.rstrip("\n")
            c.check(r.returncode not in (0, None) and err.startswith("ward-agent: ")
                    and "\n" not in err and word in err and took < 15,
                    "%s: non-zero exit, one line on stderr (%.1f s)" % (name, took),
                    "status != 0, one line 'ward-agent: ...%s...'" % word,
                    "status %s, stderr %r" % (r.returncode, r.stderr))

        r = h.run([agent, "--help"], timeout=10)
        c.check(r.returncode == 0 and "--device-id" in r.stdout and "--pcap" in r.stdout
                and r.stderr == "", "--help prints the usage and exits 0")
    return c.summary()


def start_refusing_broker(env):
    """A Mosquitto that refuses every client: no anonymous access and no password file."""
    port = h.free_port()
    conf = env.path("refusing.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous false\npersistence false\n" % port)
    p = env.start("mosquitto-refusing", [h.MOSQUITTO, "-c", conf])

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return None
    if h.wait_for(up, 10) and p.alive():
        return p, port
    return None, None


if __name__ == "__main__":
    sys.exit(main())
