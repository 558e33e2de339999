"""Hardening (issue 10), each against the real binary over loopback: the
resume contract's corners, writes that strangers can cause, fail-closed
access, control characters in logs, and the time limits on slow clients."""
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Server, SSEClient, WSClient, tokens_config
from sync_harness import signed_delivery, wait_until

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CRM = '''[[sources]]
name = "crm"
kind = "webhook"
webhook_secret_env = "CRM_SECRET"

  [[sources.objects]]
  name = "contacts"
  key = "contacts"
  fields = { name = "name", region = "region", note = "note" }
  tenant_field = "region"
  watch_fields = ["name", "region"]
'''


def metric(server, name, token=None):
    status, _, raw, _ = server.request("GET", "/metrics", token=token)
    assert status == 200, raw
    m = re.search(rf"^{name} (\d+)$", raw.decode(), re.M)
    return int(m.group(1)) if m else None


class ResumeContract(unittest.TestCase):
    def setUp(self):
        self.server = Server(CRM, env={"CRM_SECRET": SECRET}, server_keys={"auth": '"none"'}).start()
        self.addCleanup(self.server.cleanup)

    def post(self, msg_id, fields):
        body = json.dumps({"type": "record.updated", "data": {"object": "contacts", "id": "c1", "fields": fields}})
        status, doc, raw, _ = self.server.request("POST", "/api/webhooks/crm", body,
                                                  headers=signed_delivery(SECRET, msg_id, body))
        self.assertEqual(status, 200, raw)
        return doc

    def test_the_records_etag_changes_when_an_unwatched_field_does(self):
        self.post("m1", {"name": "Ada", "region": "north", "note": "first"})
        path = "/api/objects/contacts/records"
        status, doc, _, res = self.server.request("GET", path)
        etag = res.getheader("ETag")
        self.assertEqual((status, doc["records"][0]["note"]), (200, "first"))
        self.assertEqual(self.server.request("GET", path, headers={"If-None-Match": etag})[0], 304)
        # `note` is not watched: no event, yet the page is different now.
        self.assertEqual(self.post("m2", {"name": "Ada", "region": "north", "note": "second"})["events"], 0)
        status, doc, _, res = self.server.request("GET", path, headers={"If-None-Match": etag})
        self.assertEqual((status, doc["records"][0]["note"]), (200, "second"))
        self.assertNotEqual(res.getheader("ETag"), etag)
        self.assertEqual(self.server.request("GET", path, headers={"If-None-Match": res.getheader("ETag")})[0], 304)


class Access(unittest.TestCase):
    def setUp(self):
        cfg = tokens_config(("ops", "T_OPS", ["read", "admin"], None), ("hen", "T_HEN", ["read"], ["hennepin"]))
        self.server = Server(cfg, env={"T_OPS": "ops-secret", "T_HEN": "hen-secret"}).start()
        self.addCleanup(self.server.cleanup)

    def test_a_token_in_the_query_only_opens_the_streams(self):
        for method, path in [("GET", "/api/objects"), ("GET", "/api/stats"), ("POST", "/api/broadcast"),
                             ("GET", "/api/audit")]:
            status, doc, raw, _ = self.server.request(method, path + "?access_token=ops-secret",
                                                      body={"message": "x"} if method == "POST" else None)
            self.assertEqual((status, doc["error"]["code"]), (401, "token_in_query"), path)
            self.assertIn("Authorization: Bearer", doc["error"]["message"])
        # Even with a good header beside it: a URL with a token is refused, not half used.
        status, doc, _, _ = self.server.request("GET", "/api/objects?access_token=x", token="ops-secret")
        self.assertEqual((status, doc["error"]["code"]), (401, "token_in_query"))
        sse = SSEClient(self.server.port, "/api/events?tenant=hennepin&access_token=hen-secret")
        self.addCleanup(sse.close)
        self.assertEqual(sse.read_head(), 200)
        ws = WSClient(self.server.port, "/api/ws?access_token=hen-secret")
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101)

    def test_an_empty_tenant_list_or_an_admin_with_tenants_does_not_start(self):
        for tenants, scopes, says in [([], ["read"], "'tenants' is empty"),
                                      (["hennepin"], ["read", "admin"], "an admin token sees every tenant")]:
            bad = Server(tokens_config(("x", "T_X", scopes, tenants)), env={"T_X": "s"})
            self.addCleanup(bad.cleanup)
            with self.assertRaises(RuntimeError) as e:
                bad.start()
            self.assertIn(says, str(e.exception))

    def test_control_characters_in_a_path_cannot_forge_a_log_line(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            s.sendall(b"GET /x%0Ats=forged%20level=error%20msg=owned%00 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
        wait_until(lambda: "x\\nts=forged" in self.server.read_log() or "not yet", 5, "the request's log line")
        log = self.server.read_log()
        self.assertFalse(any(line.startswith("ts=forged") for line in log.splitlines()))
        self.assertNotIn("\0", log)
        self.assertIn("\\x00", log)


class TimeLimits(unittest.TestCase):
    def start(self, **keys):
        self.server = Server("", server_keys={"auth": '"none"', **{k: str(v) for k, v in keys.items()}}).start()
        self.addCleanup(self.server.cleanup)
        return self.server

    def test_a_slow_head_is_cut_by_the_read_timeout_and_counted(self):
        server = self.start(read_timeout_seconds=1, idle_timeout_seconds=60)
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.addCleanup(s.close)
        started = time.time()
        cut = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: a\r\n":  # a byte each 0.2 s: 7 s for the head
            try:
                s.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    cut = True
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
        self.assertTrue(cut, "the slow head was not cut")
        self.assertLess(time.time() - started, 4, "cut by the idle timeout, not the read timeout")
        wait_until(lambda: metric(server, "freshet_http_read_timeouts_total") == 1 or "not yet", 5, "the count")

    def test_one_address_cannot_take_every_connection(self):
        server = self.start(max_connections_per_address=5)
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(5)]
        self.addCleanup(lambda: [s.close() for s in idle])
        # Accepted in the order they connected: these five hold the address's slots.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        self.assertIn(b"503", reply.split(b"\r\n")[0])
        self.assertIn(b"too_many_connections_from_address", reply)
        idle.pop().close()
        # The slot is free once the server has seen the close (asynchronously).
        wait_until(lambda: server.request("GET", "/healthz")[0] == 200 or "refused", 5, "a slot freed")
        for s in idle:
            s.close()
        # Each probe's own connection holds a slot until the server sees it close: with
        # the other four closed too, the count can be read whatever the timing.
        wait_until(lambda: server.request("GET", "/metrics")[0] == 200 or "refused", 5, "the slots freed")
        refused = metric(server, "freshet_http_connections_refused_per_address_total")
        self.assertGreaterEqual(refused, 1)  # the sixth, and any probe above that came before the close was seen

    def test_a_bad_target_honours_connection_close(self):
        server = self.start()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET /%zz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):  # ends only when the server closes
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        self.assertIn(b'"bad_target"', reply)
        self.assertIn(b"Connection: close", reply)

    def test_a_websocket_peer_that_stops_answering_pings_is_a_slow_client_drop(self):
        server = self.start(keepalive_seconds=1)
        ws = WSClient(server.port)
        self.addCleanup(ws.close)
        ws.send_json({"op": "subscribe"})
        # Never read again: pings go unanswered, and after twice the keep-alive it is cut.
        wait_until(lambda: server.stats()["events"]["slow_client_drops"] == 1 or "not yet", 10, "the drop")
        self.assertEqual(server.stats()["connections"]["ws"], 0)


