"""Shared machinery of ward's integration tests: a temp dir, processes that are always cleaned up,
a real Mosquitto broker on a free loopback port, a minimal MQTT 3.1.1 subscriber, and a checker
that counts results and prints readable differences.

Standard library only; runs with Debian's /usr/bin/python3. Network traffic stays on 127.0.0.1.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

MOSQUITTO = os.environ.get("WARD_MOSQUITTO", "/usr/sbin/mosquitto")


def log(msg):
    print(msg, flush=True)


SKIP = 77  # exit status CTest reads as "skipped" (SKIP_RETURN_CODE)


def in_ci():
    """True when the environment says CI=true (or any value but empty/0/false/no)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def skip(name, reason):
    """Exit status for a test that cannot run here: a skip (77) on a developer's machine, a
    failure (1) in CI, where a skip would hide a broken setup."""
    if in_ci():
        log("%s: FAIL: %s (CI is set: this test must run)" % (name, reason))
        return 1
    log("%s: skipped (%s)" % (name, reason))
    return SKIP


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until it returns a true value (returned) or timeout seconds pass
    (returns the last value, false)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Checker:
    """Counts checks; a failed check prints what was expected and what was found."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, ok, what, expected=None, found=None):
        if ok:
            self.passed += 1
            log("  ok    %s" % what)
        else:
            self.failed += 1
            log("  FAIL  %s" % what)
            if expected is not None or found is not None:
                log(diff_text(expected, found))
        return ok

    def equal(self, found, expected, what):
        return self.check(found == expected, what, expected, found)

    def summary(self):
        log("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def _fmt(v):
    return json.dumps(v, indent=1, sort_keys=True, default=str).splitlines()


def diff_text(expected, found):
    """A readable difference: for dicts keyed by something, which keys are missing, unexpected or
    different; otherwise a unified diff of the JSON forms."""
    import difflib
    lines = []
    if isinstance(expected, dict) and isinstance(found, dict):
        for k in sorted(set(expected) | set(found), key=str):
            if k not in found:
                lines.append("        missing:    %s = %s" % (k, json.dumps(expected[k], default=str)))
            elif k not in expected:
                lines.append("        unexpected: %s = %s" % (k, json.dumps(found[k], default=str)))
            elif expected[k] != found[k]:
                lines.append("        different:  %s" % (k,))
                lines.append("            expected %s" % json.dumps(expected[k], sort_keys=True,
                                                                  default=str))
                lines.append("            found    %s" % json.dumps(found[k], sort_keys=True,
                                                                  default=str))
        return "\n".join(lines) if lines else "        (no difference in keys)"
    d = difflib.unified_diff(_fmt(expected), _fmt(found), "expected", "found", lineterm="")
    return "\n".join("        " + x for x in d)


class Env:
    """A temp dir and the processes started in it. Leaving the with-block (also by an exception or
    SIGTERM/SIGINT) kills every process group still alive and removes the dir (unless keep)."""

    def __init__(self, prefix="ward-int-", keep=False):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.keep = keep
        self.procs = []

    def __enter__(self):
        def on_signal(sig, frame):
            raise KeyboardInterrupt("signal %d" % sig)
        self._old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.kill()
        for s, h in self._old.items():
            signal.signal(s, h)
        if self.keep:
            log("(kept %s)" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def start(self, name, argv, **kw):
        p = Proc(name, argv, self.path(name + ".log"), **kw)
        self.procs.append(p)
        return p


class Proc:
    """A background process in its own process group; stdout and stderr go to one log file and
    are also scanned line by line (wait_line)."""

    def __init__(self, name, argv, logpath, env=None):
        self.name, self.argv, self.logpath = name, argv, logpath
        self.lines = []
        self._cond = threading.Condition()
        self._log = open(logpath, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.write(line + "\n")
            self._log.flush()
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        self._log.close()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, timeout):
        """The first output line matching the regex, waiting up to timeout seconds; None when the
        process exits or the time runs out first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._t.is_alive()):
                    return None
                self._cond.wait(min(left, 0.2))

    def output(self):
        with self._cond:
            return "\n".join(self.lines)

    def tail(self, n=20):
        with self._cond:
            return "\n".join("        | " + x for x in self.lines[-n:])

    def alive(self):
        return self.p.poll() is None

    def terminate(self, timeout=10):
        """SIGTERM, wait; returns the exit status (None if it had to be killed)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._t.join(2)
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        else:
            # The leader is gone; its group may not be.
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run(argv, timeout=60, **kw):
    """Run a command to completion in its own process group; kill the group on timeout.
    Returns CompletedProcess with text stdout/stderr (returncode None after a timeout)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True, text=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return subprocess.CompletedProcess(argv, None, out, (err or "") + "\n(timed out)")
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        raise


