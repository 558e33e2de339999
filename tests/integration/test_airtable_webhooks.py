"""The Airtable simulator's Webhooks API: create, list, refresh, enable,
delete; pings signed with X-Airtable-Content-MAC (checked here with Python's
hmac over the base64-decoded secret, as 2.6 says); payloads by cursor that
describe exactly the changes made."""
import base64
import hashlib
import hmac
import json
import time
import unittest

from sim_harness import AirtableSim
from test_knack_webhooks import Receiver


def mac_ok(secret_b64, headers, body):
    expected = "hmac-sha256=" + hmac.new(base64.b64decode(secret_b64), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Airtable-Content-MAC", headers.get("x-airtable-content-mac", "")))


class AirtableWebhooksTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver()
        self.sim = AirtableSim("--requests-per-second", "0")
        self.hooks = f"/v0/bases/{self.sim.base}/webhooks"

    def tearDown(self):
        self.sim.stop()
        self.rx.shutdown()

    def create(self, **options):
        spec = {"options": {"filters": {"dataTypes": ["tableData"]}, **options}}
        status, doc, raw, _ = self.sim.request("POST", self.hooks, {"notificationUrl": f"http://127.0.0.1:{self.rx.server_port}/ping",
                                                                     "specification": spec})
        self.assertEqual(status, 200, raw)
        self.assertRegex(doc["id"], r"^ach[A-Za-z0-9]{14}$")
        self.assertEqual(len(base64.b64decode(doc["macSecretBase64"])), 32)
        return doc

    def test_ping_is_signed_and_payloads_describe_the_changes(self):
        hook = self.create(includes={"includePreviousCellValues": True})
        first = self.rx.wait_for(1)  # a ping soon after creation
        headers, body = first[0]
        self.assertTrue(mac_ok(hook["macSecretBase64"], headers, body))
        ping = json.loads(body)
        self.assertEqual((ping["base"]["id"], ping["webhook"]["id"]), (self.sim.base, hook["id"]))

        state = self.sim.state()
        target = state[0]
        status, _, raw, _ = self.sim.request("PATCH", f"/v0/{self.sim.base}/Sign-ups/{target['id']}",
                                             {"fields": {"Hours": 99}})
        self.assertEqual(status, 200, raw)
        status, created, _, _ = self.sim.request("POST", f"/v0/{self.sim.base}/Sign-ups", {"fields": {"Name": "Hooked"}})
        status, _, _, _ = self.sim.request("DELETE", f"/v0/{self.sim.base}/Sign-ups/{state[1]['id']}")
        self.rx.wait_for(2)  # a ping after the changes (bursts may coalesce)
        for headers, body in self.rx.deliveries:
            self.assertTrue(mac_ok(hook["macSecretBase64"], headers, body))

        status, doc, raw, _ = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")
        self.assertEqual(status, 200, raw)
        payloads = doc["payloads"]
        self.assertEqual(len(payloads), 3)
        self.assertEqual((doc["cursor"], doc["mightHaveMore"]), (4, False))
        self.assertEqual([p["payloadFormat"] for p in payloads], ["v0"] * 3)
        self.assertEqual([p["actionMetadata"]["source"] for p in payloads], ["publicApi"] * 3)
        changed = list(payloads[0]["changedTablesById"].values())[0]["changedRecordsById"][target["id"]]
        (fld, new), = changed["current"]["cellValuesByFieldId"].items()
        self.assertTrue(fld.startswith("fld"))
        self.assertEqual(new, 99)
        self.assertEqual(changed["previous"]["cellValuesByFieldId"][fld], target["fields"]["Hours"])
        made = list(payloads[1]["changedTablesById"].values())[0]["createdRecordsById"]
        self.assertEqual(list(made), [created["id"]])
        gone = list(payloads[2]["changedTablesById"].values())[0]["destroyedRecordIds"]
        self.assertEqual(gone, [state[1]["id"]])
        # Nothing new: the same cursor comes back.
        status, doc, _, _ = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads?cursor=4")
        self.assertEqual((doc["cursor"], doc["payloads"], doc["mightHaveMore"]), (4, [], False))
        status, doc, _, _ = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads?cursor=2&limit=1")
        self.assertEqual((len(doc["payloads"]), doc["cursor"], doc["mightHaveMore"]), (1, 3, True))

    def test_trickle_changes_are_client_payloads(self):
        hook = self.create()
        applied = self.sim.request("POST", "/_sim/changes", {"count": 6}, token=False)[1]["applied"]
        status, doc, _, _ = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")
        self.assertEqual(len(doc["payloads"]), 6)
        self.assertEqual({p["actionMetadata"]["source"] for p in doc["payloads"]}, {"client"})
        for change, payload in zip(applied, doc["payloads"]):
            tables = payload["changedTablesById"][change["object"]]
            key = {"created": "createdRecordsById", "updated": "changedRecordsById", "deleted": "destroyedRecordIds"}[change["op"]]
            self.assertIn(change["id"], tables[key])

    def test_list_refresh_disable_delete_and_the_limit(self):
        hook = self.create(filters={"dataTypes": ["tableData"], "changeTypes": ["add"]})
        status, doc, _, _ = self.sim.request("GET", self.hooks)
        listed = doc["webhooks"][0]
        self.assertEqual((listed["id"], listed["cursorForNextPayload"], listed["areNotificationsEnabled"]),
                         (hook["id"], 1, True))
        status, doc, _, _ = self.sim.request("POST", f"{self.hooks}/{hook['id']}/refresh")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(doc["expirationTime"], hook["expirationTime"])
        # changeTypes ["add"]: an update makes no payload.
        rid = self.sim.state()[0]["id"]
        self.sim.request("PATCH", f"/v0/{self.sim.base}/Sign-ups/{rid}", {"fields": {"Hours": 7}})
        self.assertEqual(self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")[1]["payloads"], [])
        status, _, _, _ = self.sim.request("POST", f"{self.hooks}/{hook['id']}/enableNotifications", {"enable": False})
        self.assertEqual(status, 200)
        self.assertFalse(self.sim.request("GET", self.hooks)[1]["webhooks"][0]["areNotificationsEnabled"])
        for _ in range(9):
            self.create()
        status, doc, _, _ = self.sim.request("POST", self.hooks, {"specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}})
        self.assertEqual(status, 422)  # at most 10 per base
        status, _, _, _ = self.sim.request("DELETE", f"{self.hooks}/{hook['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")[0], 404)
        status, doc, _, _ = self.sim.request("POST", self.hooks, {"specification": {}})
        self.assertEqual(status, 422)


class AirtableWebhookWatchTest(unittest.TestCase):
    def test_watch_data_in_field_ids(self):
        sim = AirtableSim("--requests-per-second", "0")
        try:
            hooks = f"/v0/bases/{sim.base}/webhooks"
            rid = sim.state()[0]["id"]
            one = sim.request("GET", f"/v0/{sim.base}/Sign-ups/{rid}?returnFieldsByFieldId=true")[1]
            by_id = sim.request("GET", f"/v0/{sim.base}/Sign-ups/{rid}")[1]
            names = {v: k for k, v in by_id["fields"].items()}
            hours_id = next(fid for fid, v in one["fields"].items() if names.get(v) == "Hours")
            spec = {"options": {"filters": {"dataTypes": ["tableData"], "watchDataInFieldIds": [hours_id]}}}
            hook = sim.request("POST", hooks, {"specification": spec})[1]
            sim.request("PATCH", f"/v0/{sim.base}/Sign-ups/{rid}", {"fields": {"Name": "Not watched"}})
            sim.request("PATCH", f"/v0/{sim.base}/Sign-ups/{rid}", {"fields": {"Hours": 42}})
            payloads = sim.request("GET", f"{hooks}/{hook['id']}/payloads")[1]["payloads"]
            self.assertEqual(len(payloads), 1)
            changed = list(payloads[0]["changedTablesById"].values())[0]["changedRecordsById"][rid]
            self.assertEqual(changed["current"]["cellValuesByFieldId"], {hours_id: 42})
        finally:
            sim.stop()


class AirtableWebhookExpiryTest(unittest.TestCase):
    """With the simulated clock (POST /_sim/clock): 7-day expiry, readable 7
    more days, payloads purged after 7 days without resetting cursors."""

    DAY = 86400

    def setUp(self):
        self.sim = AirtableSim("--requests-per-second", "0")
        self.hooks = f"/v0/bases/{self.sim.base}/webhooks"

    def tearDown(self):
        self.sim.stop()

    def advance(self, days):
        status, doc, _, _ = self.sim.request("POST", "/_sim/clock", {"advance_seconds": int(days * self.DAY)}, token=False)
        self.assertEqual(status, 200)

    def create(self):
        spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
        return self.sim.request("POST", self.hooks, {"specification": spec})[1]

    def change(self):
        rid = self.sim.state()[0]["id"]
        hours = self.sim.state()[0]["fields"].get("Hours", 0)
        self.assertEqual(self.sim.request("PATCH", f"/v0/{self.sim.base}/Sign-ups/{rid}", {"fields": {"Hours": hours + 1}})[0], 200)

    def test_expiry_after_7_days_then_gone_7_days_later(self):
        hook = self.create()
        self.change()
        self.advance(8)
        listed = self.sim.request("GET", self.hooks)[1]["webhooks"][0]
        self.assertFalse(listed["isHookEnabled"])
        self.change()  # an expired hook records nothing more
        doc = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")[1]
        self.assertEqual(len(doc["payloads"]), 0)  # the one payload is 8 days old: purged
        self.assertEqual(doc["cursor"], 1)
        self.assertEqual(self.sim.request("POST", f"{self.hooks}/{hook['id']}/refresh")[0], 422)
        self.advance(7)
        self.assertEqual(self.sim.request("GET", self.hooks)[1]["webhooks"], [])
        self.assertEqual(self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads")[0], 404)

    def test_payloads_purged_after_7_days_cursor_numbers_kept(self):
        hook = self.create()
        self.change()  # payload 1
        self.advance(3)
        self.assertEqual(self.sim.request("POST", f"{self.hooks}/{hook['id']}/refresh")[0], 200)
        self.advance(5)  # payload 1 is 8 days old; the hook, refreshed, lives
        self.change()  # payload 2
        doc = self.sim.request("GET", f"{self.hooks}/{hook['id']}/payloads?cursor=1")[1]
        self.assertEqual([p["baseTransactionNumber"] for p in doc["payloads"]], [2])
        self.assertEqual(doc["cursor"], 3)


if __name__ == "__main__":
    unittest.main()
