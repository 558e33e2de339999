"""The Knack simulator's outbound webhooks: Freshet-defined bodies signed per
Standard Webhooks, checked here with Python's own hmac (an independent
implementation), retried when the receiver fails."""
import base64
import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time
import unittest

from harness import BIN
from sim_harness import KnackSim

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Receiver(http.server.ThreadingHTTPServer):
    """Collects deliveries; answers 503 to the first `fail_first` of them."""

    def __init__(self, fail_first=0):
        self.deliveries = []
        self.attempts = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def wait_for(self, n, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.deliveries) >= n:
                    return list(self.deliveries)
            time.sleep(0.02)
        raise AssertionError(f"only {len(self.deliveries)} of {n} webhooks arrived")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv = self.server
        with srv.lock:
            srv.attempts += 1
            fail = srv.attempts <= srv.fail_first
            if not fail:
                srv.deliveries.append((dict(self.headers.items()), body))
        self.send_response(503 if fail else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def verify(headers, body):
    key = base64.b64decode(SECRET[len("whsec_"):])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split(" "))


class KnackWebhooksTest(unittest.TestCase):
    def test_every_change_is_announced_signed(self):
        rx = Receiver()
        sim = KnackSim("--requests-per-second", "0", "--webhook-url", f"http://127.0.0.1:{rx.server_port}/hooks/knack",
                       "--webhook-secret", SECRET)
        try:
            applied = sim.request("POST", "/_sim/changes", {"count": 5}, auth=False)[1]["applied"]
            rid = sim.state("object_2")[0]["id"]
            self.assertEqual(sim.request("PUT", f"/v1/objects/object_2/records/{rid}", {"field_8": 3})[0], 200)
            got = rx.wait_for(6)
            ids = set()
            for headers, body in got:
                self.assertTrue(verify(headers, body), headers)
                self.assertLess(abs(int(headers["webhook-timestamp"]) - time.time()), 60)
                ids.add(headers["webhook-id"])
            self.assertEqual(len(ids), 6, "each delivery has its own id")
            bodies = sorted((json.loads(b)["type"], json.loads(b)["object"], json.loads(b)["record_id"]) for _, b in got)
            expected = sorted([("record." + c["op"], c["object"], c["id"]) for c in applied] +
                              [("record.updated", "object_2", rid)])
            self.assertEqual(bodies, expected)
            deadline = time.time() + 5
            while sim.stats()["webhooks_sent"] < 6 and time.time() < deadline:
                time.sleep(0.02)
            self.assertEqual(sim.stats()["webhooks_sent"], 6)
        finally:
            sim.stop()
            rx.shutdown()

    def test_a_failed_delivery_is_retried_with_the_same_id(self):
        rx = Receiver(fail_first=1)
        sim = KnackSim("--requests-per-second", "0", "--webhook-url", f"http://127.0.0.1:{rx.server_port}/",
                       "--webhook-secret", SECRET)
        try:
            sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)
            (headers, body), = rx.wait_for(1)
            self.assertEqual(rx.attempts, 2)
            self.assertEqual(headers["webhook-id"], "msg_1")
            self.assertTrue(verify(headers, body))
        finally:
            sim.stop()
            rx.shutdown()

    def test_webhook_url_needs_a_secret(self):
        r = subprocess.run([BIN, "simulate", "knack", "--webhook-url", "http://127.0.0.1:1/"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--webhook-secret", r.stderr)


if __name__ == "__main__":
    unittest.main()