class StrangersWrites(unittest.TestCase):
    def test_a_flood_of_rejected_webhooks_costs_bounded_space(self):
        server = Server(CRM, env={"CRM_SECRET": SECRET}, server_keys={"auth": '"none"', "max_header_bytes": "32768"})
        server.start()
        self.addCleanup(server.cleanup)
        db = os.path.join(server.data_dir, "freshet.db")

        def store_bytes():
            return sum(os.path.getsize(db + ext) for ext in ("", "-wal") if os.path.exists(db + ext))

        before = store_bytes()
        huge_id = "w" * 15_000
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for i in range(2000):
            conn.request("POST", "/api/webhooks/crm", body="{}",
                         headers={"webhook-id": huge_id + str(i), "webhook-timestamp": "1", "webhook-signature": "v1,x"})
            res = conn.getresponse()
            res.read()
            self.assertEqual(res.status, 401)
        conn.close()
        # One row per reason and 10 s window, with the count and a few cut-short samples.
        def rows():
            entries = server.request("GET", "/api/audit")[1]["entries"]
            return [e for e in entries if e["outcome"] == "rejected"]
        wait_until(lambda: sum(r["detail"]["count"] for r in rows()) == 2000 or "not yet", 25, "the aggregated rows")
        self.assertLessEqual(len(rows()), 2)
        for r in rows():
            self.assertLess(len(json.dumps(r)), 2000)
        self.assertLess(store_bytes() - before, 1_000_000, "2,000 rejections grew the store by a megabyte")


@unittest.skipUnless(os.geteuid() == 0, "mounting a small file system needs root")
class DiskFull(unittest.TestCase):
    """A real full disk: the data dir on a 4 MiB tmpfs, filled up by a file."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="freshet-full-")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.mnt], capture_output=True)
        if mounted.returncode != 0:  # a sandbox without the right to mount
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here: " + mounted.stderr.decode().strip())
        self.addCleanup(lambda: (subprocess.run(["umount", "-l", self.mnt]), os.rmdir(self.mnt)))
        self.server = Server("", data_dir=os.path.join(self.mnt, "data"), server_keys={"auth": '"none"'})
        os.makedirs(self.server.data_dir)
        self.server.log_path = os.path.join(tempfile.mkdtemp(), "server.log")  # the log stays off the full disk
        self.server.start()
        self.addCleanup(self.server.stop)

    def test_writes_are_refused_while_full_and_accepted_again_by_themselves(self):
        acked = [self.server.broadcast("before")]
        filler = os.path.join(self.mnt, "filler")
        with open(filler, "wb") as f:  # take every byte that is left
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        refused = None
        for i in range(400):  # the WAL may have room for a few more before it needs a new page
            status, doc, _, _ = self.server.request("POST", "/api/broadcast", {"message": "x" * 4000 + str(i)})
            if status == 200:
                acked.append(doc["id"])
                continue
            refused = (status, doc["error"]["code"])
            break
        self.assertEqual(refused, (503, "store_full"))
        status, doc, _, _ = self.server.request("GET", "/readyz")
        self.assertEqual((status, doc["store"]), (503, "full"))
        self.assertEqual(self.server.request("POST", "/api/broadcast", {"message": "still full"})[0], 503)

        os.remove(filler)
        wait_until(lambda: self.server.request("GET", "/readyz")[0] == 200 or "not ready", 10, "recovery")
        acked.append(self.server.broadcast("after"))
        # Nothing acknowledged is lost, in order, once each.
        sse = SSEClient(self.server.port, "/api/events", headers={"Last-Event-ID": "0"})
        self.addCleanup(sse.close)
        got = [f["id"] for f in sse.events(len(acked))]
        self.assertEqual(got, acked)
        self.assertEqual(len(set(int(i) for i in got)), len(got))


if __name__ == "__main__":
    unittest.main()
