"""`freshet demo` and `freshet version`: what `make run` starts must work with no set-up."""
import re
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, SSEClient


class DemoTest(unittest.TestCase):
    def test_demo_serves_the_page_and_live_events_on_loopback(self):
        data_dir = tempfile.mkdtemp(prefix="freshet-demo-it-")
        proc = subprocess.Popen([BIN, "demo", "--port", "0", "--data-dir", data_dir],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            self.assertIsNotNone(m, line)
            port = int(m.group(1))
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            res = conn.getresponse()
            self.assertEqual(res.status, 200)
            self.assertIn(b"Freshet", res.read())
            # The periodic broadcast makes events flow with nobody publishing.
            c = SSEClient(port, timeout=10)
            frame = c.next_frame()
            self.assertEqual(frame["event"], "message")
            self.assertTrue(frame["json"]["message"]["text"].startswith("demo tick"))
            c.close()
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
