#!/usr/bin/python3
"""Integration test: ward-agent (live capture on lo) loses its broker and gets it back; nothing
is lost. Also: config from ward/v1/<id>/config, listening sockets from /proc/net.

Steps (real Mosquitto on a free loopback port, traffic on 127.0.0.1 only; capturing on lo needs
root or CAP_NET_RAW, else the test is skipped with exit status 77):
  1. a retained config (revision 5, interval 10 s) waits on ward/v1/recon/config; ward-agent
     starts with --interval 60 and must apply it: reports carry config_rev 5 and interval 10;
  2. 5 UDP datagrams; once a report with them arrived, the broker is stopped;
  3. 7 datagrams while the broker is down, and a report falls due meanwhile (kept by the agent);
  4. the broker restarts on the same port; ward-agent reconnects by itself (status online);
  5. 3 datagrams, then SIGTERM: ward-agent exits 0 after its last report.
Checks: the datagrams' flow summed over every report received (before and after the restart)
is exactly 15 packets and 15 x 128 IP bytes outbound; no report part arrived twice; the first
report after the restart covers the downtime; a TCP socket the test listens on shows in the
reports' listening sockets (read from /proc/net/tcp).

Usage: test_agent_reconnect.py --bin BUILD/bin [--keep]
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

try:
    import cbor2
except ImportError:
    cbor2 = None

DEVICE = "recon"
PAYLOAD = 100
IP_BYTES = 20 + 8 + PAYLOAD
PHASES = (5, 7, 3)
CONFIG_REV, CONFIG_INTERVAL = 5, 10


def can_capture():
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 13 & 1)
    except OSError:
        pass
    return False


def send_datagrams(sport, dport, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", sport))
    for _ in range(n):
        s.sendto(b"r" * PAYLOAD, ("127.0.0.1", dport))
    s.close()


def reports_of(subs):
    out = []
    for sub in subs:
        for topic, payload, _ in sub.received():
            if topic == "ward/v1/%s/report" % DEVICE:
                out.append(cbor2.loads(payload))
    return out


def udp_out(reports, sport, dport):
    """Outbound packets and bytes of the datagrams' flow (local sport, remote dport)."""
    pk = by = 0
    for r in reports:
        for f in r.get(16, []):
            if f[0] == 17 and f[3] == sport and f[5] == dport and f[1] & 3 == 1:
                pk += f[6]
                by += f[8]
    return pk, by


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    agent = os.path.join(os.path.abspath(args.bin), "ward-agent")
    if not can_capture():
        return h.skip("integration-agent-reconnect", "capturing on lo needs root or CAP_NET_RAW")
    c = h.Checker("integration-agent-reconnect")
    if not c.check(cbor2 is not None, "python3-cbor2 is installed"):
        return c.summary()

    with h.Env(prefix="ward-recon-", keep=args.keep) as env:
        subs = []
        listener = None
        try:
            broker, port = h.start_broker(env)
            config = cbor2.dumps({0: [1, 0], 1: CONFIG_REV, 2: CONFIG_INTERVAL})
            h.publish_retained(port, "ward/v1/%s/config" % DEVICE, config)
            subs.append(h.Subscriber(port, ["ward/v1/%s/#" % DEVICE], "ward-int-sub1"))
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("0.0.0.0", 0))
            listener.listen()
            lport = listener.getsockname()[1]
            a = env.start("ward-agent", [agent, "--device-id", DEVICE, "--broker",
                                         "127.0.0.1:%d" % port, "--iface", "lo",
                                         "--interval", "60"])
            online = h.wait_for(lambda: any(p == b"online" for _, p, _ in subs[0].received()), 10)
            if not c.check(online, "ward-agent --iface lo connects (status online)"):
                h.log(a.tail())
                return c.summary()
            c.check(a.wait_line(r"config applied", 10) is not None,
                    "ward-agent applies the retained config")

            sport = h.free_port()
            dport = h.free_port()  # nothing listens there
            send_datagrams(sport, dport, PHASES[0])
            got = h.wait_for(lambda: udp_out(reports_of(subs), sport, dport)[0] >= PHASES[0],
                             CONFIG_INTERVAL + 5)
            c.check(got, "a report with the first datagrams within the configured interval")

            # Broker down: right after a report, so that none is in flight.
            t_down = time.time()
            broker.terminate(10)
            send_datagrams(sport, dport, PHASES[1])
            time.sleep(CONFIG_INTERVAL + 2)  # a report falls due while the broker is away
            c.check(a.alive(), "ward-agent keeps running without its broker")

            broker2, _ = h.start_broker(env, name="mosquitto2", port=port)
            subs.append(h.Subscriber(port, ["ward/v1/%s/#" % DEVICE], "ward-int-sub2"))
            back = h.wait_for(lambda: any(p == b"online" for _, p, _ in subs[1].received()), 40)
            c.check(back, "ward-agent reconnects to the restarted broker (status online)")

            send_datagrams(sport, dport, PHASES[2])
            rc = a.terminate(20)
            c.equal(rc, 0, "ward-agent exits 0 on SIGTERM")
            h.wait_for(lambda: any(p == b"offline" for _, p, _ in subs[1].received()), 10)

            rs = reports_of(subs)
            total = sum(PHASES)
            c.equal(udp_out(rs, sport, dport), (total, total * IP_BYTES),
                    "datagrams: packets and bytes summed over all reports (nothing lost, "
                    "nothing twice)")
            ids = [(r[3], r[4], tuple(r.get(7, [0, 1]))) for r in rs]
            c.equal(len(ids), len(set(ids)), "no report part arrived twice")
            after = [r for r in reports_of(subs[1:])]
            c.check(after and min(r[5] for r in after) <= t_down * 1000,
                    "the first report after the restart covers the downtime",
                    "period_start <= %d" % (t_down * 1000),
                    [r[5] for r in after][:1])
            c.equal(sorted({(r.get(10), r.get(9)) for r in rs}), [(CONFIG_REV, CONFIG_INTERVAL)],
                    "every report: config_rev and interval of the config")
            ls = [x for r in rs for x in r.get(19, [])]
            full = any(len(r.get(19, [])) >= 16 for r in rs)
            c.check(full or any(x[0] == 6 and x[2] == lport and bytes(x[1]) == b"\0" * 4
                                for x in ls),
                    "listening sockets from /proc/net: TCP 0.0.0.0:%d" % lport)
            if a.alive() or rc != 0:
                h.log(a.tail())
        except Exception as e:
            c.check(False, "no unexpected error: %s: %s" % (type(e).__name__, e))
            for p in env.procs:
                h.log("  %s output:\n%s" % (p.name, p.tail(15)))
        finally:
            for s in subs:
                s.close()
            if listener is not None:
                listener.close()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
