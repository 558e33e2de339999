"""CORS (issue 12): a dashboard on another origin may call the API and open
streams when its origin is in [server] allowed_origins, and gets no CORS
headers when it is not; WebSocket upgrades from other sites are refused."""
import unittest

from harness import Server, SSEClient, WSClient, tokens_config

DASH = "http://127.0.0.1:5173"


class Cors(unittest.TestCase):
    def setUp(self):
        cfg = tokens_config(("dash", "T_DASH", ["read", "refresh"], None))
        self.server = Server(cfg, env={"T_DASH": "dash-secret"},
                             server_keys={"allowed_origins": f'["{DASH}"]'}).start()
        self.addCleanup(self.server.cleanup)

    def preflight(self, path, origin, method="GET", headers="authorization"):
        return self.server.request("OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                                              "Access-Control-Request-Headers": headers})

    def test_a_preflight_is_answered_for_every_api_route_and_an_allowed_origin(self):
        for path, method in [("/api/objects", "GET"), ("/api/objects/laptops/records", "GET"),
                             ("/api/objects/laptops/records/x", "GET"), ("/api/events", "GET"),
                             ("/api/refresh", "POST"), ("/api/broadcast", "POST"), ("/api/jobs/j1", "GET"),
                             ("/api/stats", "GET"), ("/api/audit", "GET"), ("/api/webhooks/s", "POST")]:
            status, _, raw, res = self.preflight(path, DASH, method)
            self.assertEqual(status, 204, (path, raw))
            self.assertEqual(res.getheader("Access-Control-Allow-Origin"), DASH, path)
            self.assertIn(method, res.getheader("Access-Control-Allow-Methods"), path)
            allowed = res.getheader("Access-Control-Allow-Headers")
            for h in ("Authorization", "Content-Type", "Last-Event-ID"):
                self.assertIn(h, allowed, path)
            self.assertIsNone(res.getheader("Access-Control-Allow-Credentials"))
            self.assertEqual(res.getheader("Vary"), "Origin")
        status, doc, _, res = self.preflight("/api/nope", DASH)
        self.assertEqual((status, doc["error"]["code"]), (404, "not_found"))

    def test_an_origin_not_on_the_list_gets_no_cors_headers(self):
        status, doc, _, res = self.preflight("/api/objects", "http://evil.example")
        self.assertEqual((status, doc["error"]["code"]), (403, "origin_not_allowed"))
        self.assertIsNone(res.getheader("Access-Control-Allow-Origin"))
        status, _, _, res = self.server.request("GET", "/api/objects", token="dash-secret",
                                                headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 200)  # the browser, not the server, withholds the answer from the page
        self.assertIsNone(res.getheader("Access-Control-Allow-Origin"))
        self.assertEqual(res.getheader("Vary"), "Origin")
        self.assertIn("not in allowed_origins", self.server.read_log())

    def test_json_replies_and_sse_streams_carry_the_origin_and_expose_etag(self):
        status, _, _, res = self.server.request("GET", "/api/objects", token="dash-secret", headers={"Origin": DASH})
        self.assertEqual(status, 200)
        self.assertEqual(res.getheader("Access-Control-Allow-Origin"), DASH)
        self.assertIn("ETag", res.getheader("Access-Control-Expose-Headers"))
        self.assertIn("Retry-After", res.getheader("Access-Control-Expose-Headers"))
        status, _, _, res = self.server.request("GET", "/api/objects", headers={"Origin": DASH})
        self.assertEqual(status, 401)  # errors carry it too, so the page can read why
        self.assertEqual(res.getheader("Access-Control-Allow-Origin"), DASH)
        sse = SSEClient(self.server.port, "/api/events?access_token=dash-secret", headers={"Origin": DASH})
        self.addCleanup(sse.close)
        self.assertEqual(sse.read_head(), 200)
        self.assertIn(f"Access-Control-Allow-Origin: {DASH}", sse.head)

    def test_a_websocket_upgrade_from_another_site_is_refused(self):
        ws = WSClient(self.server.port, "/api/ws?access_token=dash-secret", headers={"Origin": "http://evil.example"})
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 403)
        ok = WSClient(self.server.port, "/api/ws?access_token=dash-secret", headers={"Origin": DASH})
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 101)
        # The page's own origin is the Host it asked (WSClient sends "Host: 127.0.0.1").
        own = WSClient(self.server.port, "/api/ws?access_token=dash-secret", headers={"Origin": "http://127.0.0.1"})
        self.addCleanup(own.close)
        self.assertEqual(own.status, 101)  # the built-in dashboard's own page


class CorsAnyOrigin(unittest.TestCase):
    def test_star_allows_every_origin_and_never_credentials(self):
        server = Server("", server_keys={"auth": '"none"', "allowed_origins": '["*"]'}).start()
        self.addCleanup(server.cleanup)
        status, _, _, res = server.request("OPTIONS", "/api/events", headers={"Origin": "http://any.example",
                                                                              "Access-Control-Request-Method": "GET"})
        self.assertEqual((status, res.getheader("Access-Control-Allow-Origin")), (204, "*"))
        self.assertIsNone(res.getheader("Access-Control-Allow-Credentials"))

    def test_a_bad_origin_is_refused_at_start(self):
        bad = Server("", server_keys={"auth": '"none"', "allowed_origins": '["dash.example.org"]'})
        self.addCleanup(bad.cleanup)
        with self.assertRaises(RuntimeError) as e:
            bad.start()
        self.assertIn("is not an origin", str(e.exception))


if __name__ == "__main__":
    unittest.main()
