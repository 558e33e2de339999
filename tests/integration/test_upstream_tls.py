"""An upstream behind TLS with a certificate the system does not trust (a
private CA): the failure is permanent, said once and plainly, not retried 15
times; with `ca_file` naming that certificate the connection is trusted."""
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN


class CountingHandler(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        body = json.dumps({"message": "Invalid API key"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class PrivateCA(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="freshet-tls-")
        self.cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", self.cert],
                       check=True, capture_output=True)
        CountingHandler.requests = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.handshakes = 0
        inner = self.httpd.get_request

        def counted():
            self.handshakes += 1
            return inner()
        self.httpd.get_request = counted
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.addCleanup(self.httpd.shutdown)
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))

    def sync(self, extra=""):
        port = self.httpd.server_address[1]
        path = os.path.join(self.dir, "f.toml")
        with open(path, "w") as f:
            f.write(f'''[server]
data_dir = "{self.dir}/data"
auth = "none"
[[sources]]
name = "hti"
kind = "knack"
base_url = "https://127.0.0.1:{port}"
app_id_env = "KNACK_APP_ID"
api_key_env = "KNACK_API_KEY"
{extra}
  [[sources.objects]]
  name = "laptops"
  key = "object_1"
''')
        env = dict(os.environ, KNACK_APP_ID="app", KNACK_API_KEY="key", SSL_CERT_FILE="/nonexistent")
        started = time.time()
        run = subprocess.run([BIN, "sync", "--config", path, "--once"], capture_output=True, text=True, env=env,
                             timeout=60)
        return run, time.time() - started

    def test_an_untrusted_certificate_fails_at_once_and_says_what_to_do(self):
        run, took = self.sync()
        self.assertNotEqual(run.returncode, 0)
        out = run.stdout + run.stderr
        self.assertIn("TLS certificate was not accepted", out)
        self.assertIn("ca_file", out)
        self.assertLess(took, 5, "retried as if temporary")
        self.assertLessEqual(self.handshakes, 2)
        self.assertEqual(CountingHandler.requests, 0)
        self.assertEqual(run.stderr.count("TLS certificate was not accepted"), 1, run.stderr)

    def test_ca_file_trusts_the_private_ca(self):
        run, _ = self.sync(f'ca_file = "{self.cert}"')
        # TLS is through: the upstream's own 401 is what stops this sync.
        self.assertGreaterEqual(CountingHandler.requests, 1)
        self.assertIn("HTTP 401", run.stdout + run.stderr)
        self.assertNotIn("certificate", run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
