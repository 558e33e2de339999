"""The Knack simulator against upstream-apis.md section 1 and its checklist."""
import json
import subprocess
import time
import tomllib
import unittest
import urllib.parse

from harness import BIN
from sim_harness import KnackSim


class KnackApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = KnackSim("--seed", "7", "--requests-per-second", "0")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_pagination_envelope_and_edges(self):
        first = self.sim.records("object_1")  # defaults: 25 rows, page 1
        self.assertEqual((first["current_page"], len(first["records"])), (1, 25))
        total = first["total_records"]
        self.assertEqual(total, 2400)
        self.assertEqual(first["total_pages"], 96)
        exact = self.sim.records("object_1", rows_per_page=100, page=24)  # an exact multiple: full last page
        self.assertEqual((exact["total_pages"], len(exact["records"])), (24, 100))
        past = self.sim.records("object_1", rows_per_page=100, page=25)
        self.assertEqual((past["current_page"], past["records"]), (25, []))
        clamped = self.sim.records("object_1", rows_per_page=5000)
        self.assertEqual((len(clamped["records"]), clamped["total_pages"]), (1000, 3))
        last = self.sim.records("object_1", rows_per_page=1000, page=3)
        self.assertEqual(len(last["records"]), 400)
        everything = [r["id"] for p in (1, 2, 3) for r in self.sim.records("object_1", rows_per_page=1000, page=p)["records"]]
        self.assertEqual(everything, [r["id"] for r in self.sim.state("object_1")])
        for bad in ("0", "-3", "ten"):
            status, doc, _, _ = self.sim.request("GET", f"/v1/objects/object_1/records?rows_per_page={bad}")
            self.assertEqual(status, 400)
            self.assertIn("rows_per_page", doc["errors"][0]["message"])

    def test_empty_result(self):
        f = json.dumps({"match": "and", "rules": [{"field": "field_5", "operator": "is", "value": "nowhere"}]})
        doc = self.sim.records("object_1", filters=f)
        self.assertEqual(doc, {"total_pages": 0, "current_page": 1, "total_records": 0, "records": []})

    def test_record_shape(self):
        recs = self.sim.state("object_1")
        self.assertRegex(recs[0]["id"], r"^[0-9a-f]{24}$")
        donated = next(r for r in recs if r["field_3"] == "Donated")
        self.assertEqual(donated["field_3_raw"], "Donated")
        conn = donated["field_6_raw"][0]
        self.assertRegex(conn["id"], r"^[0-9a-f]{24}$")
        self.assertIn(f'<span class="{conn["id"]}" data-kn="connection-value">', donated["field_6"])
        received = next(r for r in recs if r["field_3"] == "Received")
        self.assertEqual(received["field_6"], "")
        self.assertNotIn("field_6_raw", received)
        raw = received["field_20_raw"]
        for key in ("date", "date_formatted", "hours", "minutes", "am_pm", "unix_timestamp", "iso_timestamp",
                    "timestamp", "time"):
            self.assertIn(key, raw)
        self.assertTrue(raw["iso_timestamp"].endswith("Z"))
        self.assertRegex(received["field_20"], r"^\d\d/\d\d/\d{4} \d{1,2}:\d\d[ap]m$")
        self.assertEqual(received["field_4_raw"]["time"], 720)  # a date-only value, as real data shows it

    def test_get_one_trailing_slash_and_case_insensitive_headers(self):
        rid = self.sim.state("object_2")[0]["id"]
        status, doc, _, _ = self.sim.request("GET", f"/v1/objects/object_2/records/{rid}/", auth=False,
                                             headers={"x-knack-application-id": self.sim.app_id,
                                                      "x-knack-rest-api-key": self.sim.api_key})
        self.assertEqual((status, doc["id"]), (200, rid))
        status, doc, _, _ = self.sim.request("GET", "/v1/objects/object_2/records/?rows_per_page=3")
        self.assertEqual((status, len(doc["records"])), (200, 3))

    def test_errors(self):
        status, _, raw, res = self.sim.request("GET", "/v1/objects/object_1/records", auth=False)
        self.assertEqual((status, raw), (401, b"Unauthorized Object Access"))
        status, _, raw, _ = self.sim.request("GET", "/v1/objects/object_1/records", auth=False,
                                             headers={"X-Knack-Application-Id": self.sim.app_id,
                                                      "X-Knack-REST-API-Key": "wrong"})
        self.assertEqual(status, 401)
        status, doc, _, _ = self.sim.request("GET", "/v1/objects/object_99/records")
        self.assertEqual(status, 404)
        self.assertIn("object_99", doc["errors"][0]["message"])
        status, doc, _, _ = self.sim.request("GET", "/v1/objects/object_1/records/" + "0" * 24)
        self.assertEqual(status, 404)
        self.assertTrue(doc["errors"][0]["message"])

    def test_filters(self):
        state = self.sim.state("object_1")
        def ids(doc):
            return sorted(r["id"] for r in doc["records"])
        def query(rules, match=None, raw=False, rows=1000):
            f = rules if match is None else {"match": match, "rules": rules}
            text = json.dumps(f, separators=(",", ":"))
            if raw:  # as knack-api-helper sends it: JSON concatenated unencoded
                status, doc, body, _ = self.sim.request("GET", f"/v1/objects/object_1/records?rows_per_page={rows}&filters={text}")
                self.assertEqual(status, 200, body)
                return doc
            return self.sim.records("object_1", rows_per_page=rows, filters=text)

        hen = query([{"field": "field_5", "operator": "is", "value": "hennepin"}], "and", raw=True)
        expected = sorted(r["id"] for r in state if r["field_5"] == "hennepin")
        self.assertEqual(ids(hen), expected[:1000] if len(expected) > 1000 else expected)
        not_hen = query([{"field": "field_5", "operator": "is not", "value": "hennepin"}])
        self.assertEqual(hen["total_records"] + not_hen["total_records"], len(state))
        thinkpads = query([{"field": "field_2", "operator": "contains", "value": "thinkpad"}])
        self.assertEqual(thinkpads["total_records"], sum("ThinkPad" in r["field_2"] for r in state))
        blank = query([{"field": "field_6", "operator": "is blank"}])
        self.assertEqual(blank["total_records"], sum(r["field_6"] == "" for r in state))
        # The incremental-sync pattern: modified on or after a day, as `is` OR `is after` (1.6, 1.7).
        day = sorted(r["field_20_raw"]["date"] for r in state)[len(state) // 2]
        on_or_after = query([{"field": "field_20", "operator": "is", "value": day},
                             {"field": "field_20", "operator": "is after", "value": day}], "or")
        def key(d):
            m, dd, y = d.split("/")
            return (y, m, dd)
        self.assertEqual(on_or_after["total_records"], sum(key(r["field_20_raw"]["date"]) >= key(day) for r in state))
        donations = self.sim.state("object_2")
        big = self.sim.records("object_2", rows_per_page=1000,
                               filters=json.dumps([{"field": "field_8", "operator": "higher than", "value": 8}]))
        self.assertEqual(big["total_records"], sum(r["field_8_raw"] > 8 for r in donations))

    def test_bad_filters_are_400(self):
        for f, words in (("{not json", "JSON"),
                         (json.dumps([{"field": "field_5", "operator": "is like", "value": "x"}]), "operator"),
                         (json.dumps([{"field": "field_77", "operator": "is", "value": "x"}]), "field_77"),
                         (json.dumps([{"field": "field_20", "operator": "is after", "value": "yesterday"}]), "MM/DD/YYYY")):
            status, doc, raw, _ = self.sim.request("GET", "/v1/objects/object_1/records?filters=" + urllib.parse.quote(f))
            self.assertEqual(status, 400, raw)
            self.assertIn(words, doc["errors"][0]["message"])

    def test_sort(self):
        doc = self.sim.records("object_2", rows_per_page=1000, sort_field="field_8", sort_order="desc")
        counts = [r["field_8_raw"] for r in doc["records"]]
        self.assertEqual(counts, sorted(counts, reverse=True))

    def test_metadata_needs_no_key(self):
        status, doc, _, _ = self.sim.request("GET", f"/v1/applications/{self.sim.app_id}", auth=False)
        self.assertEqual(status, 200)
        app = doc["application"]
        self.assertEqual(app["settings"]["timezone"], "America/Chicago")
        self.assertEqual([o["key"] for o in app["objects"]], ["object_1", "object_2", "object_3"])


class KnackWritesTest(unittest.TestCase):
    def setUp(self):
        self.sim = KnackSim("--seed", "11", "--requests-per-second", "0")

    def tearDown(self):
        self.sim.stop()

    def test_create_update_delete(self):
        status, rec, raw, _ = self.sim.request("POST", "/v1/objects/object_2/records",
                                               {"field_7": "Test Org", "field_8": 4, "field_10": "ramsey"})
        self.assertEqual(status, 200, raw)
        rid = rec["id"]
        self.assertEqual((rec["field_7"], rec["field_8_raw"]), ("Test Org", 4))
        # Object-based writes run no record rules: the modified field stays empty.
        self.assertEqual(rec["field_21"], "")
        status, rec, _, _ = self.sim.request("PUT", f"/v1/objects/object_2/records/{rid}", {"field_8": 9})
        self.assertEqual((status, rec["field_8_raw"], rec["field_7"]), (200, 9, "Test Org"))
        status, bad, _, _ = self.sim.request("PUT", f"/v1/objects/object_2/records/{rid}", {"field_99": 1})
        self.assertEqual((status, bad["errors"][0]["field"]), (400, "field_99"))
        status, doc, _, _ = self.sim.request("DELETE", f"/v1/objects/object_2/records/{rid}")
        self.assertEqual((status, doc), (200, {"delete": True}))
        self.assertEqual(self.sim.request("GET", f"/v1/objects/object_2/records/{rid}")[0], 404)
        self.assertNotIn(rid, [r["id"] for r in self.sim.state("object_2")])

    def test_change_trickle_is_visible_in_state(self):
        status, doc, _, _ = self.sim.request("POST", "/_sim/changes", {"count": 40}, auth=False)
        self.assertEqual(status, 200)
        applied = doc["applied"]
        self.assertEqual(len(applied), 40)
        state = {o: {r["id"]: r for r in self.sim.state(o)} for o in ("object_1", "object_2", "object_3")}
        last = {}
        for c in applied:
            last[(c["object"], c["id"])] = c["op"]
        for (obj, rid), op in last.items():
            self.assertEqual(rid in state[obj], op != "deleted", (obj, rid, op))
        self.assertEqual(self.sim.stats()["changes_applied"], 40)
        status, doc, _, _ = self.sim.request("POST", "/_sim/changes", {"count": 0}, auth=False)
        self.assertEqual((status, doc["error"]["code"]), (400, "invalid_body"))


class KnackDeterminismTest(unittest.TestCase):
    def test_same_seed_same_data_and_changes(self):
        a, b, c = KnackSim("--seed", "3"), KnackSim("--seed", "3"), KnackSim("--seed", "4")
        try:
            for o in ("object_1", "object_2", "object_3"):
                self.assertEqual(a.state(o), b.state(o))
            self.assertNotEqual(a.state("object_1"), c.state("object_1"))
            ca = a.request("POST", "/_sim/changes", {"count": 25}, auth=False)[1]["applied"]
            cb = b.request("POST", "/_sim/changes", {"count": 25}, auth=False)[1]["applied"]
            self.assertEqual(ca, cb)
        finally:
            for s in (a, b, c):
                s.stop()


class KnackRateLimitTest(unittest.TestCase):
    def test_faster_than_the_limit_gets_429_with_headers(self):
        sim = KnackSim("--seed", "1", "--requests-per-second", "10")
        try:
            # Each answer with the time its request was sent: the reset is the
            # end of the second it arrived in, judged against when it was sent
            # (not when this loop ends, which may be seconds later when slow).
            results = [(time.time(), sim.request("GET", "/v1/objects/object_3/records?rows_per_page=1"))
                       for _ in range(40)]
            limited = [(sent, r) for sent, r in results if r[0] == 429]
            self.assertGreater(len(limited), 0)
            sent, (status, _, raw, res) = limited[0]
            self.assertEqual(raw, b"Rate limit exceeded")
            self.assertTrue(res.getheader("Content-Type").startswith("text/plain"))
            self.assertEqual(res.getheader("X-RateLimit-Limit"), "10")
            self.assertEqual(res.getheader("X-RateLimit-Remaining"), "0")
            self.assertGreater(int(res.getheader("X-RateLimit-Reset")), int(sent))
            self.assertLessEqual(int(res.getheader("X-RateLimit-Reset")), int(time.time()) + 1)
            self.assertIsNotNone(res.getheader("X-PlanLimit-Remaining"))
            self.assertEqual(sim.stats()["rate_limited"], len(limited))
        finally:
            sim.stop()

    def test_staying_under_the_limit_draws_none(self):
        sim = KnackSim("--seed", "1", "--requests-per-second", "10")
        try:
            time.sleep(1.0 - time.time() % 1.0)  # start at a window's edge
            start = time.time()
            for i in range(16):  # 8 per second, evenly spaced
                time.sleep(max(0, start + i * 0.125 - time.time()))
                status = sim.request("GET", "/v1/objects/object_3/records?rows_per_page=1")[0]
                self.assertEqual(status, 200)
            self.assertEqual(sim.stats()["rate_limited"], 0)
            self.assertLessEqual(sim.stats()["max_requests_in_one_second"], 10)
        finally:
            sim.stop()


class KnackFaultsTest(unittest.TestCase):
    def test_fail_rate_one_answers_5xx(self):
        sim = KnackSim("--requests-per-second", "0", "--fail-rate", "1")
        try:
            statuses = {sim.request("GET", "/v1/objects/object_3/records")[0] for _ in range(12)}
            self.assertTrue(statuses <= {500, 502, 503} and statuses, statuses)
            self.assertEqual(sim.stats()["faults_injected"], 12)
        finally:
            sim.stop()

    def test_drop_rate_one_closes_without_an_answer(self):
        sim = KnackSim("--requests-per-second", "0", "--drop-rate", "1")
        try:
            import http.client
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
                sim.request("GET", "/v1/objects/object_3/records")
            self.assertEqual(sim.stats()["faults_injected"], 1)
        finally:
            sim.stop()

    def test_truncate_rate_one_answers_broken_json(self):
        sim = KnackSim("--requests-per-second", "0", "--truncate-rate", "1")
        try:
            status, _, raw, _ = sim.request("GET", "/v1/objects/object_3/records", headers={"Accept": "x"})
            self.assertEqual(status, 200)
            with self.assertRaises(json.JSONDecodeError):
                json.loads(raw)
        finally:
            sim.stop()


class SchoolsDatasetTest(unittest.TestCase):
    def test_the_465_student_school_by_its_code(self):
        sim = KnackSim("--dataset", "schools", "--requests-per-second", "0")
        try:
            schools = sim.state("object_1")
            s465 = next(s for s in schools if s["field_3_raw"] == 465)
            f = json.dumps([{"field": "field_8", "operator": "is", "value": s465["field_2"]}])
            doc = sim.records("object_2", rows_per_page=1000, filters=f)
            self.assertEqual(doc["total_records"], 465)
            self.assertTrue(all(r["field_7_raw"][0]["id"] == s465["id"] for r in doc["records"]))
            self.assertTrue(all(r["field_7_raw"][0]["identifier"] == s465["field_1"] for r in doc["records"]))
            by_conn = sim.records("object_2", rows_per_page=1000,
                                  filters=json.dumps([{"field": "field_7", "operator": "is", "value": s465["id"]}]))
            self.assertEqual(by_conn["total_records"], 465)
        finally:
            sim.stop()

    def test_unknown_dataset_is_refused(self):
        r = subprocess.run([BIN, "simulate", "knack", "--dataset", "zoo"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown data set 'zoo'", r.stderr)


class KnackExtraKeysTest(unittest.TestCase):
    def test_extra_key_on_every_json_answer(self):
        sim = KnackSim("--requests-per-second", "0", "--extra-keys")
        try:
            doc = sim.records("object_3", rows_per_page=2)
            self.assertIn("_simExtra", doc)
            self.assertEqual(len(doc["records"]), 2)
        finally:
            sim.stop()


class PrintConfigTest(unittest.TestCase):
    def test_print_config_is_a_sources_block_freshet_accepts(self):
        r = subprocess.run([BIN, "simulate", "knack", "--listen", "127.0.0.1:9001", "--print-config"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        cfg = tomllib.loads(r.stdout)
        src = cfg["sources"][0]
        self.assertEqual((src["kind"], src["base_url"]), ("knack", "http://127.0.0.1:9001"))
        laptops = src["objects"][0]
        self.assertEqual((laptops["name"], laptops["key"], laptops["tenant_field"]), ("laptops", "object_1", "county"))
        self.assertEqual(laptops["fields"]["status"], "field_3")
        self.assertEqual(laptops["modified_field"], "modified")

    def test_unknown_kind_is_refused(self):
        r = subprocess.run([BIN, "simulate", "notion"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown kind 'notion'", r.stderr)


if __name__ == "__main__":
    unittest.main()
