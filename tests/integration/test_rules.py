"""Rules and notifications end to end: records pushed by signed webhooks (a
`webhook` source, so every change is known), the real binary evaluating its
[[rules]], and the real Slack receiver (`freshet simulate slack`) or a
Standard Webhooks receiver written here with Python's hmac."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import threading
import time
import unittest

from harness import Server, SSEClient, tokens_config
from sim_harness import SlackSim
from sync_harness import signed_delivery, wait_until

SOURCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK_SECRET = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQh"

SOURCE = '''[[sources]]
name = "hti"
kind = "webhook"
webhook_secret_env = "HTI_SECRET"

  [[sources.objects]]
  name = "laptops"
  key = "laptops"
  fields = { status = "status", county = "county", donor = "donor", units = "units", serial = "serial", notes = "notes" }
  tenant_field = "county"

  [[sources.objects]]
  name = "sessions"
  key = "sessions"
  fields = { title = "title", registrations = "registrations", capacity = "capacity" }
'''

SLACK_RULES = '''
[notifications]
allow_private_targets = true

[[notifiers]]
name = "donations"
kind = "slack"
url_env = "SLACK_URL"

[[rules]]
name = "new_donation"
object = "laptops"
when = 'op = "created" and units >= 1'
notify = ["donations"]
message = "A new donation: {donor}, {units} laptops in {tenant}"

[[rules]]
name = "ready"
object = "laptops"
when = 'status becomes "Ready for Donation"'
notify = ["donations"]
message = "{serial} became Ready for Donation in {tenant}"
summary = "{count} laptops became Ready for Donation in {tenant}: {names}"
name_field = "serial"
coalesce_seconds = COALESCE

[[rules]]
name = "nearly_full"
object = "sessions"
when = 'registrations >= 0.9 * capacity and not old.registrations >= 0.9 * capacity'
notify = ["donations"]
message = "{title} is nearly full: {registrations} of {capacity}"
'''


class Pusher:
    """Sends record changes to Freshet as the upstream would: signed webhooks."""

    def __init__(self, server):
        self.server, self.n = server, 0

    def push(self, op, obj, rid, fields=None, expect=200):
        self.n += 1
        data = {"object": obj, "id": rid}
        if fields is not None:
            data["fields"] = fields
        body = json.dumps({"type": "record." + op, "data": data})
        status = self.server.request("POST", "/api/webhooks/hti", body,
                                     headers=signed_delivery(SOURCE_SECRET, f"msg_{os.getpid()}_{self.n}", body))[0]
        if expect is not None:
            assert status == expect, status
        return status


def notifications(server, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    status, doc, raw, _ = server.request("GET", "/api/notifications" + ("?" + q if q else ""))
    assert status == 200, raw
    return doc["notifications"]


class SlackRules(unittest.TestCase):
    def setUp(self):
        self.slack = SlackSim()
        self.addCleanup(self.slack.stop)

    def start(self, slack_path="/services/T000/B000/main", extra="", coalesce=2):
        self.server = Server(SOURCE + SLACK_RULES.replace("COALESCE", str(coalesce)) + extra,
                             env={"HTI_SECRET": SOURCE_SECRET, "SLACK_URL": self.slack.url(slack_path)},
                             server_keys={"auth": '"none"'}).start()
        self.addCleanup(self.server.cleanup)
        self.pusher = Pusher(self.server)
        return self.server

    def texts(self):
        return [m["text"] for m in self.slack.received()["messages"]]

    def test_conditions_transitions_templates_and_escaping(self):
        self.start()
        p = self.pusher
        p.push("created", "laptops", "L1", {"status": "Received", "county": "hennepin", "donor": "<b>Acme</b> & Co",
                                            "units": 40, "serial": "HTI-1"})
        p.push("created", "laptops", "L2", {"status": "Received", "county": "ramsey", "donor": "Nobody", "units": 0,
                                            "serial": "HTI-2"})  # units >= 1 does not hold: no message
        wait_until(lambda: len(self.texts()) >= 1 or self.texts(), 10, "the donation message")
        self.assertEqual(self.texts(), ["A new donation: &lt;b&gt;Acme&lt;/b&gt; &amp; Co, 40 laptops in hennepin"])

        # The move into the state fires once; later edits while in it do not.
        p.push("updated", "laptops", "L1", {"status": "Ready for Donation", "county": "hennepin", "donor": "x",
                                            "units": 40, "serial": "HTI-1"})
        p.push("updated", "laptops", "L1", {"status": "Ready for Donation", "county": "hennepin", "donor": "x",
                                            "units": 40, "serial": "HTI-1", "notes": "boxed"})
        # A field compared with another times a factor, firing when it crosses.
        p.push("created", "sessions", "S1", {"title": "Tuesday training", "registrations": 8, "capacity": 10})
        p.push("updated", "sessions", "S1", {"title": "Tuesday training", "registrations": 9, "capacity": 10})
        p.push("updated", "sessions", "S1", {"title": "Tuesday training", "registrations": 10, "capacity": 10})
        wait_until(lambda: len(self.texts()) >= 3 or self.texts(), 15, "three messages")
        time.sleep(2.5)  # the coalescing window has closed; nothing more may come
        texts = self.texts()
        self.assertEqual(sorted(texts[1:]), ["HTI-1 became Ready for Donation in hennepin",
                                             "Tuesday training is nearly full: 9 of 10"])
        self.assertEqual(len(texts), 3, texts)

        # The outbox as an operator sees it: every message delivered, one attempt each.
        rows = notifications(self.server)
        self.assertEqual(len(rows), 3)
        for r in rows:
            self.assertEqual(r["status"], "delivered", r)
            self.assertEqual(len(r["attempts"]), 1)
            self.assertEqual(r["attempts"][0]["status"], 200)
        self.assertEqual({r["rule"] for r in notifications(self.server, rule="ready")}, {"ready"})
        st = self.server.stats()["notifications"]
        self.assertEqual(st["notifiers"][0]["sent"], 3)
        self.assertEqual(st["notifiers"][0]["state"], "ok")
        # Numbers as people write them: per_second is a double, once printed as 0E0.
        raw = self.server.request("GET", "/api/stats")[2].decode()
        self.assertIsNone(re.search(r"[0-9][eE][-+]?[0-9]", raw), raw)
        self.assertIn('"per_second":', raw)
        metrics = self.server.request("GET", "/metrics")[2].decode()
        self.assertIn('freshet_notifications_sent_total{notifier="donations"} 3', metrics)

    def test_a_bulk_change_of_500_records_makes_one_message(self):
        # The window must outlast the bulk edit: 500 webhooks take about 3 s
        # under the sanitizers, a fraction of one otherwise.
        self.start(coalesce=15)
        for i in range(500):
            self.pusher.push("created", "laptops", f"B{i}", {"status": "Received", "county": "anoka", "units": 0,
                                                           "serial": f"HTI-{i:03d}"})
        for i in range(500):
            self.pusher.push("updated", "laptops", f"B{i}", {"status": "Ready for Donation", "county": "anoka",
                                                           "units": 0, "serial": f"HTI-{i:03d}"})
        wait_until(lambda: len(self.texts()) >= 1 or "none yet", 30, "the summary")
        time.sleep(1.5)
        texts = self.texts()
        self.assertEqual(len(texts), 1, texts[:5])
        self.assertEqual(texts[0], "500 laptops became Ready for Donation in anoka: "
                                   "HTI-000, HTI-001, HTI-002, HTI-003, HTI-004 and 495 more")
        row = notifications(self.server, rule="ready")[0]
        self.assertEqual(row["count"], 500)

    def test_fifty_firings_keep_to_one_per_second_with_no_429(self):
        self.start()
        for i in range(50):
            self.pusher.push("created", "laptops", f"F{i}", {"status": "Received", "county": "anoka", "units": 1,
                                                           "donor": f"D{i}", "serial": f"S{i}"})
        wait_until(lambda: len(self.texts()) >= 50 or len(self.texts()), 90, "fifty messages")
        got = self.slack.received()
        self.assertEqual(got["rate_limited"], 0)
        at = [m["at_ms"] for m in got["messages"]]
        gaps = [b - a for a, b in zip(at, at[1:])]
        self.assertGreaterEqual(min(gaps), 1000, gaps)
        self.assertEqual(sorted(self.texts()), sorted(f"A new donation: D{i}, 1 laptops in anoka" for i in range(50)))

    def test_a_429_storm_waits_for_retry_after_and_loses_nothing(self):
        self.start()
        self.slack.fault(429, 4, retry_after=1)
        self.pusher.push("created", "laptops", "R1", {"status": "Received", "county": "anoka", "units": 2,
                                                    "donor": "Storm", "serial": "S"})
        wait_until(lambda: len(self.texts()) >= 1 or "not yet", 20, "the message after the storm")
        self.assertEqual(self.texts(), ["A new donation: Storm, 2 laptops in anoka"])
        row = notifications(self.server)[0]
        self.assertEqual([a["status"] for a in row["attempts"]], [429, 429, 429, 429, 200])
        gaps = [b["at_ms"] - a["at_ms"] for a, b in zip(row["attempts"], row["attempts"][1:])]
        self.assertGreaterEqual(min(gaps), 950, gaps)  # Retry-After: 1 was waited each time
        self.assertEqual(self.server.stats()["notifications"]["notifiers"][0]["rate_limited"], 4)

    def test_a_permanent_error_marks_the_notifier_failing_and_messages_wait(self):
        self.start(slack_path="/services/T000/B000/channel_not_found")
        self.pusher.push("created", "laptops", "P1", {"status": "Received", "county": "anoka", "units": 2,
                                                    "donor": "Kept", "serial": "S"})
        wait_until(lambda: self.server.stats()["notifications"]["notifiers"][0]["state"] == "failing"
                   or self.server.stats()["notifications"]["notifiers"][0], 10, "the notifier to be failing")
        n = self.server.stats()["notifications"]["notifiers"][0]
        self.assertIn("channel_not_found", n["reason"])
        rows = notifications(self.server)
        self.assertEqual(rows[0]["status"], "pending")  # waits, not dropped and not failed
        self.assertEqual(rows[0]["attempts"][0]["status"], 404)
        # A retry by hand tries again at once (and Slack still refuses).
        status, doc, raw, _ = self.server.request("POST", f"/api/notifications/{rows[0]['id']}/retry")
        self.assertEqual(status, 202, raw)
        wait_until(lambda: len(notifications(self.server)[0]["attempts"]) == 2 or "not yet", 10, "the second attempt")
        self.assertEqual(self.server.request("POST", "/api/notifications/999/retry")[1]["error"]["code"],
                         "unknown_notification")
        self.assertEqual(self.server.request("GET", "/api/notifications?status=lost")[1]["error"]["code"],
                         "invalid_parameter")
        self.assertEqual(self.server.request("GET", "/api/notifications?rul=x")[1]["error"]["code"],
                         "unknown_parameter")

    def test_a_goal_crossing_a_threshold_is_announced_once(self):
        self.start(extra='''
[[goals]]
name = "donated"
label = "Laptops donated"
object = "laptops"
where = { status = "Donated" }
target = 4
deadline = 2027-06-30

[[rules]]
name = "halfway"
goal = "donated"
thresholds = [50, 100]
notify = ["donations"]
message = "{label}: {value} of {target} ({percent}%)"
''')
        # The goal's first value (0) is where the rules start.
        wait_until(lambda: self.server.request("GET", "/api/objects")[1]["goals"][0]["value"] == 0 or "not yet", 10,
                   "the goal's first value")
        time.sleep(0.5)
        for i in range(5):
            self.pusher.push("created", "laptops", f"D{i}", {"status": "Donated", "county": "anoka", "units": 0})
            time.sleep(0.3)  # one metric event per record (the tracker settles for 200 ms)
        wait_until(lambda: len(self.texts()) >= 2 or self.texts(), 15, "two milestones")
        time.sleep(1)
        self.assertEqual(self.texts(), ["Laptops donated: 2 of 4 (50%)", "Laptops donated: 4 of 4 (100%)"])

    def test_delivered_notifications_reach_the_streams_of_those_who_may_see_them(self):
        self.server = Server(
            SOURCE + SLACK_RULES.replace("COALESCE", "2") +
            tokens_config(("ops", "FT_OPS", ["read", "admin"], None), ("hen", "FT_HEN", ["read"], ["hennepin"])),
            env={"HTI_SECRET": SOURCE_SECRET, "SLACK_URL": self.slack.url("/services/T000/B000/main"),
                 "FT_OPS": "ops-secret", "FT_HEN": "hennepin-secret"}).start()
        self.addCleanup(self.server.cleanup)
        streams = {}
        for name, secret in (("ops", "ops-secret"), ("hen", "hennepin-secret")):
            streams[name] = SSEClient(self.server.port, "/api/events", headers={"Authorization": "Bearer " + secret})
            self.addCleanup(streams[name].close)
            self.assertEqual(streams[name].read_head(), 200)  # attached from here on
        p = Pusher(self.server)
        # Delivered one at a time, oldest first: the session's (a record with
        # no tenant) before the two donations, so had it been announced, the
        # streams would show it before them.
        p.push("created", "sessions", "S1", {"title": "Tuesday training", "registrations": 8, "capacity": 10})
        p.push("updated", "sessions", "S1", {"title": "Tuesday training", "registrations": 9, "capacity": 10})
        p.push("created", "laptops", "L1", {"status": "Received", "county": "hennepin", "donor": "Acme", "units": 4,
                                            "serial": "HTI-1"})
        p.push("created", "laptops", "L2", {"status": "Received", "county": "ramsey", "donor": "Bolt", "units": 2,
                                            "serial": "HTI-2"})

        def announced(stream, until):
            seen = []
            while True:
                ev = stream.next_frame()["json"]
                if ev["type"] == "message" and isinstance(ev["message"], dict):
                    if "notification" in ev["message"]:
                        seen.append((ev["tenant"], ev["object"], ev["message"]["notification"]))
                    if ev["message"].get("marker") == until:
                        return seen
                if seen and seen[-1][0] == until:
                    return seen
        ops = announced(streams["ops"], "ramsey")
        self.assertEqual([(t, o) for t, o, _ in ops], [("hennepin", "laptops"), ("ramsey", "laptops")])
        self.assertEqual([n["text"] for _, _, n in ops], ["A new donation: Acme, 4 laptops in hennepin",
                                                         "A new donation: Bolt, 2 laptops in ramsey"])
        self.assertEqual({(n["rule"], n["notifier"], n["count"]) for _, _, n in ops}, {("new_donation", "donations", 1)})
        # What the receiver got is what was announced, the session's included.
        self.assertEqual(self.texts(), ["Tuesday training is nearly full: 9 of 10"] + [n["text"] for _, _, n in ops])
        # Hennepin's token: its own only. A marker for hennepin, committed
        # after ramsey's announcement, ends the read.
        status = self.server.request("POST", "/api/broadcast", {"message": {"marker": "end"}, "tenant": "hennepin"},
                                     token="ops-secret")[0]
        self.assertEqual(status, 200)
        hen = announced(streams["hen"], "end")
        self.assertEqual([(t, n["text"]) for t, _, n in hen], [("hennepin", "A new donation: Acme, 4 laptops in hennepin")])

    def test_private_targets_are_refused_unless_allowed(self):
        self.server = Server(SOURCE + SLACK_RULES.replace("COALESCE", "2").replace("allow_private_targets = true",
                                                                                  "allow_private_targets = false"),
                             env={"HTI_SECRET": SOURCE_SECRET, "SLACK_URL": "http://169.254.169.254/services/x"},
                             server_keys={"auth": '"none"'}).start()
        self.addCleanup(self.server.cleanup)
        Pusher(self.server).push("created", "laptops", "X1", {"status": "Received", "county": "a", "units": 1})
        wait_until(lambda: self.server.stats()["notifications"]["notifiers"][0]["state"] == "failing" or "ok", 10,
                   "the refusal")
        self.assertIn("link-local", self.server.stats()["notifications"]["notifiers"][0]["reason"])
        self.assertEqual(notifications(self.server)[0]["status"], "pending")


class Receiver:
    """A Standard Webhooks receiver: checks every signature with Python's hmac,
    answers from a script of statuses (then 200), and records each attempt."""

    def __init__(self, secret, script=()):
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.script = list(script)
        self.attempts = []  # (time, webhook-id, status answered, body)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                wid, ts, sig = (self.headers.get(h, "") for h in ("webhook-id", "webhook-timestamp",
                                                                   "webhook-signature"))
                mac = hmac.new(outer.key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
                good = ("v1," + base64.b64encode(mac).decode()) in sig.split(" ")
                with outer.lock:
                    status = outer.script.pop(0) if outer.script else 200
                    if not good:
                        status = 401
                    outer.attempts.append((time.time(), wid, status, json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def delivered(self):
        with self.lock:
            return [a for a in self.attempts if a[2] // 100 == 2]


def webhook_rules(port, retry="[0, 1, 2]"):
    return f'''
[notifications]
allow_private_targets = true
retry_seconds = {retry}

[[notifiers]]
name = "hook"
kind = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRETS"

[[rules]]
name = "any_laptop"
object = "laptops"
notify = ["hook"]
message = "{{op}} {{id}} in {{tenant}}"
'''


class WebhookRules(unittest.TestCase):
    def start(self, receiver, retry="[0, 1, 2]", data_dir=None):
        server = Server(SOURCE + webhook_rules(receiver.port, retry), data_dir=data_dir,
                        env={"HTI_SECRET": SOURCE_SECRET, "HOOK_URL": f"http://127.0.0.1:{receiver.port}/hooks/freshet",
                             # two secrets during a rotation: both signatures are sent
                             "HOOK_SECRETS": HOOK_SECRET + " " + SOURCE_SECRET},
                        server_keys={"auth": '"none"'}).start()
        return server

    def test_signed_retried_on_the_schedule_with_one_webhook_id(self):
        rx = Receiver(HOOK_SECRET, script=[500, 503])
        self.addCleanup(rx.stop)
        server = self.start(rx)
        self.addCleanup(server.cleanup)
        Pusher(server).push("created", "laptops", "W1", {"status": "Received", "county": "anoka"})
        wait_until(lambda: len(rx.delivered()) == 1 or len(rx.attempts), 15, "the delivery after two failures")
        with rx.lock:
            attempts = list(rx.attempts)
        self.assertEqual([a[2] for a in attempts], [500, 503, 200])
        self.assertEqual(len({a[1] for a in attempts}), 1)  # the same webhook-id every time
        self.assertTrue(attempts[0][1].startswith("msg_"))
        gaps = [b[0] - a[0] for a, b in zip(attempts, attempts[1:])]
        # retry_seconds = [0, 1, 2] with ±10 % jitter
        self.assertTrue(0.85 <= gaps[0] <= 1.6, gaps)
        self.assertTrue(1.75 <= gaps[1] <= 2.7, gaps)
        body = attempts[-1][3]
        self.assertEqual(body["type"], "notification")
        self.assertEqual(body["data"]["text"], "created W1 in anoka")
        self.assertEqual(body["data"]["id"], attempts[0][1])
        # The receiver answers before the dispatcher writes the answer down.
        wait_until(lambda: len(notifications(server)[0]["attempts"]) == 3 or notifications(server)[0]["attempts"], 10,
                   "the outbox to record the third attempt")
        row = notifications(server)[0]
        self.assertEqual([a["status"] for a in row["attempts"]], [500, 503, 200])

    def test_the_schedule_used_up_marks_failed_and_a_retry_by_hand_delivers(self):
        rx = Receiver(HOOK_SECRET, script=[500, 500])
        self.addCleanup(rx.stop)
        server = self.start(rx, retry="[0, 1]")
        self.addCleanup(server.cleanup)
        Pusher(server).push("created", "laptops", "W2", {"status": "Received", "county": "anoka"})
        wait_until(lambda: notifications(server, status="failed") != [] or "not yet", 15, "the failure")
        self.assertEqual(server.stats()["notifications"]["notifiers"][0]["failed"], 1)
        mid = notifications(server)[0]["id"]
        self.assertEqual(server.request("POST", f"/api/notifications/{mid}/retry")[0], 202)
        wait_until(lambda: len(rx.delivered()) == 1 or "not yet", 10, "the delivery by hand")
        # The receiver has it before the dispatcher has written the answer down.
        wait_until(lambda: notifications(server)[0]["status"] == "delivered" or notifications(server)[0]["status"], 10,
                   "the outbox to record the delivery")

    def test_410_disables_the_endpoint_and_messages_wait(self):
        rx = Receiver(HOOK_SECRET, script=[410])
        self.addCleanup(rx.stop)
        server = self.start(rx)
        self.addCleanup(server.cleanup)
        p = Pusher(server)
        p.push("created", "laptops", "G1", {"status": "Received", "county": "anoka"})
        wait_until(lambda: server.stats()["notifications"]["notifiers"][0]["state"] == "disabled" or "not yet", 10,
                   "the endpoint to be disabled")
        p.push("created", "laptops", "G2", {"status": "Received", "county": "anoka"})
        time.sleep(1.5)
        self.assertEqual(len(rx.attempts), 1)  # nothing more is sent to a 410
        self.assertEqual({r["status"] for r in notifications(server)}, {"pending"})


class KillNine(unittest.TestCase):
    """kill -9 during bursts of firings, 20 cycles: every acknowledged change
    is notified at least once, nothing is notified that was not committed, and
    deduplicated by webhook-id the receiver sees each firing exactly once."""

    CYCLES = int(os.environ.get("FRESHET_KILL_CYCLES", "20"))

    def test_kill_nine_loses_and_invents_nothing(self):
        import random
        import tempfile
        rng = random.Random(7)
        rx = Receiver(HOOK_SECRET)
        self.addCleanup(rx.stop)
        data_dir = tempfile.mkdtemp(prefix="freshet-kill-")
        self.addCleanup(lambda: os.system(f"rm -rf {data_dir}"))
        acked, sent = set(), set()
        n = 0
        for cycle in range(self.CYCLES):
            server = self.start_server(rx, data_dir)
            p = Pusher(server)
            p.n = cycle * 1000
            stop_at = time.time() + rng.uniform(0.05, 0.4)
            killer = threading.Timer(max(0.0, stop_at - time.time()), server.proc.kill)
            killer.start()
            while server.proc.poll() is None and n < (cycle + 1) * 10_000:
                rid = f"K{n}"
                n += 1
                sent.add(rid)
                try:
                    if p.push("created", "laptops", rid, {"status": "Received", "county": "anoka"}, expect=None) == 200:
                        acked.add(rid)
                except OSError:
                    break
            killer.join()
            server.proc.wait()
            server.log.close()
        server = self.start_server(rx, data_dir)
        self.addCleanup(server.cleanup)
        wait_until(lambda: acked <= {a[3]["data"]["records"][0] for a in rx.delivered()} or
                   len(acked - {a[3]["data"]["records"][0] for a in rx.delivered()}), 60, "every acked change notified")
        delivered = rx.delivered()
        by_id = {}
        for _, wid, _, body in delivered:
            by_id.setdefault(wid, set()).add(body["data"]["records"][0])
        notified = [r for recs in by_id.values() for r in recs]
        self.assertEqual(len(notified), len(set(notified)), "one firing, one webhook-id")
        committed = self.committed_ids(server)
        self.assertLessEqual(set(notified), committed, "a notification for an event that was not committed")
        self.assertLessEqual(acked, set(notified))
        self.assertGreater(len(acked), self.CYCLES)

    def start_server(self, rx, data_dir):
        return Server(SOURCE + webhook_rules(rx.port), data_dir=data_dir, log_level="info",
                      env={"HTI_SECRET": SOURCE_SECRET, "HOOK_URL": f"http://127.0.0.1:{rx.port}/h",
                           "HOOK_SECRETS": HOOK_SECRET}, server_keys={"auth": '"none"'}).start()

    @staticmethod
    def committed_ids(server):
        ids, cursor = set(), 0
        while True:
            status, doc, raw, _ = server.request("GET", f"/api/objects/laptops/records?limit=1000" +
                                                 (f"&cursor={cursor}" if cursor else ""))
            assert status == 200, raw
            for r in doc["records"]:
                ids.add(r["id"])
            if not doc.get("next_cursor"):
                return ids
            cursor = doc["next_cursor"]


if __name__ == "__main__":
    unittest.main()
