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

from test_airtable_simulator import AirtableSim
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


if __name__ == "__main__":
    unittest.main()
