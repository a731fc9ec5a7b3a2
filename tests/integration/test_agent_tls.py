#!/usr/bin/python3
"""Integration test: ward-agent over MQTT/TLS with client certificates, into wardd.

The test makes a CA, a server certificate (for 127.0.0.1) and a client certificate (CN = the
device id) with Debian's openssl in its temp dir, and starts Mosquitto with two listeners on free
loopback ports: TLS requiring a client certificate signed by that CA (require_certificate,
use_identity_as_username), and plain TCP for the test's own subscriber. wardd connects over TLS
with its own client certificate (CN "wardd"). Then:
  1. ward-agent without a client certificate is refused (exit 1, says why);
  2. ward-agent --cafile --cert --key replays a capture over TLS and exits 0;
  3. its reports, decoded with cbor2: flows summed over all reports equal the capture's model,
     sysinfo says TLS in use, the firmware and hardware given, "Linux <release>" as OS and IP
     stack, and the listening sockets declared with --listen;
  4. wardd (over TLS, with its client certificate) stored every report part (wardctl devices).
Traffic on 127.0.0.1 only.

Usage: test_agent_tls.py --bin BUILD/bin [--keep]
"""

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import pcapgen as g  # noqa: E402

try:
    import cbor2
except ImportError:
    cbor2 = None

DEVICE = "tls-dev"
ADDRS = ["10.9.0.10", "2001:db8:9::10"]
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl(env, *args):
    r = h.run([OPENSSL] + list(args), timeout=60, cwd=env.dir)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))


