"""What a crash or restart must not lose: every acknowledged event is in the
log once, in order, and a client resumes across a restart with no gap."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Server, SSEClient, tokens_config

ENV = {"IT_ADMIN": "admin-secret"}
CONFIG = tokens_config(("admin", "IT_ADMIN", ["read", "admin"], None))
AUTH = {"Authorization": "Bearer admin-secret"}


def read_all(srv, after="0"):
    """Every retained event after `after`, read back through SSE replay."""
    last = int(srv.stats("admin-secret")["events"]["last_id"])
    c = SSEClient(srv.port, headers={**AUTH, "Last-Event-ID": after})
    frames = [c.next_frame() for _ in range(last - int(after))]
    c.close()
    return frames


class DurabilityTest(unittest.TestCase):
    def test_kill_9_loses_no_acknowledged_event(self):
        srv = Server(CONFIG, env=ENV).start()
        acked = {}  # message -> id
        lock = threading.Lock()
        stop = threading.Event()

        def publisher(k):
            n = 0
            while not stop.is_set():
                msg = f"p{k}-{n}"
                try:
                    eid = srv.broadcast(msg, token="admin-secret")
                except Exception:
                    return  # the server died mid-request: that one was never acknowledged
                with lock:
                    acked[msg] = eid
                n += 1

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        srv.wait_for(lambda: len(acked) >= 300, timeout=30, what="acknowledged publishes")
        srv.kill9()
        stop.set()
        for t in threads:
            t.join()

        srv2 = Server(CONFIG, env=ENV, data_dir=srv.data_dir).start()
        try:
            frames = read_all(srv2)
            ids = [int(f["id"]) for f in frames]
            self.assertEqual(ids, list(range(1, len(ids) + 1)), "ids are contiguous and in order")
            by_message = {}
            for f in frames:
                self.assertNotIn(f["json"]["message"], by_message, "each event is in the log once")
                by_message[f["json"]["message"]] = f["id"]
            for msg, eid in acked.items():
                self.assertEqual(by_message.get(msg), eid, f"acknowledged {msg} as {eid}")
            # New events continue after the recovered ones.
            self.assertEqual(int(srv2.broadcast("after", token="admin-secret")), len(ids) + 1)
        finally:
            srv2.cleanup()
            srv.cleanup()

    def test_client_resumes_across_a_restart(self):
        srv = Server(CONFIG, env=ENV).start()
        c = SSEClient(srv.port, headers=AUTH)
        self.assertEqual(c.read_head(), 200)
        srv.wait_for(lambda: srv.stats("admin-secret")["connections"]["sse"] == 1, what="subscriber")
        seen = [srv.broadcast(f"a{i}", token="admin-secret") for i in range(3)]
        self.assertEqual([f["id"] for f in c.events(3)], seen)
        missed = [srv.broadcast(f"b{i}", token="admin-secret") for i in range(2)]
        self.assertEqual(srv.stop(), 0)
        c.close()
        srv2 = Server(CONFIG, env=ENV, data_dir=srv.data_dir).start()
        try:
            missed += [srv2.broadcast(f"c{i}", token="admin-secret") for i in range(2)]
            c2 = SSEClient(srv2.port, headers={**AUTH, "Last-Event-ID": seen[-1]})
            frames = c2.events(4)
            self.assertEqual([f["id"] for f in frames], missed)
            self.assertEqual([f["json"]["message"] for f in frames], ["b0", "b1", "c0", "c1"])
            live = srv2.broadcast("live", token="admin-secret")
            self.assertEqual(c2.next_frame()["id"], live)
            c2.close()
        finally:
            srv2.cleanup()
            srv.cleanup()

    def test_resume_older_than_retention_gets_reset_then_the_retained_log(self):
        srv = Server(CONFIG, env=ENV, server_keys={"retain_events": 5}).start()
        try:
            for i in range(20):
                srv.broadcast(f"m{i}", token="admin-secret")
            self.assertEqual(srv.stop(), 0)
            srv = Server(CONFIG, env=ENV, data_dir=srv.data_dir, server_keys={"retain_events": 5}).start()
            last = srv.broadcast("m20", token="admin-secret")  # the first commit runs a retention pass
            self.assertEqual(last, "21")
            srv.wait_for(lambda: int(srv.stats("admin-secret")["events"]["first_id"]) >= 17, what="pruning")
            c = SSEClient(srv.port, headers={**AUTH, "Last-Event-ID": "2"})
            reset = c.next_frame()
            self.assertEqual(reset["event"], "reset")
            self.assertNotIn("id", reset)
            first = int(srv.stats("admin-secret")["events"]["first_id"])
            self.assertEqual([int(f["id"]) for f in c.events(22 - first)], list(range(first, 22)))
            c.close()
            # A resume point inside the retained log needs no reset.
            c = SSEClient(srv.port, headers={**AUTH, "Last-Event-ID": str(first)})
            self.assertEqual(c.next_frame()["id"], str(first + 1))
            c.close()
        finally:
            srv.cleanup()


class BackupTest(unittest.TestCase):
    def test_vacuum_into_while_publishing_is_a_consistent_store(self):
        # docs/deploy.md's recipe, with the sqlite3 shell, while eight
        # publishers keep the writer busy.
        srv = Server(CONFIG, env=ENV).start()
        self.addCleanup(srv.cleanup)
        acked, lock, stop = {}, threading.Lock(), threading.Event()

        def publisher(k):
            n = 0
            while not stop.is_set():
                eid = srv.broadcast(f"p{k}-{n}", token="admin-secret")
                with lock:
                    acked[f"p{k}-{n}"] = int(eid)
                n += 1

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        try:
            srv.wait_for(lambda: len(acked) >= 300, timeout=30, what="acknowledged publishes")
            with lock:
                before = dict(acked)
            backup_dir = tempfile.mkdtemp(prefix="freshet-backup-")
            self.addCleanup(shutil.rmtree, backup_dir, True)
            backup = os.path.join(backup_dir, "freshet.db")
            r = subprocess.run(["sqlite3", os.path.join(srv.data_dir, "freshet.db"), f"VACUUM INTO '{backup}'"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""))
            srv.wait_for(lambda: len(acked) >= len(before) + 100, timeout=30, what="publishes after the backup")
        finally:
            stop.set()
            for t in threads:
                t.join()

        restored = Server(CONFIG, env=ENV, data_dir=backup_dir).start()
        self.addCleanup(restored.cleanup)
        frames = read_all(restored)
        ids = [int(f["id"]) for f in frames]
        self.assertEqual(ids, list(range(1, len(ids) + 1)), "the backup is a whole prefix of the log")
        messages = {f["json"]["message"]: int(f["id"]) for f in frames}
        for msg, eid in before.items():
            self.assertEqual(messages.get(msg), eid, f"{msg}, acknowledged before the backup, is in it")
        with lock:
            self.assertTrue(all(acked[m] == i for m, i in messages.items()), "and nothing the original does not have")


class ShutdownTest(unittest.TestCase):
    def test_sigterm_ends_streams_and_exits_0_within_5_s(self):
        from harness import WSClient
        srv = Server(CONFIG, env=ENV).start()
        sse = SSEClient(srv.port, headers=AUTH)
        self.assertEqual(sse.read_head(), 200)
        ws = WSClient(srv.port, headers=AUTH)
        ws.send_json({"op": "subscribe"})
        idle = SSEClient(srv.port, path="/healthz")  # a keep-alive HTTP connection
        self.assertEqual(idle.read_head(), 200)
        srv.wait_for(lambda: srv.stats("admin-secret")["connections"]["ws"] == 1, what="ws subscriber")
        started = time.time()
        code = srv.stop()
        self.assertEqual(code, 0)
        self.assertLess(time.time() - started, 5)
        with self.assertRaises(EOFError):
            sse.next_frame()
        op, payload = ws.next_frame()
        self.assertEqual(op, 0x8, "a WebSocket close frame")
        self.assertEqual(int.from_bytes(payload[:2], "big"), 1001, "going away")
        sse.close()
        ws.close()
        idle.close()
        self.assertIn("msg=stopped", srv.read_log())
        srv.cleanup()


class SlowClientTest(unittest.TestCase):
    def test_a_burst_larger_than_the_send_buffer_reaches_a_reader_complete(self):
        # Every event is larger than the whole buffer: each one is dropped from
        # the queue and read back from the log, in order, and nobody is cut.
        srv = Server(CONFIG, env=ENV, server_keys={"send_buffer_bytes": 4096}).start()
        try:
            sse = SSEClient(srv.port, headers=AUTH)
            self.assertEqual(sse.read_head(), 200)
            srv.wait_for(lambda: srv.stats("admin-secret")["connections"]["sse"] == 1, what="subscriber")
            big = "x" * 16000
            sent = [int(srv.broadcast({"n": i, "pad": big}, token="admin-secret")) for i in range(40)]
            got = [int(sse.next_frame()["id"]) for _ in sent]
            self.assertEqual(got, sent)
            self.assertEqual(srv.stats("admin-secret")["events"]["slow_client_drops"], 0)
            self.assertEqual(srv.stats("admin-secret")["connections"]["sse"], 1)
            sse.close()
        finally:
            srv.cleanup()

    def test_slow_reader_is_cut_off_while_a_fast_one_keeps_receiving(self):
        # A reader that stops reading stays behind: it is cut once it has been
        # behind for slow_client_seconds (checked at each keep-alive tick).
        srv = Server(CONFIG, env=ENV, server_keys={"send_buffer_bytes": 65536, "slow_client_seconds": 1,
                                                   "keepalive_seconds": 1}).start()
        try:
            slow = SSEClient(srv.port, headers=AUTH, rcvbuf=4096)
            self.assertEqual(slow.read_head(), 200)  # then it never reads again
            fast = SSEClient(srv.port, headers=AUTH)
            self.assertEqual(fast.read_head(), 200)
            srv.wait_for(lambda: srv.stats("admin-secret")["connections"]["sse"] == 2, what="subscribers")
            big = "x" * 16000
            got = []
            n = 0
            deadline = time.time() + 60
            # Enough bytes to fill the kernel's buffers on both ends and then the
            # server's own limit, and then time for ticks; bounded by count and clock.
            while srv.stats("admin-secret")["events"]["slow_client_drops"] == 0 and n < 5000 \
                    and time.time() < deadline:
                ids = [srv.broadcast({"n": n + i, "pad": big}, token="admin-secret") for i in range(20)]
                n += 20
                got += [fast.next_frame()["id"] for _ in ids]
            self.assertEqual(srv.stats("admin-secret")["events"]["slow_client_drops"], 1)
            srv.wait_for(lambda: srv.stats("admin-secret")["connections"]["sse"] == 1, what="slow one gone")
            last = srv.broadcast("still flowing", token="admin-secret")
            got.append(fast.next_frame()["id"])
            self.assertEqual([int(i) for i in got], list(range(1, int(last) + 1)))
            # The slow client, reading at last, finds its stream ended.
            slow.sock.settimeout(10)
            with self.assertRaises((EOFError, ConnectionResetError)):
                while True:
                    slow._fill()
            fast.close()
            slow.close()
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
