"""GET /metrics as Prometheus reads it: Debian's `promtool check metrics`
(the Prometheus project's own linter: names, units, HELP and TYPE, counter
suffixes) finds nothing to say about a server that has seen traffic of every
kind its metrics count: requests, a stream, a signed webhook and a refused
one, a broadcast, a rule's notifier."""
import json
import shutil
import subprocess
import unittest

from harness import Server, SSEClient
from sync_harness import CRM_SECRET, CRM_SOURCE, signed_delivery

SECRET = CRM_SECRET
CONFIG = CRM_SOURCE + '''
[[notifiers]]
name = "team"
kind = "slack"
url_env = "SLACK_URL"

[[rules]]
name = "new_contact"
object = "contacts"
when = "op = 'created'"
notify = ["team"]
message = "A new contact: {name}"

[notifications]
allow_private_targets = true
'''


@unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus package) is not installed; make test installs it")
class MetricsFormat(unittest.TestCase):
    def test_promtool_finds_no_problem(self):
        # The Slack URL points at a closed port: the notifier's failure series appear too.
        server = Server(CONFIG, env={"CRM_SECRET": SECRET, "SLACK_URL": "http://127.0.0.1:9/hook"},
                        server_keys={"auth": '"none"'}).start()
        self.addCleanup(server.cleanup)
        sse = SSEClient(server.port, "/api/events")
        self.addCleanup(sse.close)
        body = json.dumps({"type": "record.created",
                           "data": {"object": "contacts", "id": "c1", "fields": {"name": "Ada", "region": "north"}}})
        self.assertEqual(server.request("POST", "/api/webhooks/crm", body,
                                        headers=signed_delivery(SECRET, "msg_1", body))[0], 200)
        self.assertEqual(server.request("POST", "/api/webhooks/crm", body,
                                        headers={"Content-Type": "application/json"})[0], 401)
        self.assertEqual(sse.next_frame()["json"]["record_id"], "c1")
        server.request("GET", "/api/objects/nothing/records")
        server.broadcast("hello")

        status, _, raw, res = server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(res.getheader("Content-Type").startswith("text/plain; version=0.0.4"), res.getheader("Content-Type"))
        text = raw.decode() if isinstance(raw, bytes) else raw
        for family in ["freshet_http_requests_total", "freshet_webhooks_total", "freshet_event_deliveries_total",
                       "freshet_notifier_up", "freshet_http_request_duration_seconds_bucket"]:
            self.assertIn(family, text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main()
