"""The Airtable simulator against upstream-apis.md section 2 and its
checklist, beyond what the official client peer test (tests/peer) covers."""
import concurrent.futures
import json
import subprocess
import time
import tomllib
import unittest
import urllib.parse

from harness import BIN, http_request
from sim_harness import AirtableSim


class AirtableApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = AirtableSim("--requests-per-second", "0")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_offset_iteration_ends_without_an_offset_key(self):
        ids, offset, pages = [], None, 0
        while True:
            params = {"pageSize": 100}
            if offset:
                params["offset"] = offset
            status, doc, raw, _ = self.sim.list(**params)
            self.assertEqual(status, 200, raw)
            ids += [r["id"] for r in doc["records"]]
            pages += 1
            if "offset" not in doc:
                break
            self.assertRegex(doc["offset"], r"^itr[A-Za-z0-9]{14}/rec[A-Za-z0-9]{14}$")
            offset = doc["offset"]
        self.assertEqual(ids, [r["id"] for r in self.sim.state()])
        self.assertEqual(pages, 6)
        status, doc, _, _ = self.sim.list(maxRecords=150, pageSize=100)
        self.assertIn("offset", doc)
        status, doc, _, _ = self.sim.list(offset=doc["offset"])
        self.assertEqual((len(doc["records"]), "offset" in doc), (50, False))

    def test_a_page_asked_for_again_is_the_same_page(self):
        # A client whose answer was lost (cut off, timed out) asks with the same
        # offset: Airtable's offset names where the page starts, so it gets the
        # same records, not the page after them. The last page too.
        status, first, _, _ = self.sim.list(pageSize=100)
        second = [self.sim.list(offset=first["offset"])[1] for _ in range(2)]
        self.assertEqual(second[0], second[1])
        self.assertNotEqual([r["id"] for r in second[0]["records"]], [r["id"] for r in first["records"]])
        offset = second[0]["offset"]
        while True:
            status, doc, raw, _ = self.sim.list(offset=offset)
            self.assertEqual(status, 200, raw)
            if "offset" not in doc:
                break
            offset = doc["offset"]
        status, again, raw, _ = self.sim.list(offset=offset)
        self.assertEqual((status, again), (200, doc), raw)
        status, capped, _, _ = self.sim.list(maxRecords=150, pageSize=100)
        for _ in range(2):
            status, doc, _, _ = self.sim.list(offset=capped["offset"])
            self.assertEqual((len(doc["records"]), "offset" in doc), (50, False))

    def test_list_records_by_post_with_a_json_body(self):
        body = {"pageSize": 10, "fields": ["Name", "Quarter"], "filterByFormula": "{Quarter} = 'Q3-2025'",
                "sort": [{"field": "Name", "direction": "asc"}]}
        status, doc, raw, _ = self.sim.request("POST", f"/v0/{self.sim.base}/Sign-ups/listRecords", body)
        self.assertEqual(status, 200, raw)
        self.assertEqual(len(doc["records"]), 10)
        self.assertTrue(all(set(r["fields"]) <= {"Name", "Quarter"} for r in doc["records"]))
        self.assertTrue(all(r["fields"]["Quarter"] == "Q3-2025" for r in doc["records"]))
        names = [r["fields"]["Name"] for r in doc["records"]]
        self.assertEqual(names, sorted(names))
        status, nxt, _, _ = self.sim.request("POST", f"/v0/{self.sim.base}/Sign-ups/listRecords", {"offset": doc["offset"]})
        self.assertEqual(status, 200)
        self.assertEqual(len(nxt["records"]), 10)

    def test_order_is_frozen_but_values_are_live(self):
        status, first, _, _ = self.sim.list(pageSize=5)
        later = self.sim.state()[7]
        status, _, raw, _ = self.sim.request("PATCH", f"/v0/{self.sim.base}/Sign-ups/{later['id']}",
                                             {"fields": {"Name": "Changed mid-iteration"}})
        self.assertEqual(status, 200, raw)
        status, second, _, _ = self.sim.list(offset=first["offset"])
        row = next(r for r in second["records"] if r["id"] == later["id"])
        self.assertEqual(row["fields"]["Name"], "Changed mid-iteration")

    def test_bad_and_unknown_offsets(self):
        status, doc, _, _ = self.sim.list(offset="nonsense")
        self.assertEqual((status, doc["error"]["type"]), (422, "INVALID_OFFSET_VALUE"))
        status, doc, _, _ = self.sim.list(offset="itrAAAAAAAAAAAAAA/recAAAAAAAAAAAAAA")
        self.assertEqual((status, doc["error"]["type"]), (422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"))

    def test_abandoned_iterators_are_capped(self):
        status, first, _, _ = self.sim.list(pageSize=1)
        for _ in range(1000):  # each first page starts an iteration nobody finishes
            self.assertEqual(self.sim.list(pageSize=1)[0], 200)
        status, doc, _, _ = self.sim.list(offset=first["offset"])
        self.assertEqual((status, doc["error"]["type"]), (422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"))

    def test_empty_cells_are_omitted_and_times_are_iso(self):
        recs = self.sim.state()
        self.assertTrue(any("Follow-up" not in r["fields"] for r in recs))
        self.assertTrue(all(r["fields"].get("Follow-up", True) is True for r in recs))
        self.assertRegex(recs[0]["createdTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_table_by_name_or_id_and_fields_by_id(self):
        tid = None
        status, doc, _, _ = self.sim.list(table="Sign-ups", pageSize=1)
        rid = doc["records"][0]["id"]
        for table in ("Sign-ups",):
            status, one, _, _ = self.sim.request("GET", f"/v0/{self.sim.base}/{table}/{rid}?returnFieldsByFieldId=true")
            self.assertEqual(status, 200)
            self.assertTrue(all(k.startswith("fld") for k in one["fields"]))
        # a record is found through any table of its base (2.1)
        status, other, _, _ = self.sim.request("GET", f"/v0/{self.sim.base}/Services/{rid}")
        self.assertEqual((status, other["id"]), (200, rid))

    def test_error_shapes(self):
        status, doc, _, _ = self.sim.request("GET", f"/v0/{self.sim.base}/Sign-ups", token=False)
        self.assertEqual((status, doc), (401, {"error": {"type": "AUTHENTICATION_REQUIRED",
                                                         "message": "Authentication required"}}))
        status, doc, _, _ = self.sim.list(table="Nope")
        self.assertEqual((status, doc["error"]["type"]), (403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"))
        status, doc, _, _ = self.sim.request("GET", "/v0/appWRONGWRONGWRON/Sign-ups")
        self.assertEqual(status, 403)
        status, doc, _, _ = self.sim.request("GET", "/v1/nothing")
        self.assertEqual((status, doc), (404, {"error": "NOT_FOUND"}))
        status, doc, _, _ = self.sim.list(filterByFormula="{Nope} = 1")
        self.assertEqual((status, doc["error"]["type"]), (422, "INVALID_FILTER_BY_FORMULA"))
        self.assertTrue(doc["error"]["message"].startswith("The formula for filtering records is invalid:"))
        eleven = {"records": [{"fields": {"Name": str(i)}} for i in range(11)]}
        status, doc, _, _ = self.sim.request("POST", f"/v0/{self.sim.base}/Sign-ups", eleven)
        self.assertEqual(status, 422)
        status, doc, _, _ = self.sim.request("POST", f"/v0/{self.sim.base}/Sign-ups", "{not json")
        self.assertEqual(status, 400)


class AirtableSyncPatternTest(unittest.TestCase):
    def test_last_modified_time_is_blank_until_the_first_edit(self):
        sim = AirtableSim("--requests-per-second", "0", "--seed", "5")
        try:
            before = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 2))
            edited = sim.state()[0]["id"]
            status, _, raw, _ = sim.request("PATCH", f"/v0/{sim.base}/Sign-ups/{edited}", {"fields": {"Status": "Attended"}})
            self.assertEqual(status, 200, raw)
            status, created, _, _ = sim.request("POST", f"/v0/{sim.base}/Sign-ups", {"fields": {"Name": "New"}})
            pattern = ("IS_AFTER(IF(NOT(LAST_MODIFIED_TIME()), CREATED_TIME(), LAST_MODIFIED_TIME()), "
                       f"DATETIME_PARSE('{before}'))")
            status, doc, raw, _ = sim.list(filterByFormula=pattern)
            self.assertEqual(status, 200, raw)
            self.assertEqual(sorted(r["id"] for r in doc["records"]), sorted([edited, created["id"]]))
            status, doc, _, _ = sim.list(filterByFormula=f"LAST_MODIFIED_TIME() > '{before}'")
            self.assertEqual([r["id"] for r in doc["records"]], [edited])  # blank for the new one
        finally:
            sim.stop()

    def test_upsert_creates_or_updates_by_merge_fields(self):
        sim = AirtableSim("--requests-per-second", "0")
        try:
            name = sim.state()[0]["fields"]["Name"]
            same = [r for r in sim.state() if r["fields"]["Name"] == name]
            body = {"performUpsert": {"fieldsToMergeOn": ["Email"]},
                    "records": [{"fields": {"Email": same[0]["fields"]["Email"] + ".x", "Name": "New person"}}]}
            status, doc, raw, _ = sim.request("PATCH", f"/v0/{sim.base}/Sign-ups", body)
            self.assertEqual(status, 200, raw)
            self.assertEqual((len(doc["createdRecords"]), len(doc["updatedRecords"])), (1, 0))
            body["records"][0]["fields"]["Name"] = "Renamed"
            status, doc, _, _ = sim.request("PATCH", f"/v0/{sim.base}/Sign-ups", body)
            self.assertEqual((len(doc["createdRecords"]), len(doc["updatedRecords"])), (0, 1))
            self.assertEqual(doc["records"][0]["fields"]["Name"], "Renamed")
        finally:
            sim.stop()


class AirtableRateLimitTest(unittest.TestCase):
    def test_breach_gives_the_plural_429_and_a_penalty(self):
        sim = AirtableSim("--requests-per-second", "5", "--penalty-seconds", "2")
        try:
            # Twelve at once, so that they land inside one second however slow
            # each answer is (the sanitizer build's are): more than the five allowed.
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                statuses = list(pool.map(lambda _: sim.list(pageSize=1)[0], range(12)))
            self.assertIn(429, statuses)
            status, doc, _, res = sim.list(pageSize=1)
            self.assertEqual(status, 429)  # still inside the penalty, even in a new second
            self.assertEqual(doc, {"errors": [{"error": "RATE_LIMIT_REACHED",
                                               "message": "Rate limit exceeded. Please try again later"}]})
            self.assertIsNone(res.getheader("Retry-After"))
            time.sleep(2.2)
            self.assertEqual(sim.list(pageSize=1)[0], 200)
        finally:
            sim.stop()


class AirtableCellFormatTest(unittest.TestCase):
    def test_string_cells_need_time_zone_and_locale(self):
        sim = AirtableSim("--requests-per-second", "0")
        try:
            status, doc, _, _ = sim.list(cellFormat="string", pageSize=3)
            self.assertEqual((status, doc["error"]["type"]), (422, "INVALID_REQUEST_UNKNOWN"))
            status, doc, raw, _ = sim.list(**{"cellFormat": "string", "timeZone": "America/Chicago", "userLocale": "en-us",
                                              "pageSize": 100, "recordMetadata[]": "commentCount"})
            self.assertEqual(status, 200, raw)
            for r in doc["records"]:
                self.assertTrue(all(isinstance(v, str) for v in r["fields"].values()), r)
                self.assertEqual(r["commentCount"], 0)
            self.assertTrue(any(r["fields"].get("Follow-up") == "checked" for r in doc["records"]))
        finally:
            sim.stop()


class AirtableUnderTheLimitTest(unittest.TestCase):
    def test_four_a_second_draws_no_429(self):
        sim = AirtableSim("--requests-per-second", "5")
        try:
            time.sleep(1.0 - time.time() % 1.0)
            start = time.time()
            for i in range(10):
                time.sleep(max(0, start + i * 0.25 - time.time()))
                self.assertEqual(sim.list(pageSize=1)[0], 200)
            stats = http_request(sim.port, "GET", "/_sim/stats")[1]
            self.assertEqual(stats["rate_limited"], 0)
            self.assertLessEqual(stats["max_requests_in_one_second"], 5)
        finally:
            sim.stop()


class AirtableCliTest(unittest.TestCase):
    def test_print_config(self):
        r = subprocess.run([BIN, "simulate", "airtable", "--listen", "127.0.0.1:9002", "--print-config"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        src = tomllib.loads(r.stdout)["sources"][0]
        self.assertEqual((src["kind"], src["base_url"]), ("airtable", "http://127.0.0.1:9002"))
        signups = src["objects"][0]
        self.assertRegex(signups["key"], r"^tbl[A-Za-z0-9]{14}$")
        self.assertEqual(signups["tenant_field"], "quarter")

    def test_same_seed_same_base(self):
        a, b = AirtableSim("--seed", "9"), AirtableSim("--seed", "9")
        try:
            self.assertEqual(a.base, b.base)
            self.assertEqual(a.state(), b.state())
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    unittest.main()
