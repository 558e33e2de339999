"""The sync engine against the real Airtable simulator over loopback: polling
converges on the simulator's truth; with a webhook_url Freshet registers an
Airtable webhook and changes, creations and deletions reach an SSE client
through MAC-signed pings; a replayed ping makes no second event; a forged
one is refused and audited. Also the generic Standard Webhooks source."""
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
import unittest

from harness import Server, SSEClient
from sim_harness import AirtableSim
from sync_harness import (airtable_truth, freshet_records, free_port, parse_objects, rebuild, replay_log,
                          record_differences, signed_delivery, source_config, wait_until, CRM_SECRET, CRM_SOURCE)


def airtable_env(sim):
    return {"AIRTABLE_BASE_ID": sim.base, "AIRTABLE_TOKEN": sim.token}


def converged(sim, server, objects):
    for name, obj in objects.items():
        truth, mine = airtable_truth(sim, obj), freshet_records(server, name)
        if truth != mine:
            return f"{name}: {len(set(truth) ^ set(mine))} ids differ, " \
                   f"{sum(1 for i in set(truth) & set(mine) if truth[i] != mine[i])} values differ"
    return True


class Polling(unittest.TestCase):
    def test_converges_with_changes_and_faults(self):
        sim = AirtableSim("--seed", "4", "--fail-rate", "0.05", "--truncate-rate", "0.05", "--requests-per-second", "20")
        self.addCleanup(sim.stop)
        fast = {"poll_min_seconds": 1, "poll_max_seconds": 2, "reconcile_seconds": 3}
        src = source_config(sim, {"sign_ups": fast, "services": fast},
                            extra_source="overlap_seconds = 5\n")
        server = Server(src, env=airtable_env(sim), server_keys={"auth": '"none"'}).start()
        self.addCleanup(server.cleanup)
        objects = parse_objects(src)
        for _ in range(6):
            sim.request("POST", "/_sim/changes", {"count": 10})
            time.sleep(0.5)
        wait_until(lambda: converged(sim, server, objects), 60, "Freshet's records to equal /_sim/state")
        self.assertGreater(server.stats()["sources"]["services"]["upstream"]["retries"], 0)
        events = replay_log(server)
        rebuilt = {i: f for (o, i), f in rebuild(events).items() if o == "sign_ups"}
        self.assertIsNone(record_differences(rebuilt, freshet_records(server, "sign_ups"), events))
        # Still converged: a read that skipped a page (the simulator once
        # advanced its iterator for a page whose answer a fault then cut, and
        # the retry got the next page) made a "complete" listing delete records.
        self.assertTrue(converged(sim, server, objects))


