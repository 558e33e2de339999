#!/usr/bin/env python3
"""Notification benchmarks (docs/benchmarks.md):

1. Throughput: N record changes pushed to Freshet by signed webhooks, one
   rule firing on each, delivered to a local Standard Webhooks receiver that
   answers 204 at once (no rate limit): deliveries per second, and Freshet's
   CPU time per delivery (utime + stime from /proc).
2. End to end: one change every 1.2 s (Slack's limit is 1/s per URL),
   webhook push to the moment `freshet simulate slack` records the message:
   p50 and p99.

    python3 bench/notify_bench.py [BUILD_DIR] [N]
"""
import http.server
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
os.environ.setdefault("FRESHET_BIN", os.path.join(BUILD, "src/freshet"))

from harness import Server  # noqa: E402
from sim_harness import SlackSim  # noqa: E402
from test_rules import SOURCE, SOURCE_SECRET, HOOK_SECRET, Pusher  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class FastReceiver:
    """Answers every POST 204 on a keep-alive connection and counts them."""

    def __init__(self):
        self.count, self.last = 0, 0.0
        self.gone_once = True  # the first answer is 410: the notifier holds its messages
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    gone, outer.gone_once = outer.gone_once, False
                    if not gone:
                        outer.count += 1
                        outer.last = time.time()
                self.send_response(410 if gone else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def throughput():
    rx = FastReceiver()
    rules = f'''
[notifications]
allow_private_targets = true

[[notifiers]]
name = "hook"
kind = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRETS"

[[rules]]
name = "every_laptop"
object = "laptops"
when = 'op = "created"'
notify = ["hook"]
message = "{{id}} in {{tenant}}"
'''
    server = Server(SOURCE + rules, log_level="info", server_keys={"auth": '"none"'},
                    env={"HTI_SECRET": SOURCE_SECRET, "HOOK_URL": f"http://127.0.0.1:{rx.port}/h",
                         "HOOK_SECRETS": HOOK_SECRET}).start()
    try:
        p = Pusher(server)
        # The first delivery gets 410, so the notifier holds every later message:
        # the whole backlog is in the outbox before one retry by hand lets it go,
        # and only the delivery is timed.
        for i in range(N):
            p.push("created", "laptops", f"T{i}", {"status": "Received", "county": "anoka"})
        while True:
            st = server.stats()["notifications"]
            if st["outbox"]["pending"] >= N and st["notifiers"][0]["state"] == "disabled":
                break
            time.sleep(0.1)
        first = server.request("GET", "/api/notifications?limit=1000&since=0")[1]["notifications"][0]["id"]
        cpu0, t0, c0 = cpu_seconds(server.proc.pid), time.time(), rx.count
        assert server.request("POST", f"/api/notifications/{first}/retry")[0] == 202
        deadline = time.time() + 600
        while rx.count < N and time.time() < deadline:
            time.sleep(0.05)
        cpu1 = cpu_seconds(server.proc.pid)
        took = rx.last - t0
        n = rx.count - c0
        return {"delivered": rx.count, "backlog_timed": n, "seconds": round(took, 2),
                "per_second": round(n / took) if took > 0 else None,
                "cpu_us_per_delivery": round((cpu1 - cpu0) / max(n, 1) * 1e6, 1)}
    finally:
        server.cleanup()
        rx.httpd.shutdown()


def end_to_end(samples=30):
    slack = SlackSim()
    rules = '''
[notifications]
allow_private_targets = true

[[notifiers]]
name = "slack"
kind = "slack"
url_env = "SLACK_URL"

[[rules]]
name = "each"
object = "laptops"
notify = ["slack"]
message = "{id}"
'''
    server = Server(SOURCE + rules, log_level="info", server_keys={"auth": '"none"'},
                    env={"HTI_SECRET": SOURCE_SECRET, "SLACK_URL": slack.url()}).start()
    try:
        p = Pusher(server)
        sent = {}
        for i in range(samples):
            rid = f"E{i}"
            sent[rid] = time.time() * 1000
            p.push("created", "laptops", rid, {"status": "Received", "county": "anoka"})
            time.sleep(1.2)
        time.sleep(2)
        got = {m["text"]: m["at_ms"] for m in slack.received()["messages"]}
        lat = sorted(got[r] - t for r, t in sent.items() if r in got)
        return {"samples": len(lat), "p50_ms": round(statistics.median(lat), 1),
                "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                "rate_limited": slack.received()["rate_limited"]}
    finally:
        server.cleanup()
        slack.stop()


if __name__ == "__main__":
    print("throughput:", throughput())
    print("end to end:", end_to_end())
