"""Limits a user can set: connection count, idle and read timeouts. And the
promise that no secret reaches the log."""
import http.client
import json
import socket
import time
import unittest

from harness import Server, SSEClient, tokens_config

ENV = {"IT_ADMIN": "admin-secret-5f2a", "IT_READ": "read-secret-9c1d"}
CONFIG = tokens_config(("admin", "IT_ADMIN", ["read", "admin"], None), ("reader", "IT_READ", ["read"], None))


def read_until_closed(sock, limit=5):
    sock.settimeout(limit)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


class LimitsTest(unittest.TestCase):
    def test_connections_beyond_the_limit_get_503(self):
        srv = Server(CONFIG, env=ENV, server_keys={"max_connections": 3}).start()
        try:
            held = [SSEClient(srv.port, headers={"Authorization": "Bearer read-secret-9c1d"}) for _ in range(3)]
            for c in held:
                self.assertEqual(c.read_head(), 200)
            status, doc, raw, _ = srv.request("GET", "/healthz")
            self.assertEqual((status, doc["error"]["code"]), (503, "too_many_connections"))
            held[0].close()
            srv.wait_for(lambda: srv.request("GET", "/healthz")[0] == 200, what="a free slot")
            for c in held[1:]:
                c.close()
        finally:
            srv.cleanup()

    def test_idle_keepalive_connection_is_closed(self):
        srv = Server(CONFIG, env=ENV, server_keys={"idle_timeout_seconds": 1}).start()
        try:
            s = socket.create_connection(("127.0.0.1", srv.port))
            started = time.time()
            self.assertEqual(read_until_closed(s), b"")
            self.assertLess(time.time() - started, 4)
            s.close()
        finally:
            srv.cleanup()

    def test_request_that_never_finishes_is_cut_at_the_read_timeout(self):
        srv = Server(CONFIG, env=ENV, server_keys={"read_timeout_seconds": 1}).start()
        try:
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess")
            started = time.time()
            read_until_closed(s)
            self.assertLess(time.time() - started, 4)
            s.close()
            self.assertEqual(srv.request("GET", "/healthz")[0], 200)
        finally:
            srv.cleanup()

    def test_no_secret_in_the_log_even_at_debug(self):
        srv = Server(CONFIG, env=ENV).start()
        try:
            c = SSEClient(srv.port, path="/api/events?access_token=read-secret-9c1d")
            self.assertEqual(c.read_head(), 200)
            c.close()
            srv.broadcast("x", token="admin-secret-5f2a")
            srv.request("GET", "/api/events?access_token=wrong-guess-7777")
            log = srv.read_log()
            self.assertIn("level=debug msg=request", log)
            for secret in ("admin-secret-5f2a", "read-secret-9c1d", "wrong-guess-7777"):
                self.assertNotIn(secret, log)
        finally:
            srv.cleanup()

    def test_the_heap_is_trimmed_once_a_burst_of_connections_has_passed(self):
        # Stream set-ups free their request buffers among live streams; once a
        # whole tick passes with no connection coming or going, the server
        # gives those pages back, and says so. One keep-alive connection asks,
        # so the asking is no churn of its own.
        srv = Server(CONFIG, env=ENV).start()
        asker = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        auth = {"Authorization": "Bearer admin-secret-5f2a"}

        def get(path):
            asker.request("GET", path, headers=auth)
            res = asker.getresponse()
            self.assertEqual(res.status, 200)
            return res.read().decode()

        try:
            memory = json.loads(get("/api/stats"))["memory"]
            self.assertGreater(memory["resident_bytes"], 1 << 20)
            self.assertEqual(memory["heap_trims"], 0)
            held = [SSEClient(srv.port, headers={"Authorization": "Bearer read-secret-9c1d"}) for _ in range(80)]
            for c in held:
                self.assertEqual(c.read_head(), 200)
            deadline = time.time() + 10
            while json.loads(get("/api/stats"))["memory"]["heap_trims"] == 0 and time.time() < deadline:
                time.sleep(0.1)
            metrics = get("/metrics")
            self.assertIn("freshet_heap_trims_total 1\n", metrics)
            self.assertRegex(metrics, r"process_resident_memory_bytes [1-9][0-9]{6,}\n")
            # The streams still deliver after the trim.
            srv.broadcast("after the trim", token="admin-secret-5f2a")
            for c in held[:3]:
                self.assertEqual(c.events(1)[0]["json"]["message"], "after the trim")
            for c in held:
                c.close()
        finally:
            asker.close()
            srv.cleanup()

if __name__ == "__main__":
    unittest.main()
