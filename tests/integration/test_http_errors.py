"""Every bad request gets DESIGN.md's JSON error, and the server goes on serving."""
import socket
import unittest

from harness import Server, tokens_config

ENV = {"IT_ADMIN": "admin-secret", "IT_READ": "read-secret"}
CONFIG = tokens_config(("admin", "IT_ADMIN", ["read", "admin"], None), ("reader", "IT_READ", ["read"], None))


class HttpErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, env=ENV, server_keys={"max_body_bytes": 4096, "max_header_bytes": 2048}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def assertError(self, result, status, code):
        got_status, doc, raw, _ = result
        self.assertEqual(got_status, status, raw)
        self.assertEqual(doc["error"]["code"], code, raw)
        self.assertTrue(doc["error"]["message"].endswith("."), doc)

    def test_health_and_readiness(self):
        self.assertEqual(self.srv.request("GET", "/healthz")[1], {"status": "ok"})
        status, doc, _, _ = self.srv.request("GET", "/readyz")
        self.assertEqual((status, doc["status"], doc["store"]), (200, "ready", "ok"))

    def test_malformed_json(self):
        self.assertError(self.srv.request("POST", "/api/broadcast", "{not json", token="admin-secret"),
                         400, "malformed_json")

    def test_body_must_be_an_object_with_a_message(self):
        self.assertError(self.srv.request("POST", "/api/broadcast", [1], token="admin-secret"), 400, "invalid_body")
        self.assertError(self.srv.request("POST", "/api/broadcast", {"tenant": "a"}, token="admin-secret"),
                         400, "missing_field")
        self.assertError(self.srv.request("POST", "/api/broadcast", {"message": 1, "x": 2}, token="admin-secret"),
                         400, "unknown_field")

    def test_oversized_body(self):
        self.assertError(self.srv.request("POST", "/api/broadcast", '{"message":"' + "x" * 5000 + '"}',
                                          token="admin-secret"), 413, "body_too_large")

    def test_oversized_headers(self):
        self.assertError(self.srv.request("GET", "/healthz", headers={"X-Big": "y" * 4000}),
                         431, "headers_too_large")

    def test_unknown_route_and_method(self):
        self.assertError(self.srv.request("GET", "/api/nothing-here", token="admin-secret"), 404, "not_found")
        self.assertError(self.srv.request("GET", "/no-such-page"), 404, "not_found")
        status, doc, raw, res = self.srv.request("GET", "/api/broadcast", token="admin-secret")
        self.assertEqual((status, doc["error"]["code"]), (405, "method_not_allowed"))
        self.assertEqual(res.getheader("Allow"), "POST")

    def test_missing_and_bad_tokens(self):
        status, doc, raw, res = self.srv.request("POST", "/api/broadcast", {"message": 1})
        self.assertEqual((status, doc["error"]["code"]), (401, "unauthorized"))
        self.assertEqual(res.getheader("WWW-Authenticate"), "Bearer")
        self.assertError(self.srv.request("POST", "/api/broadcast", {"message": 1}, token="wrong"),
                         401, "invalid_token")
        self.assertError(self.srv.request("GET", "/api/events", token="nope"), 401, "invalid_token")
        self.assertError(self.srv.request("GET", "/api/events?access_token=nope"), 401, "invalid_token")

    def test_scope_is_enforced(self):
        self.assertError(self.srv.request("POST", "/api/broadcast", {"message": 1}, token="read-secret"),
                         403, "missing_scope")
        self.assertError(self.srv.request("GET", "/api/stats", token="read-secret"), 403, "missing_scope")

    def test_query_parameters_are_checked_on_every_route(self):
        # A typo is a 400 naming it, before the stream opens: not a stream of everything.
        status, doc, _, _ = self.srv.request("GET", "/api/events?objct=laptops", token="read-secret")
        self.assertEqual((status, doc["error"]["code"]), (400, "unknown_parameter"))
        self.assertIn("'objct'", doc["error"]["message"])
        self.assertError(self.srv.request("GET", "/api/events?tenant=a,b", token="read-secret"), 400, "invalid_parameter")
        self.assertError(self.srv.request("GET", "/api/events?tenant=", token="read-secret"), 400, "invalid_parameter")
        self.assertError(self.srv.request("GET", "/api/stats?verbose=1", token="admin-secret"), 400, "unknown_parameter")
        self.assertError(self.srv.request("GET", "/api/audit?since=1&since=2", token="admin-secret"), 400,
                         "invalid_parameter")
        self.assertError(self.srv.request("GET", "/api/audit?latest=x", token="admin-secret"), 400, "invalid_parameter")
        self.assertEqual(self.srv.request("GET", "/api/audit?latest=5", token="admin-secret")[0], 200)
        self.assertEqual(self.srv.request("HEAD", "/api/events?tenant=Minneapolis%2C%20MN", token="read-secret")[0], 200)

    def test_unknown_object_in_a_subscription(self):
        self.assertError(self.srv.request("GET", "/api/events?object=ghosts", token="read-secret"),
                         404, "unknown_object")

    def test_ws_route_needs_an_upgrade(self):
        self.assertError(self.srv.request("GET", "/api/ws", token="read-secret"), 426, "websocket_required")

    def test_garbage_on_the_wire(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        self.assertIn(b'"code":"malformed_request"', data)

    def test_server_keeps_serving_and_counts(self):
        self.test_garbage_on_the_wire()
        self.assertEqual(self.srv.request("GET", "/healthz")[0], 200)
        stats = self.srv.stats(token="admin-secret")
        self.assertGreaterEqual(stats["http"]["protocol_errors"], 1)
        status, _, raw, res = self.srv.request("GET", "/metrics", token="admin-secret")
        self.assertEqual(status, 200)
        text = raw.decode()
        for name in ["freshet_connections{transport=\"sse\"}", "freshet_events_committed_total",
                     "freshet_event_deliveries_total", "freshet_slow_client_drops_total",
                     "freshet_http_requests_total{route=\"/healthz\",status=\"200\"}",
                     "freshet_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}"]:
            self.assertIn(name, text)

    def test_dashboard_is_served(self):
        status, _, raw, res = self.srv.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(res.getheader("Content-Type").startswith("text/html"))
        self.assertIn(b"<title>Freshet</title>", raw)
        self.assertEqual(self.srv.request("GET", "/app.js")[0], 200)


class StartupTest(unittest.TestCase):
    def test_refuses_to_start_without_tokens_unless_auth_none(self):
        srv = Server("")
        path = srv.write_config()
        import subprocess
        from harness import BIN
        r = subprocess.run([BIN, "serve", "--config", path], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no [[tokens]] or [[jwt]] issuers are configured", r.stderr)
        self.assertIn("freshet.toml:1:1:", r.stderr)
        srv.cleanup()

    def test_bad_config_names_file_line_and_problem(self):
        srv = Server('[[tokens]]\nname = "x"\nsecret_env = "IT_NOT_SET_ANYWHERE"\nscopes = ["read"]\n')
        path = srv.write_config()
        import subprocess
        from harness import BIN
        r = subprocess.run([BIN, "serve", "--config", path], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("freshet.toml:6:14: token 'x': environment variable IT_NOT_SET_ANYWHERE is not set",
                      r.stderr)
        srv.cleanup()

    def test_auth_none_is_logged_as_a_warning(self):
        srv = Server("", server_keys={"auth": '"none"'}).start()
        try:
            self.assertIn("level=warning msg=\"authentication is off", srv.read_log())
            self.assertEqual(srv.request("POST", "/api/broadcast", {"message": "x"})[0], 200)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