class Webhooks(unittest.TestCase):
    def setUp(self):
        self.sim = AirtableSim("--requests-per-second", "20")
        self.addCleanup(self.sim.stop)
        port = free_port()
        slow = {"poll_min_seconds": 300, "poll_max_seconds": 600}
        src = source_config(self.sim, {"sign_ups": slow, "services": slow},
                            extra_source=f'webhook_url = "http://127.0.0.1:{port}/api/webhooks/services"\n')
        # Freshet keeps to 5/s of the simulator's 20/s: the test's own calls share the base's budget.
        src = src.replace("requests_per_second = 20", "requests_per_second = 5")
        self.server = Server(src, env=airtable_env(self.sim),
                             server_keys={"auth": '"none"', "listen": f'"127.0.0.1:{port}"'}).start()
        self.addCleanup(self.server.cleanup)
        self.objects = parse_objects(src)
        wait_until(lambda: converged(self.sim, self.server, self.objects), 30, "the first full sync")
        wait_until(lambda: bool(self.server.stats()["sources"]["services"]["airtable_webhook"]["id"]) or "none", 30,
                   "the webhook to be registered")
        self.table = self.objects["sign_ups"]["key"]

    def secret(self):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "freshet.db"))
        try:
            rows = dict(db.execute("SELECT key, value FROM sync_state WHERE source='services'").fetchall())
        finally:
            db.close()
        return rows["airtable_webhook_id"], base64.b64decode(rows["airtable_webhook_secret"])

    def test_changes_creations_and_deletions_arrive_by_ping(self):
        sse = SSEClient(self.server.port, "/api/events?object=sign_ups")
        self.addCleanup(sse.close)
        sse.read_head()
        base = f"/v0/{self.sim.base}/{self.table}"
        target = self.sim.state(self.table)[3]
        started = time.time()
        self.sim.request("PATCH", f"{base}/{target['id']}", {"fields": {"Hours": 99}})
        ev = sse.next_frame()["json"]
        self.assertEqual((ev["op"], ev["record_id"]), ("updated", target["id"]))
        self.assertEqual(ev["changed"]["hours"]["new"], 99)
        self.assertLess(time.time() - started, 5)
        made = self.sim.request("POST", base, {"fields": {"Name": "Hooked", "Quarter": "Q1-2026"}})[1]
        ev = sse.next_frame()["json"]
        self.assertEqual((ev["op"], ev["record_id"], ev["tenant"]), ("created", made["id"], "Q1-2026"))
        self.sim.request("DELETE", f"{base}/{target['id']}")
        ev = sse.next_frame()["json"]
        self.assertEqual((ev["op"], ev["record_id"], ev["record"]), ("deleted", target["id"], None))
        self.assertEqual(converged(self.sim, self.server, self.objects), True)
        self.assertGreater(self.server.stats()["sources"]["services"]["webhooks"]["accepted"], 0)

        # A replayed ping (same bytes, valid MAC) drains nothing new: no second event.
        hook_id, key = self.secret()
        last = self.server.stats()["events"]["last_id"]
        body = json.dumps({"base": {"id": self.sim.base}, "webhook": {"id": hook_id}, "timestamp": "2026-01-01T00:00:00.000Z"})
        mac = "hmac-sha256=" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        for _ in range(2):
            status, doc, raw, _ = self.server.request("POST", "/api/webhooks/services", body,
                                                      headers={"X-Airtable-Content-MAC": mac,
                                                               "Content-Type": "application/json"})
            self.assertEqual(status, 200, raw)
        time.sleep(1)
        self.assertEqual(self.server.stats()["events"]["last_id"], last)

    def test_a_restart_keeps_the_webhook_and_refreshes_it(self):
        hooks = f"/v0/bases/{self.sim.base}/webhooks"
        before = self.sim.request("GET", hooks)[1]["webhooks"]
        self.assertEqual(len(before), 1)
        # Six of its seven days pass while Freshet is down.
        self.server.stop()
        self.sim.request("POST", "/_sim/clock", {"advance_seconds": 6 * 86400})
        self.server.start()
        wait_until(lambda: self.sim.request("GET", hooks)[1]["webhooks"][0]["expirationTime"] !=
                   before[0]["expirationTime"] or "not refreshed", 30, "the webhook's expiry to move")
        after = self.sim.request("GET", hooks)[1]["webhooks"]
        self.assertEqual([h["id"] for h in after], [before[0]["id"]])  # the same webhook, not a new one
        self.assertGreater(after[0]["expirationTime"], before[0]["expirationTime"])
        self.assertTrue(after[0]["isHookEnabled"])
        # And it still works: a change arrives by ping.
        sse = SSEClient(self.server.port, "/api/events?object=sign_ups")
        self.addCleanup(sse.close)
        sse.read_head()
        target = self.sim.state(self.table)[5]
        self.sim.request("PATCH", f"/v0/{self.sim.base}/{self.table}/{target['id']}", {"fields": {"Hours": 77}})
        self.assertEqual(sse.next_frame()["json"]["record_id"], target["id"])

    def test_a_bad_mac_is_refused_and_audited(self):
        # Airtable pings a webhook right after creating it; under load that ping
        # can beat Freshet's commit of the webhook's secret, be refused, and be
        # retried by the sender (as Airtable does). Let it land first, so the
        # count below is this test's own two refusals.
        wait_until(lambda: self.sim.stats()["webhooks_sent"] >= 1 or "not yet", 30, "the creation ping delivered")
        before = self.server.stats()["sources"]["services"]["webhooks"]["rejected"]
        body = json.dumps({"base": {"id": self.sim.base}, "webhook": {"id": "achForged"}, "timestamp": "x"})
        status, doc, _, _ = self.server.request("POST", "/api/webhooks/services", body,
                                                headers={"X-Airtable-Content-MAC": "hmac-sha256=" + "0" * 64})
        self.assertEqual((status, doc["error"]["code"]), (401, "bad_signature"))
        status, doc, _, _ = self.server.request("POST", "/api/webhooks/services", body)
        self.assertEqual((status, doc["error"]["code"]), (401, "missing_signature"))
        def refused_codes():
            return sorted(a["detail"]["code"] for a in self.server.request("GET", "/api/audit")[1]["entries"]
                          if a["outcome"] == "rejected")
        # One row per reason and 10 s window: the forged MAC's row (which may
        # also count the early creation ping) and the missing signature's.
        wait_until(lambda: {"bad_signature", "missing_signature"} <= set(refused_codes()) or refused_codes(), 25,
                   "both refusals in the audit log (written once per 10 s window)")
        self.assertEqual(refused_codes().count("missing_signature"), 1)
        self.assertEqual(self.server.stats()["sources"]["services"]["webhooks"]["rejected"], before + 2)


