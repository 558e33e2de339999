"""SSE and WebSocket delivery: broadcasts arrive, filters and tenant scopes hold,
resume returns exactly the missed events in order, and the replay-to-live seam
has no gap and no duplicate."""
import threading
import unittest

from harness import Server, SSEClient, WSClient, tokens_config

ENV = {"IT_ADMIN": "admin-secret", "IT_READ": "read-secret", "IT_HEN": "hen-secret"}
CONFIG = tokens_config(("admin", "IT_ADMIN", ["read", "admin"], None),
                       ("reader", "IT_READ", ["read"], None),
                       ("hennepin", "IT_HEN", ["read"], ["hennepin"]))
AUTH = {"Authorization": "Bearer read-secret"}


class StreamsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, env=ENV, server_keys={"keepalive_seconds": 1}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def publish(self, message, tenant=None):
        return self.srv.broadcast(message, tenant=tenant, token="admin-secret")

    def test_sse_receives_broadcasts_with_retry_and_keepalive(self):
        c = SSEClient(self.srv.port, headers=AUTH)
        self.assertEqual(c.read_head(), 200)
        self.assertIn("Content-Type: text/event-stream", c.head)
        self.srv.wait_for(lambda: self.srv.stats("admin-secret")["connections"]["sse"] >= 1, what="subscriber")
        ids = [self.publish({"n": i}) for i in range(3)]
        frames = c.events(3)
        self.assertEqual([f["id"] for f in frames], ids)
        self.assertEqual([f["event"] for f in frames], ["message"] * 3)
        self.assertEqual([f["json"]["message"]["n"] for f in frames], [0, 1, 2])
        self.assertEqual(frames[0]["json"]["id"], ids[0])
        self.assertEqual(c.retry, 3000)
        # keepalive_seconds = 1: a ping comment arrives on an idle stream.
        c.sock.settimeout(5)
        c.wait_ping()
        c.close()

    def test_resume_by_header_and_by_query_parameter(self):
        first = self.publish("before-1")
        ids = [self.publish(f"missed-{i}") for i in range(5)]
        connects = (lambda: SSEClient(self.srv.port, headers={**AUTH, "Last-Event-ID": first}),
                    lambda: SSEClient(self.srv.port, path=f"/api/events?last_event_id={first}", headers=AUTH))
        for connect in connects:
            c = connect()
            frames = c.events(len(ids))
            self.assertEqual([f["id"] for f in frames], ids)
            self.assertEqual([f["json"]["message"] for f in frames[:5]], [f"missed-{i}" for i in range(5)])
            live = self.publish("live")
            self.assertEqual(c.next_frame()["id"], live)
            c.close()
            ids.append(live)

    def test_seam_between_replay_and_live_has_no_gap_or_duplicate(self):
        start = self.publish("seam-start")
        stop = threading.Event()
        published = []

        def publisher():
            while not stop.is_set() and len(published) < 400:
                published.append(self.publish("seam"))

        t = threading.Thread(target=publisher)
        t.start()
        try:
            # Connect while events are being committed, so some reach us by
            # replay and the rest live.
            self.srv.wait_for(lambda: len(published) >= 50, what="publishes before connect")
            c = SSEClient(self.srv.port, headers={**AUTH, "Last-Event-ID": start})
            got = []
            self.srv.wait_for(lambda: len(published) >= 150, what="publishes after connect")
        finally:
            stop.set()
            t.join()
        while len(got) < len(published):
            got.append(int(c.next_frame()["id"]))
        self.assertEqual(got, [int(i) for i in published])
        c.close()

    def test_tenant_filter_and_tenant_scoped_token(self):
        hen = SSEClient(self.srv.port, path="/api/events?access_token=hen-secret")
        filtered = SSEClient(self.srv.port, path="/api/events?tenant=ramsey", headers=AUTH)
        for c in (hen, filtered):
            self.assertEqual(c.read_head(), 200)
        self.srv.wait_for(lambda: self.srv.stats("admin-secret")["connections"]["by_topic"].get("tenants=hennepin"),
                          what="scoped subscriber")
        self.publish("for ramsey", tenant="ramsey")
        self.publish("for hennepin", tenant="hennepin")
        self.publish("for everyone")
        self.assertEqual([f["json"]["message"] for f in hen.events(2)], ["for hennepin", "for everyone"])
        self.assertEqual([f["json"]["message"] for f in filtered.events(2)], ["for ramsey", "for everyone"])
        hen.close()
        filtered.close()

    def test_scoped_token_cannot_subscribe_to_another_tenant(self):
        c = SSEClient(self.srv.port, path="/api/events?tenant=ramsey&access_token=hen-secret")
        self.assertEqual(c.read_head(), 403)
        self.assertEqual(c.body_json()["error"]["code"], "forbidden_tenant")
        c.close()
        ws = WSClient(self.srv.port, headers={"Authorization": "Bearer hen-secret"})
        self.assertEqual(ws.status, 101)
        ws.send_json({"op": "subscribe", "tenant": "ramsey"})
        self.assertEqual(ws.next_json()["error"]["code"], "forbidden_tenant")
        ws.close()

    def test_scoped_token_resume_replays_only_its_tenant(self):
        start = self.publish("x", tenant="hennepin")
        self.publish("r1", tenant="ramsey")
        h1 = self.publish("h1", tenant="hennepin")
        self.publish("r2", tenant="ramsey")
        h2 = self.publish("h2", tenant="hennepin")
        c = SSEClient(self.srv.port, path=f"/api/events?access_token=hen-secret&last_event_id={start}")
        self.assertEqual([f["id"] for f in c.events(2)], [h1, h2])
        c.close()

    def test_websocket_subscribe_receive_and_resume(self):
        ws = WSClient(self.srv.port, headers=AUTH)
        self.assertEqual(ws.status, 101)
        ws.send_text("{nope")
        self.assertEqual(ws.next_json()["error"]["code"], "malformed_json")
        ws.send_json({"op": "unsubscribe"})
        self.assertEqual(ws.next_json()["error"]["code"], "invalid_message")
        start = self.publish("ws-before")
        missed = self.publish("ws-missed", tenant="hennepin")
        ws.send_json({"op": "subscribe", "objects": [], "since": start})
        got = ws.next_json()
        self.assertEqual((got["id"], got["message"]), (missed, "ws-missed"))
        live = self.publish("ws-live")
        self.assertEqual(ws.next_json()["id"], live)
        ws.send_json({"op": "subscribe"})
        self.assertEqual(ws.next_json()["error"]["code"], "already_subscribed")
        ws.close()

    def test_websocket_with_token_in_query_and_tenant(self):
        ws = WSClient(self.srv.port, path="/api/ws?access_token=hen-secret")
        ws.send_json({"op": "subscribe", "tenant": "hennepin"})
        self.srv.wait_for(lambda: self.srv.stats("admin-secret")["connections"]["ws"] >= 1, what="ws subscriber")
        self.publish("no", tenant="ramsey")
        yes = self.publish("yes", tenant="hennepin")
        self.assertEqual(ws.next_json()["id"], yes)
        ws.close()

    def test_websocket_refuses_bad_token_before_upgrade(self):
        ws = WSClient(self.srv.port, headers={"Authorization": "Bearer wrong"})
        self.assertEqual(ws.status, 401)
        ws.close()

    def test_many_concurrent_subscribers_all_stay_attached(self):
        # Regression: with several I/O threads a late readiness event for the
        # request itself used to be taken for a disconnect, silently dropping
        # about one subscriber in 500 right after it connected.
        clients = [SSEClient(self.srv.port, headers=AUTH) for _ in range(600)]
        for c in clients:
            self.assertEqual(c.read_head(), 200)
        self.srv.wait_for(lambda: self.srv.stats("admin-secret")["connections"]["sse"] >= 600, what="600 subscribers")
        ids = [self.publish(f"to all {i}") for i in range(3)]
        for c in clients:
            self.assertEqual([f["id"] for f in c.events(3)], ids)
            c.close()

    def test_unparsable_resume_id_gets_a_reset(self):
        c = SSEClient(self.srv.port, headers={**AUTH, "Last-Event-ID": "not-an-id"})
        f = c.next_frame()
        self.assertEqual(f["event"], "reset")
        self.assertNotIn("id", f)
        c.close()

    def test_resume_point_ahead_of_the_log_gets_a_reset_then_live(self):
        c = SSEClient(self.srv.port, headers={**AUTH, "Last-Event-ID": "999999999"})
        self.assertEqual(c.next_frame()["event"], "reset")
        live = self.publish("after reset")
        self.assertEqual(c.next_frame()["id"], live)
        c.close()


if __name__ == "__main__":
    unittest.main()
