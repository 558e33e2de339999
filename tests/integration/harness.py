"""Drives the real freshet binary over loopback for the integration tests.

Only Python's standard library: a server process on a free port with its own
data dir, an HTTP helper, and minimal SSE and WebSocket clients that read the
wire as a browser would. Every wait is bounded.
"""
import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

# Absolute: some tests run it from a scratch folder of their own.
BIN = os.path.abspath(os.environ.get("FRESHET_BIN", os.path.join(os.path.dirname(__file__), "../../build/src/freshet")))


def http_request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a new connection: (status, JSON document or None, raw body, response).
    A dict or list body is sent as JSON. A JSON content type whose body does not
    parse (an injected truncation, say) gives None; the raw body is still there."""
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=h)
    res = conn.getresponse()
    raw = res.read()
    conn.close()
    doc = None
    if res.getheader("Content-Type", "").startswith("application/json"):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            doc = None
    return res.status, doc, raw, res


class Server:
    """One freshet process. `config` is the TOML text without the listen and
    data_dir keys of [server], which the harness fills in."""

    def __init__(self, config="", env=None, data_dir=None, server_keys=None, log_level="debug"):
        self.log_level = log_level
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="freshet-it-")
        self.config_text = config
        self.server_keys = server_keys or {}
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def write_config(self):
        keys = {"listen": '"127.0.0.1:0"', "data_dir": json.dumps(self.data_dir)}
        keys.update(self.server_keys)
        text = "[server]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + self.config_text
        path = os.path.join(self.data_dir, "freshet.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, timeout=15):
        path = self.write_config()
        self.log = open(self.log_path, "ab")
        log_start = self.log.tell()
        self.proc = subprocess.Popen([BIN, "--log-level", self.log_level, "serve", "--config", path],
                                     stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"freshet exited with {self.proc.returncode}:\n{self.read_log()}")
            m = re.findall(r"msg=listening address=127\.0\.0\.1:(\d+)", self.read_log()[log_start:])
            if m:
                self.port = int(m[-1])
                return self
            time.sleep(0.02)
        raise RuntimeError("freshet did not start listening:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            subprocess.run(["rm", "-rf", self.data_dir])

    # --- HTTP -----------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, timeout=10):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        return http_request(self.port, method, path, body, h, timeout)

    def broadcast(self, message, tenant=None, token=None):
        body = {"message": message}
        if tenant is not None:
            body["tenant"] = tenant
        status, doc, raw, _ = self.request("POST", "/api/broadcast", body, token=token)
        assert status == 200, (status, raw)
        return doc["id"]

    def stats(self, token=None):
        status, doc, raw, _ = self.request("GET", "/api/stats", token=token)
        assert status == 200, (status, raw)
        return doc

    def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")


class SSEClient:
    """A raw-socket EventSource: sends one GET, parses frames as they come."""

    def __init__(self, port, path="/api/events", headers=None, rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status = None
        self.head = None
        self.retry = None
        self.comments = 0
        self.closed = False

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            raise EOFError("server closed the stream")
        self.buf += chunk

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.status = int(self.head.split(" ")[1])
        return self.status

    def body_json(self):
        """For a refused subscription: the whole JSON error body."""
        m = re.search(r"Content-Length: (\d+)", self.head, re.I)
        n = int(m.group(1))
        while len(self.buf) < n:
            self._fill()
        return json.loads(self.buf[:n])

    def next_frame(self):
        """The next event frame as a dict {id, event, data}, skipping comments and retry."""
        if self.status is None:
            assert self.read_head() == 200, self.head
        while True:
            while b"\n\n" not in self.buf:
                self._fill()
            raw, self.buf = self.buf.split(b"\n\n", 1)
            frame = {}
            for line in raw.decode().split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                key, _, value = line.partition(": ")
                frame[key] = value
            if "retry" in frame:
                self.retry = int(frame.pop("retry"))
            if "data" in frame:
                frame["json"] = json.loads(frame["data"])
                return frame

    def wait_ping(self):
        """Reads until a keep-alive comment arrives (bounded by the socket timeout)."""
        while b": ping\n\n" not in self.buf:
            self._fill()
        self.buf = self.buf.replace(b": ping\n\n", b"", 1)

    def events(self, n):
        return [self.next_frame() for _ in range(n)]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WSClient:
    """A minimal RFC 6455 client: handshake, masked text frames out, frames in."""

    def __init__(self, port, path="/api/ws", headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("closed during handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.status = int(self.head.split(" ")[1])

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, doc):
        self.send_text(json.dumps(doc))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def next_frame(self):
        """(opcode, payload bytes); answers pings itself."""
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n = b1 & 0x7F
            off = 2
            if n == 126:
                self._need(4)
                n = struct.unpack("!H", self.buf[2:4])[0]
                off = 4
            elif n == 127:
                self._need(10)
                n = struct.unpack("!Q", self.buf[2:10])[0]
                off = 10
            self._need(off + n)
            payload = self.buf[off:off + n]
            self.buf = self.buf[off + n:]
            op = b0 & 0x0F
            if op == 0x9:  # ping -> pong
                mask = os.urandom(4)
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask +
                                  bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
                continue
            return op, payload

    def next_json(self):
        op, payload = self.next_frame()
        assert op == 0x1, f"expected a text frame, got opcode {op}"
        return json.loads(payload)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tokens_config(*tokens):
    """[[tokens]] blocks: each (name, env var, scopes, tenants or None)."""
    out = ""
    for name, env, scopes, tenants in tokens:
        out += f'[[tokens]]\nname = "{name}"\nsecret_env = "{env}"\nscopes = {json.dumps(scopes)}\n'
        if tenants is not None:
            out += f"tenants = {json.dumps(tenants)}\n"
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on a free loopback port, durable as the
    Redis engine wants it (AOF, fsync always) unless `durable` is False.
    kill9() and start() again keep the port and the AOF directory."""

    def __init__(self, durable=True, extra=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="freshet-redis-")
        self.args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")]
        self.args += ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
        self.args += list(extra)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=5):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start listening")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill9()
        subprocess.run(["rm", "-rf", self.dir])


def redis_store_config(prefix="freshet"):
    """The [store] section of an instance on the Redis engine (its URL in FRESHET_REDIS_URL)."""
    return f'[store]\nengine = "redis"\nkey_prefix = "{prefix}"\n'
