"""`freshet demo` and `freshet version`: what `make run` starts must work with no set-up."""
import http.client
import json
import re
import signal
import subprocess
import tempfile
import unittest

from harness import BIN, SSEClient
from sync_harness import wait_until


class DemoTest(unittest.TestCase):
    def test_demo_syncs_its_simulated_app_and_streams_its_changes(self):
        data_dir = tempfile.mkdtemp(prefix="freshet-demo-it-")
        proc = subprocess.Popen([BIN, "demo", "--port", "0", "--data-dir", data_dir, "--changes-per-second", "5"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            m = re.search(r"open http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
            self.assertIsNotNone(m)
            port = int(m.group(1))
            sim = re.search(r"Simulated Knack app \(hti\): (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
            self.assertIsNotNone(sim)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            res = conn.getresponse()
            self.assertEqual(res.status, 200)
            self.assertIn(b"Freshet", res.read())
            def objects():
                conn.request("GET", "/api/objects")
                return json.loads(conn.getresponse().read())
            # The first full sync of the simulated app's 2,400 laptops.
            wait_until(lambda: next(o for o in objects()["objects"] if o["name"] == "laptops")["records"] > 2000
                       or "not yet", 30, "the laptops synced")
            doc = objects()
            # Then the trickle's changes reach subscribers with nobody publishing.
            c = SSEClient(port, timeout=15)
            while True:
                frame = c.next_frame()
                if frame["event"] == "change":
                    break
            self.assertEqual(frame["json"]["source"], "hti")
            c.close()
            self.assertEqual(sorted(o["name"] for o in doc["objects"]), ["donations", "laptops", "training_sessions"])
            self.assertEqual([(g["name"], g["target"]) for g in doc["goals"]], [("laptops_donated", 3500)])
        finally:
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(10), 0)
            err = proc.stderr.read()
            self.assertIn("listens on loopback only", err)
            subprocess.run(["rm", "-rf", data_dir])

    def test_version(self):
        r = subprocess.run([BIN, "version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^freshet \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
