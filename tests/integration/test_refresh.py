"""Tenant refresh and the read API against the real Knack simulator (the
`schools` data set): refreshing the 465-student school, joining and cooldown,
a timeout against a slow upstream, scoped tokens, and snapshot plus stream
ending exactly at the store's records."""
import os
import threading
import time
import unittest

from harness import Server, SSEClient, tokens_config
from sim_harness import KnackSim
from sync_harness import freshet_records, knack_truth, parse_objects, source_config, wait_until

TOKENS = {"FT_ADMIN": "admin-secret", "FT_SCHOOL": "school-secret", "FT_OTHER": "other-secret"}


def school_of_size(sim, objects, size):
    counts = {}
    for rec in knack_truth(sim, objects["students"]).values():
        counts[rec["school_code"]] = counts.get(rec["school_code"], 0) + 1
    return next(code for code, n in counts.items() if n == size), counts


class Refresh(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = KnackSim("--dataset", "schools", "--seed", "2")
        cls.src = source_config(cls.sim, {name: {"poll_min_seconds": 3600, "poll_max_seconds": 3600}
                                          for name in ("establishments", "students", "vespa_scores", "comments")})
        cls.objects = parse_objects(cls.src)
        cls.school, counts = school_of_size(cls.sim, cls.objects, 465)
        cls.other = next(code for code in counts if code != cls.school)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def start(self, cooldown=300, timeout=300):
        toks = tokens_config(("ops", "FT_ADMIN", ["read", "refresh", "admin"], None),
                             ("school", "FT_SCHOOL", ["read", "refresh"], [self.school]),
                             ("other", "FT_OTHER", ["read", "refresh"], [self.other]))
        server = Server(toks + self.src, env=dict(TOKENS, KNACK_APP_ID=self.sim.app_id, KNACK_API_KEY=self.sim.api_key),
                        server_keys={"refresh_cooldown_seconds": str(cooldown),
                                     "refresh_timeout_seconds": str(timeout)}).start()
        self.addCleanup(server.cleanup)
        total = len(knack_truth(self.sim, self.objects["students"]))
        # Watched through the overview's count (one SQL count), not by reading
        # every record each time: that read, repeated, was most of the load on a
        # sanitizer build and slowed the very sync it waited for.
        def students_stored():
            objs = server.request("GET", "/api/objects", token="admin-secret")[1]["objects"]
            return next(o["records"] for o in objs if o["name"] == "students")
        wait_until(lambda: students_stored() == total or "syncing", 120, "the first full sync")
        self.assertEqual(len(freshet_records(server, "students", token="admin-secret")), total)
        # Every object, not only students: a test that counts the events after
        # a mark must not see the tail of another object's first sync.
        wait_until(lambda: all(o["last_sync_at"] for o in server.request("GET", "/api/objects", token="admin-secret")[1]
                               ["objects"]) or "syncing", 120, "the first full sync of every object")
        return server

    def job(self, server, job_id, token="admin-secret"):
        status, doc, raw, _ = server.request("GET", f"/api/jobs/{job_id}", token=token)
        self.assertEqual(status, 200, raw)
        return doc

    def wait_job(self, server, job_id, timeout=60):
        wait_until(lambda: self.job(server, job_id)["status"] != "running" or "running", timeout, "the job to end")
        return self.job(server, job_id)

    def test_refresh_of_the_465_student_school(self):
        server = self.start()
        # Changes polling cannot see: an object-based write (no record rule
        # stamps its modified field) and a deletion.
        mine = [i for i, r in knack_truth(self.sim, self.objects["students"]).items() if r["school_code"] == self.school]
        status, _, raw, _ = self.sim.request("PUT", f"/v1/objects/object_2/records/{mine[0]}", {"field_9": "Year 13"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(self.sim.request("DELETE", f"/v1/objects/object_2/records/{mine[1]}")[0], 200)
        mark = server.stats(token="admin-secret")["events"]["last_id"]
        # What the refresh must find: the school's stored records against the truth.
        expect = {"created": 0, "updated": 0, "deleted": 0}
        for name in ("students", "vespa_scores", "comments"):
            truth = {i: r for i, r in knack_truth(self.sim, self.objects[name]).items() if r["school_code"] == self.school}
            stored = freshet_records(server, name, token="school-secret")
            expect["created"] += len(set(truth) - set(stored))
            expect["deleted"] += len(set(stored) - set(truth))
            expect["updated"] += sum(1 for i in set(truth) & set(stored) if truth[i] != stored[i])
        self.assertEqual(expect["deleted"], 1)
        self.assertGreaterEqual(expect["updated"], 1)

        sse = SSEClient(server.port, f"/api/events?tenant={self.school}", headers={"Authorization": "Bearer school-secret"})
        self.addCleanup(sse.close)
        status, doc, raw, res = server.request("POST", "/api/refresh", {"tenant": self.school}, token="school-secret")
        self.assertEqual(status, 202, raw)
        job_id = doc["job_id"]
        self.assertEqual(res.getheader("Location"), f"/api/jobs/{job_id}")
        final = self.wait_job(server, job_id)
        self.assertEqual(final["status"], "succeeded", final)
        summary = final["summary"]
        self.assertEqual(summary["objects"]["students"]["records"], 464)
        self.assertEqual({k: summary[k] for k in expect}, expect, summary)
        self.assertGreater(summary["duration_seconds"], 0)

        # The tenant's stream saw the job's progress, the changes and the end.
        seen_job, changes = [], []
        while not seen_job or seen_job[-1]["status"] == "running":
            ev = sse.next_frame()["json"]
            (seen_job if ev["type"] == "job" else changes).append(ev)
        self.assertTrue(any(e["stage"] in ("fetching", "applying") for e in seen_job))
        self.assertEqual(seen_job[-1]["summary"], summary)
        ops = [e["op"] for e in changes if e["type"] == "change"]
        self.assertEqual((ops.count("created"), ops.count("updated"), ops.count("deleted")),
                         (expect["created"], expect["updated"], expect["deleted"]))

        # The store equals the simulator for that school; nobody else changed.
        for name in ("students", "vespa_scores", "comments"):
            truth = {i: r for i, r in knack_truth(self.sim, self.objects[name]).items() if r["school_code"] == self.school}
            self.assertEqual(freshet_records(server, name, token="school-secret"), truth, name)
        stream = SSEClient(server.port, "/api/events", headers={"Authorization": "Bearer admin-secret",
                                                                 "Last-Event-ID": str(mark)})
        self.addCleanup(stream.close)
        last = int(server.stats(token="admin-secret")["events"]["last_id"])
        tenants = set()
        while True:
            ev = stream.next_frame()["json"]
            tenants.add(ev["tenant"])
            if int(ev["id"]) >= last:
                break
        self.assertEqual(tenants, {self.school})
        listing = server.request("GET", "/api/objects", token="school-secret")[1]
        # What the token may do, so a client starts on its tenant.
        self.assertEqual(listing["access"], {"scopes": ["read", "refresh"], "tenants": [self.school]})
        self.assertEqual(server.request("GET", "/api/objects", token="admin-secret")[1]["access"]["tenants"], None)
        objects = listing["objects"]
        students = next(o for o in objects if o["name"] == "students")
        self.assertEqual([t["tenant"] for t in students["tenants"]], [self.school])
        self.assertFalse(students["tenants"][0]["stale"])

    def test_join_cooldown_and_scopes(self):
        server = self.start(cooldown=60)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(
            server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret"))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([a[0] for a in answers], [202, 202])
        self.assertEqual(answers[0][1]["job_id"], answers[1][1]["job_id"])
        self.assertEqual(sorted(a[1]["joined"] for a in answers), [False, True])
        self.wait_job(server, answers[0][1]["job_id"])
        status, doc, _, res = server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret")
        self.assertEqual((status, doc["error"]["code"]), (429, "refresh_cooldown"))
        self.assertTrue(1 <= int(res.getheader("Retry-After")) <= 60)
        self.assertIn("try again in", doc["error"]["message"])

        cases = [
            ("other school's token", "other-secret", {"tenant": self.school}, 403, "forbidden_tenant"),
            ("unknown tenant", "admin-secret", {"tenant": "NOPE"}, 404, "unknown_tenant"),
            ("no tenant", "admin-secret", {"x": 1}, 400, "invalid_body"),
            ("not JSON", "admin-secret", "{oops", 400, "malformed_json"),
        ]
        for what, token, body, want, code in cases:
            status, doc, _, _ = server.request("POST", "/api/refresh", body, token=token)
            self.assertEqual((status, doc["error"]["code"]), (want, code), what)
        # Reading: a school's token sees its own school only.
        status, doc, _, _ = server.request("GET", f"/api/objects/students/records?tenant={self.school}", token="other-secret")
        self.assertEqual((status, doc["error"]["code"]), (403, "forbidden_tenant"))
        theirs = freshet_records(server, "students", token="other-secret")
        self.assertTrue(theirs and all(r["school_code"] == self.other for r in theirs.values()))
        one = next(iter(freshet_records(server, "students", token="school-secret")))
        status, doc, _, _ = server.request("GET", f"/api/objects/students/records/{one}", token="other-secret")
        self.assertEqual((status, doc["error"]["code"]), (404, "unknown_record"))
        self.assertEqual(server.request("GET", f"/api/objects/students/records/{one}", token="school-secret")[0], 200)
        status, doc, _, _ = server.request("GET", f"/api/jobs/{answers[0][1]['job_id']}", token="other-secret")
        self.assertEqual(status, 404)

    def test_cache_figures_count_reads_304s_and_refreshes(self):
        server = self.start(cooldown=60)

        def figures():
            return server.stats(token="admin-secret")["cache"]
        before = figures()
        # A page, the same page with its ETag (304), one record, one missing
        # record (404: not a read the store answered), two refreshes of which
        # one joins the other's job, and one refused by the cooldown.
        status, doc, _, res = server.request("GET", "/api/objects/students/records?limit=3", token="admin-secret")
        self.assertEqual(status, 200)
        status, _, _, _ = server.request("GET", "/api/objects/students/records?limit=3", token="admin-secret",
                                         headers={"If-None-Match": res.getheader("ETag")})
        self.assertEqual(status, 304)
        one = doc["records"][0]["id"]
        self.assertEqual(server.request("GET", f"/api/objects/students/records/{one}", token="admin-secret")[0], 200)
        self.assertEqual(server.request("GET", "/api/objects/students/records/nope", token="admin-secret")[0], 404)
        first = server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret")
        joined = server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret")
        self.assertEqual((first[0], joined[0], joined[1]["joined"]), (202, 202, True))
        self.wait_job(server, first[1]["job_id"])
        self.assertEqual(server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret")[0], 429)
        after = figures()
        delta = {k: after[k] - before[k] for k in ("reads", "served_from_store", "not_modified", "refreshes_started")}
        self.assertEqual(delta, {"reads": 3, "served_from_store": 2, "not_modified": 1, "refreshes_started": 1})
        # The refresh went upstream; the reads did not.
        self.assertGreater(after["upstream_requests"], before["upstream_requests"])
        self.assertAlmostEqual(after["reads_per_upstream_request"], after["reads"] / after["upstream_requests"])
        self.assertAlmostEqual(after["no_upstream_share"],
                               after["reads"] / (after["reads"] + after["refreshes_started"]))
        # /metrics says the same.
        status, _, raw, _ = server.request("GET", "/metrics", token="admin-secret")
        self.assertEqual(status, 200)
        text = raw.decode()
        now = server.stats(token="admin-secret")["cache"]
        self.assertIn(f'freshet_store_reads_total{{answer="served"}} {now["served_from_store"]}\n', text)
        self.assertIn(f'freshet_store_reads_total{{answer="not_modified"}} {now["not_modified"]}\n', text)
        self.assertIn(f'freshet_refreshes_started_total {now["refreshes_started"]}\n', text)

    def test_a_slow_upstream_times_out_and_leaves_the_store_consistent(self):
        server = self.start(timeout=1)
        # The same server, now reading a slow upstream: every answer takes 1.5 s.
        slow = KnackSim("--dataset", "schools", "--seed", "2", "--latency-ms", "1500:1500")
        self.addCleanup(slow.stop)
        server.stop()
        server.config_text = server.config_text.replace(f"127.0.0.1:{self.sim.port}", f"127.0.0.1:{slow.port}")
        server.env["KNACK_APP_ID"] = slow.app_id
        server.start()
        status, doc, raw, _ = server.request("POST", "/api/refresh", {"tenant": self.school}, token="admin-secret")
        self.assertEqual(status, 202, raw)
        final = self.wait_job(server, doc["job_id"])
        self.assertEqual(final["status"], "timed_out", final)
        self.assertIn("timeout", final["error"])
        # Nothing half-applied: the school's records are whole and unchanged.
        for name in ("students", "comments"):
            truth = {i: r for i, r in knack_truth(slow, self.objects[name]).items() if r["school_code"] == self.school}
            self.assertEqual(freshet_records(server, name, token="school-secret"), truth, name)


class SyncOnceForATenant(unittest.TestCase):
    def test_the_command_line_reads_one_tenant(self):
        import json
        import subprocess
        import tempfile
        from harness import BIN
        sim = KnackSim("--dataset", "schools", "--seed", "2")
        self.addCleanup(sim.stop)
        src = source_config(sim)
        objects = parse_objects(src)
        school, _ = school_of_size(sim, objects, 465)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'[server]\ndata_dir = "{d}"\nauth = "none"\n' + src)
            run = subprocess.run([BIN, "sync", "--config", path, "--once", "--tenant", school], capture_output=True,
                                 text=True, env=dict(os.environ, KNACK_APP_ID=sim.app_id, KNACK_API_KEY=sim.api_key),
                                 timeout=240)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        summary = json.loads(run.stdout)
        self.assertEqual(summary["tenant"], school)
        fetched = {o["object"]: o["fetched"] for o in summary["objects"]}
        for name in ("students", "vespa_scores", "comments"):
            truth = [r for r in knack_truth(sim, objects[name]).values() if r["school_code"] == school]
            self.assertEqual(fetched[name], len(truth), name)
        self.assertEqual(fetched["students"], 465)
        self.assertEqual(summary["created"], sum(fetched.values()))
        self.assertGreater(summary["duration_seconds"], 0)


class SnapshotPlusStream(unittest.TestCase):
    def test_the_snapshot_and_the_stream_end_at_the_stores_records(self):
        sim = KnackSim("--dataset", "hti", "--seed", "9")
        self.addCleanup(sim.stop)
        fast = {"poll_min_seconds": 1, "poll_max_seconds": 1, "reconcile_seconds": 2}
        src = source_config(sim, {"laptops": fast})
        server = Server(src, env={"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key},
                        server_keys={"auth": '"none"'}).start()
        self.addCleanup(server.cleanup)
        wait_until(lambda: len(freshet_records(server, "laptops")) > 2000 or "syncing", 60, "the first sync")
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                sim.request("POST", "/_sim/changes", {"count": 3}, auth=False)
                time.sleep(0.1)
        worker = threading.Thread(target=churn)
        worker.start()
        try:
            # A dashboard: the snapshot page by page, then the stream from its first page's id.
            snapshot, cursor, since = {}, None, None
            while True:
                path = "/api/objects/laptops/records?limit=200" + (f"&cursor={cursor}" if cursor else "")
                doc = server.request("GET", path)[1]
                since = since or doc["last_event_id"]
                for r in doc["records"]:
                    snapshot[r.pop("id")] = r
                cursor = doc["next_cursor"]
                if not cursor:
                    break
                time.sleep(0.05)
            sse = SSEClient(server.port, "/api/events?object=laptops", headers={"Last-Event-ID": since})
            self.addCleanup(sse.close)
            time.sleep(3)
        finally:
            stop.set()
            worker.join()
        # The last changes reach the store; then it is quiet (no new event for 3 s).
        quiet = {"id": None, "since": time.time()}

        def settled():
            now = server.stats()["events"]["last_id"]
            if now != quiet["id"]:
                quiet.update(id=now, since=time.time())
            return time.time() - quiet["since"] >= 3 or "changing"
        wait_until(settled, 60, "the store to settle")
        last = int(quiet["id"])
        while True:
            frame = sse.next_frame()
            ev = frame["json"]
            if ev["type"] == "change":
                if ev["op"] == "deleted":
                    snapshot.pop(ev["record_id"], None)
                else:
                    rec = dict(ev["record"])
                    snapshot[rec.pop("id")] = rec
            if int(ev["id"]) >= last:
                break
        self.assertEqual(snapshot, freshet_records(server, "laptops"))
        # ETag: the same page again, unchanged, is a 304.
        status, _, _, res = server.request("GET", "/api/objects/laptops/records?limit=5")
        etag = res.getheader("ETag")
        status, _, raw, _ = server.request("GET", "/api/objects/laptops/records?limit=5", headers={"If-None-Match": etag})
        self.assertEqual((status, raw), (304, b""))


if __name__ == "__main__":
    unittest.main()