class WebhookCreationAnswerLost(unittest.TestCase):
    """Airtable makes the webhook but the answer is lost (a gateway's 504): the
    creation is not repeated blindly; the next round lists the base's webhooks,
    removes the one whose secret Freshet never got, and creates one it can verify."""

    def test_no_duplicate_webhook_is_left_behind(self):
        self.sim = AirtableSim("--dataset", "services", "--seed", "4", "--requests-per-second", "20")
        self.addCleanup(self.sim.stop)
        hooks = f"/v0/bases/{self.sim.base}/webhooks"
        self.assertEqual(self.sim.request("POST", "/_sim/webhooks/lose_create_answers", {"count": 1})[0], 200)
        port = free_port()
        slow = {"poll_min_seconds": 300, "poll_max_seconds": 600}
        src = source_config(self.sim, {"sign_ups": slow, "services": slow},
                            extra_source=f'webhook_url = "http://127.0.0.1:{port}/api/webhooks/services"\n')
        src = src.replace("requests_per_second = 20", "requests_per_second = 5")
        # At trace level every upstream URL is logged: the base id, a secret, must not be.
        server = Server(src, env=airtable_env(self.sim), log_level="trace",
                        server_keys={"auth": '"none"', "listen": f'"127.0.0.1:{port}"'}).start()
        self.addCleanup(server.cleanup)
        wait_until(lambda: bool(server.stats()["sources"]["services"]["airtable_webhook"]["id"]) or "none", 30,
                   "a webhook Freshet holds the secret of")
        mine = server.stats()["sources"]["services"]["airtable_webhook"]["id"]
        listed = self.sim.request("GET", hooks)[1]["webhooks"]
        self.assertEqual([h["id"] for h in listed], [mine])  # the lost one was removed, none is doubled
        # And it verifies: a change arrives by ping.
        sse = SSEClient(server.port, "/api/events?object=sign_ups")
        self.addCleanup(sse.close)
        sse.read_head()
        table = parse_objects(src)["sign_ups"]["key"]
        target = self.sim.state(table)[3]
        self.sim.request("PATCH", f"/v0/{self.sim.base}/{table}/{target['id']}", {"fields": {"Hours": 55}})
        self.assertEqual(sse.next_frame()["json"]["record_id"], target["id"])
        log = server.read_log()
        self.assertIn("msg=upstream url=", log)
        self.assertIn("<redacted>", log)
        self.assertNotIn(self.sim.base, log)


SECRET = CRM_SECRET
GENERIC = CRM_SOURCE


class GenericWebhooks(unittest.TestCase):
    def setUp(self):
        self.server = Server(GENERIC, env={"CRM_SECRET": SECRET},
                             server_keys={"auth": '"none"', "max_body_bytes": "4096"}).start()
        self.addCleanup(self.server.cleanup)

    def post(self, msg_id, doc, **kw):
        body = json.dumps(doc)
        return self.server.request("POST", "/api/webhooks/crm", body, headers=signed_delivery(SECRET, msg_id, body, **kw))

    def test_records_arrive_once_and_bad_input_is_refused(self):
        sse = SSEClient(self.server.port, "/api/events?object=contacts")
        self.addCleanup(sse.close)
        doc = {"type": "record.created", "data": {"object": "contacts", "id": "c1",
                                                  "fields": {"name": "Ada", "region": "north"}}}
        self.assertEqual(self.post("msg_1", doc)[0], 200)
        ev = sse.next_frame()["json"]
        self.assertEqual((ev["op"], ev["tenant"], ev["record"]), ("created", "north", {"id": "c1", "name": "Ada", "region": "north"}))
        # The same delivery again: 200 (so the sender stops retrying), no event.
        status, body, _, _ = self.post("msg_1", doc)
        self.assertEqual((status, body["status"]), (200, "duplicate"))
        doc["type"] = "record.updated"
        doc["data"]["fields"]["name"] = "Ada L."
        self.assertEqual(self.post("msg_2", doc)[0], 200)
        ev = sse.next_frame()["json"]
        self.assertEqual((ev["op"], ev["changed"]), ("updated", {"name": {"old": "Ada", "new": "Ada L."}}))
        self.assertEqual(self.post("msg_3", {"type": "record.deleted", "data": {"object": "contacts", "id": "c1"}})[0], 200)
        self.assertEqual(sse.next_frame()["json"]["op"], "deleted")

        cases = [
            ("stale", self.post("msg_4", doc, timestamp=time.time() - 3600), 401, "stale_timestamp"),
            ("unknown object", self.post("msg_5", {"type": "record.created", "data": {"object": "nope", "id": "x", "fields": {}}}),
             400, "invalid_body"),
            ("unknown source", self.server.request("POST", "/api/webhooks/nope", "{}"), 404, "unknown_source"),
            ("not JSON", self.server.request("POST", "/api/webhooks/crm", "{oops",
                                             headers=signed_delivery(SECRET, "msg_6", "{oops")), 400, "malformed_json"),
            ("GET", self.server.request("GET", "/api/webhooks/crm"), 405, "method_not_allowed"),
        ]
        for what, (status, body, raw, _), want_status, want_code in cases:
            self.assertEqual((status, body["error"]["code"]), (want_status, want_code), what)
        big = "x" * 5000
        status, body, _, _ = self.server.request("POST", "/api/webhooks/crm", big,
                                                 headers=signed_delivery(SECRET, "msg_7", big))
        self.assertEqual(status, 413)
        self.assertEqual(freshet_records(self.server, "contacts"), {})


if __name__ == "__main__":
    unittest.main()