def start_broker(env, name="mosquitto", extra="", port=None):
    """A Mosquitto of our own on a free loopback port (no persistence, anonymous). Returns
    (Proc, port) once it accepts connections. extra: more config lines (another listener...);
    port: use this port (a restart on the same port), else a free one."""
    for attempt in range(5 if port is None else 1):
        port = free_port() if port is None or attempt > 0 else port
        conf = env.path(name + ".conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest stdout\n" % port + extra)
        p = env.start(name, [MOSQUITTO, "-c", conf])

        def accepting():
            if not p.alive():
                return "dead"
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return "up"
            except OSError:
                return None
        state = wait_for(accepting, 10)
        if state == "up":
            return p, port
        p.kill()  # the port was taken meanwhile, or mosquitto failed: try another port
    raise RuntimeError("mosquitto did not start; last log:\n" + p.tail())


# ---- a minimal MQTT 3.1.1 subscriber (QoS 0 delivery) -------------------------------------------

def _remaining_length(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


class _MqttClient:
    """The MQTT 3.1.1 basics the test clients share: CONNECT (clean session, no keepalive) with
    its CONNACK checked, and reading one packet."""

    def __init__(self, port, client_id):
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        var = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
        payload = _utf8(client_id)
        self.sock.sendall(bytes([0x10]) + _remaining_length(len(var) + len(payload)) + var + payload)
        first, body = self._read_packet()
        if first & 0xF0 != 0x20 or body[1] != 0:
            raise RuntimeError("MQTT CONNACK refused: %r" % body)

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _read_packet(self):
        first = self._recv(1)[0]
        n, mult = 0, 1
        while True:
            b = self._recv(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return first, self._recv(n) if n else b""


class Publisher(_MqttClient):
    """A minimal MQTT 3.1.1 publisher: QoS 1, waits for each PUBACK. Used by tests that publish
    reports or configs they build themselves (cbor2), independently of ward's own code."""

    def __init__(self, port, client_id="ward-int-pub"):
        super().__init__(port, client_id)
        self.pid = 0

    def publish(self, topic, payload, retain=False):
        """PUBLISH at QoS 1 and wait for its PUBACK."""
        self.pid = self.pid % 65535 + 1
        var = _utf8(topic) + struct.pack("!H", self.pid)
        first = 0x32 | (0x01 if retain else 0)
        self.sock.sendall(bytes([first]) + _remaining_length(len(var) + len(payload)) + var +
                          payload)
        t, body = self._read_packet()
        if t & 0xF0 != 0x40 or struct.unpack("!H", body[:2])[0] != self.pid:
            raise RuntimeError("no PUBACK for %s" % topic)

    def close(self):
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
            self.sock.close()
        except OSError:
            pass


def publish_retained(port, topic, payload, client_id="ward-int-rawpub"):
    """Publish one retained message at QoS 1 (acknowledged), then disconnect."""
    pub = Publisher(port, client_id)
    try:
        pub.publish(topic, payload, retain=True)
    finally:
        pub.close()


class Subscriber(_MqttClient):
    """Subscribes to topic filters at QoS 0 and records every PUBLISH as (topic, payload, retain).
    Enough MQTT to watch what the agents publish, independently of wardd."""

    def __init__(self, port, filters, client_id="ward-int-sub"):
        self.messages = []
        self._lock = threading.Lock()
        super().__init__(port, client_id)
        subs = b"".join(_utf8(f) + b"\0" for f in filters)
        pkt = struct.pack("!H", 1) + subs
        self.sock.sendall(bytes([0x82]) + _remaining_length(len(pkt)) + pkt)
        t, body = self._read_packet()
        if t & 0xF0 != 0x90 or any(b == 0x80 for b in body[2:]):
            raise RuntimeError("MQTT SUBACK refused: %r" % body)
        self.sock.settimeout(None)
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        try:
            while True:
                first, body = self._read_packet()
                if first & 0xF0 == 0x30:
                    tlen = struct.unpack("!H", body[:2])[0]
                    topic = body[2:2 + tlen].decode()
                    off = 2 + tlen + (2 if (first >> 1) & 3 else 0)
                    with self._lock:
                        self.messages.append((topic, body[off:], bool(first & 1)))
        except (EOFError, OSError):
            pass

    def received(self):
        with self._lock:
            return list(self.messages)

    def close(self):
        try:
            self.sock.sendall(b"\xe0\x00")
            self.sock.close()
        except OSError:
            pass