def make_pki(env):
    """ca.crt; server.crt/key for IP 127.0.0.1; client.crt/key with CN = DEVICE. EC P-256."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(env, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=ward test CA")
    with open(env.path("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(env.path("client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    with open(env.path("wardd.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "127.0.0.1"), ("client", DEVICE), ("wardd", "wardd")):
        openssl(env, "req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                "/CN=" + cn)
        openssl(env, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")
    # Mosquitto started as root drops to its own user: let it read the (throwaway) files.
    os.chmod(env.dir, 0o711)
    for f in ("ca.crt", "server.crt", "server.key"):
        os.chmod(env.path(f), 0o644)


def scenario(t0):
    s = g.Scenario(t0)
    a4, a6 = ADDRS
    s.tcp_session(1.0, a4, "192.0.2.80", 41000, 8883, data_out=[200, 40], data_in=[600])
    s.udp_exchange(2.0, a6, "2001:db8:53::53", 5300, 53, requests=[40], replies=[120])
    s.tcp_session(3.0, "198.51.100.9", a4, 50500, 23, data_out=[5], data_in=[30])
    s.ping(4.0, a4, "192.0.2.1", count=2)
    return s


def flows_from_reports(reports):
    import ipaddress
    names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
    dirs = {0: "unknown", 1: "outbound", 2: "inbound"}
    flows = {}
    for r in reports:
        locs = [ipaddress.ip_address(bytes(b)) for b in r.get(18, [])]
        for f in r.get(16, []):
            key = (names.get(f[0], str(f[0])), str(locs[f[2]]), f[3],
                   str(ipaddress.ip_address(bytes(f[4]))), f[5])
            e = flows.setdefault(key, {"initiator": dirs.get(f[1] & 3), "packets_in": 0,
                                       "packets_out": 0, "bytes_in": 0, "bytes_out": 0})
            e["packets_out"] += f[6]
            e["packets_in"] += f[7]
            e["bytes_out"] += f[8]
            e["bytes_in"] += f[9]
    return flows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ward-agent, wardd and wardctl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    c = h.Checker("integration-agent-tls")
    if not c.check(cbor2 is not None, "python3-cbor2 is installed"):
        return c.summary()
    if not c.check(os.access(OPENSSL, os.X_OK), "openssl is installed"):
        return c.summary()
    agent = os.path.join(bindir, "ward-agent")

    with h.Env(prefix="ward-tls-", keep=args.keep) as env:
        sub = None
        try:
            make_pki(env)
            tls_port = h.free_port()
            extra = ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                     "require_certificate true\nuse_identity_as_username true\n"
                     % (tls_port, env.path("ca.crt"), env.path("server.crt"),
                        env.path("server.key")))
            broker, port = h.start_broker(env, extra=extra)
            h.log("broker: plain 127.0.0.1:%d, TLS 127.0.0.1:%d; temp dir %s"
                  % (port, tls_port, env.dir))
            sub = h.Subscriber(port, ["ward/v1/%s/#" % DEVICE])
            db = env.path("ward.db")
            wardd = env.start("wardd", [os.path.join(bindir, "wardd"), "--broker",
                                        "127.0.0.1:%d" % tls_port, "--db", db,
                                        "--cafile", env.path("ca.crt"),
                                        "--cert", env.path("wardd.crt"),
                                        "--key", env.path("wardd.key")])
            if not c.check(wardd.wait_line(r"\bready\b", 20) is not None, "wardd says ready"):
                h.log(wardd.tail())
                return c.summary()

            t0 = float(int(time.time()) - 300)
            scen = scenario(t0)
            cap = env.path("tls.pcap")
            scen.write(cap, "pcap", g.LINKTYPE_ETHERNET, ADDRS)
            base = [agent, "--device-id", DEVICE, "--broker", "127.0.0.1:%d" % tls_port,
                    "--pcap", cap, "--once"] + sum((["--device-addr", a] for a in ADDRS), [])

            # 1. No client certificate: the broker must refuse the handshake.
            r = h.run(base + ["--cafile", env.path("ca.crt"), "--connect-timeout", "3"],
                      timeout=30)
            c.equal(r.returncode, 1, "ward-agent without a client certificate fails (exit 1)")
            c.check("cannot connect" in r.stderr or "refused" in r.stderr,
                    "and says it cannot connect", "cannot connect ...", r.stderr.strip())

            # 2. With the client certificate.
            r = h.run(base + ["--cafile", env.path("ca.crt"), "--cert", env.path("client.crt"),
                              "--key", env.path("client.key"), "--firmware", "fw-1.2.3",
                              "--hardware", "board-x", "--listen", "tcp:23",
                              "--listen", "udp:[::]:161", "--listen", "tcp:127.0.0.1:8080"],
                      timeout=60)
            c.equal(r.returncode, 0, "ward-agent over TLS with a client certificate exits 0")
            if r.returncode != 0:
                h.log("        | " + r.stderr.strip())
            m = re.search(r"(\d+) report parts published", r.stdout)
            parts = int(m.group(1)) if m else -1
            c.check(parts > 0, "ward-agent published report parts", "> 0", parts)

            # 3. What went over TLS, as the plain subscriber sees it.
            def reports():
                rs = [cbor2.loads(p) for t, p, _ in sub.received() if t.endswith("/report")]
                return rs if len(rs) >= parts else None
            rs = h.wait_for(reports, 10) or []
            c.equal(len(rs), parts, "every report part arrived through the broker")
            c.equal(flows_from_reports(rs), {
                (k[0], k[1], k[2], k[3], k[4]): v for k, v in scen.expected_flows(ADDRS).items()},
                "flows summed over the reports equal the capture")
            si = next((r_[20] for r_ in rs if 20 in r_), {})
            rel = platform.release()
            c.equal({k: si.get(k) for k in (0, 1, 2, 3, 4)},
                    {0: "Linux " + rel[:32 - 6], 1: "fw-1.2.3", 2: "board-x",
                     3: "Linux " + rel[:32 - 6], 4: True},
                    "sysinfo: OS, firmware, hardware, IP stack, TLS in use")
            c.check(isinstance(si.get(5), bool), "sysinfo: time synced is a bool", "bool",
                    si.get(5))
            ls = next((r_[19] for r_ in reversed(rs) if 19 in r_), [])
            got = sorted((x[0], bytes(x[1]).hex(), x[2]) for x in ls)
            c.equal(got, sorted([(6, "00000000", 23), (17, "00" * 16, 161),
                                 (6, "7f000001", 8080)]),
                    "listening sockets: the --listen ones (pcap mode reads no /proc)")

            # 4. wardd, over TLS, stored every part.
            def stored():
                r2 = h.run([os.path.join(bindir, "wardctl"), "--db", db, "devices", "--json"],
                           timeout=30)
                if r2.returncode != 0:
                    return None
                try:
                    devs = {d.get("id"): d.get("reports") for d in json.loads(r2.stdout)}
                except ValueError:
                    return None
                return devs if devs.get(DEVICE) == parts else None
            c.check(h.wait_for(stored, 30, 0.2) is not None,
                    "wardd stored every report part of %s" % DEVICE)
            c.equal(wardd.terminate(15), 0, "wardd exits 0 on SIGTERM")
        except Exception as e:
            c.check(False, "no unexpected error: %s: %s" % (type(e).__name__, e))
            for p in env.procs:
                h.log("  %s output:\n%s" % (p.name, p.tail(15)))
        finally:
            if sub is not None:
                sub.close()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
