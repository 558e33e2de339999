"""The sync engine against the real Knack simulator over loopback: convergence
under injected faults (with the event log rebuilding the same records), the
rate limit measured by the simulator's own count, webhook hints, and kill -9
in the middle of a full sync."""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Server, SSEClient
from sim_harness import KnackSim
from sync_harness import (freshet_records, free_port, knack_truth, parse_objects, rebuild, record_differences, replay_log,
                          signed_delivery, source_config, wait_until)

FAST = {"poll_min_seconds": 1, "poll_max_seconds": 2}


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def knack_env(sim):
    return {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "KNACK_WEBHOOK_SECRET": SECRET}


def converged(sim, server, objects):
    for name, obj in objects.items():
        truth, mine = knack_truth(sim, obj), freshet_records(server, name)
        if truth != mine:
            missing = set(truth) - set(mine)
            extra = set(mine) - set(truth)
            differ = [i for i in set(truth) & set(mine) if truth[i] != mine[i]]
            return f"{name}: {len(missing)} missing, {len(extra)} extra, {len(differ)} differ"
    return True


class ConvergenceUnderFaults(unittest.TestCase):
    def test_records_equal_the_simulator_and_the_log_rebuilds_them(self):
        sim = KnackSim("--dataset", "hti", "--seed", "7", "--fail-rate", "0.08", "--timeout-rate", "0.03",
                       "--truncate-rate", "0.05", "--latency-ms", "0:20")
        self.addCleanup(sim.stop)
        objs = {"laptops": dict(FAST, reconcile_seconds=3), "donations": dict(FAST, reconcile_seconds=3),
                "training_sessions": dict(FAST, reconcile_seconds=3)}
        src = source_config(sim, objs, extra_source="timeout_seconds = 2\n")
        server = Server(src, env=knack_env(sim), server_keys={"auth": '"none"'}).start()
        self.addCleanup(server.cleanup)
        # Changes keep coming while faults keep hitting: creates, updates, deletes.
        for _ in range(8):
            sim.request("POST", "/_sim/changes", {"count": 15}, auth=False)
            time.sleep(0.5)
        objects = parse_objects(src)
        wait_until(lambda: converged(sim, server, objects), 60, "Freshet's records to equal /_sim/state")
        stats = server.stats()["sources"]["hti"]
        faults = sim.stats()
        self.assertGreater(faults["faults_injected"], 0, faults)
        self.assertGreater(stats["upstream"]["retries"], 0, stats)
        self.assertGreater(stats["objects"]["laptops"]["deleted"] + stats["objects"]["laptops"]["created"], 0, stats)

        # The event log alone rebuilds exactly the records the store holds.
        events = replay_log(server)
        rebuilt = rebuild(events)
        for name in objects:
            mine = freshet_records(server, name)
            self.assertIsNone(record_differences({i: f for (o, i), f in rebuilt.items() if o == name}, mine, events),
                              name)


class RateLimit(unittest.TestCase):
    def sync_once(self, sim, rps, data_dir):
        src = re.sub(r"requests_per_second = [\d.]+", f"requests_per_second = {rps}", source_config(sim))
        path = os.path.join(data_dir, "f.toml")
        with open(path, "w") as f:
            f.write(f'[server]\ndata_dir = "{data_dir}"\nauth = "none"\n' + src)
        # At a lower priority than the simulator: the judge counts arrivals as it
        # processes them, and must not be starved of CPU by what it judges.
        run = subprocess.run(["nice", "-n", "10", BIN, "sync", "--config", path, "--once"], capture_output=True, text=True,
                             env=dict(os.environ, **knack_env(sim)), timeout=240)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        return json.loads(run.stdout), parse_objects(src)

    def test_at_the_limit_no_429_and_above_it_no_loss(self):
        sim = KnackSim("--dataset", "schools", "--seed", "3")
        self.addCleanup(sim.stop)
        with tempfile.TemporaryDirectory() as d:
            summary, objects = self.sync_once(sim, 10, d)
        stats = sim.stats()
        self.assertEqual(stats["rate_limited"], 0, stats)
        self.assertLessEqual(stats["max_requests_in_one_second"], 10, stats)
        # No eleven arrivals within a second, by the kernel's stamps (the
        # default margin paces eleven 1.03 s apart).
        self.assertGreaterEqual(stats["tightest_span_ms"], 1000, stats)
        self.assertGreater(summary["requests"], 40, summary)  # the whole data set, 1,000 rows a page
        total = sum(len(sim.state(o["key"])) for o in objects.values())
        self.assertEqual(summary["created"], total, summary)
        for o in summary["objects"]:
            self.assertEqual(o["mode"], "full")

        # Four times the limit: the simulator answers 429s; nothing is lost.
        # (A limit of 4/s, so that even the sanitizer build asks faster.)
        sim2 = KnackSim("--dataset", "schools", "--seed", "3", "--requests-per-second", "4")
        self.addCleanup(sim2.stop)
        with tempfile.TemporaryDirectory() as d:
            summary, objects = self.sync_once(sim2, 16, d)
            self.assertGreater(sim2.stats()["rate_limited"], 0)
            self.assertGreater(summary["rate_limited"], 0, summary)
            self.assertTrue(summary["ok"], summary)
            self.assertEqual(summary["created"], total, summary)
            # And a second run finds nothing new: unchanged records make no event.
            again, _ = self.sync_once(sim2, 4, d)
            self.assertEqual(again["created"] + again["updated"] + again["deleted"], 0, again)


    def test_the_margin_is_the_configured_one_until_a_429_widens_it(self):
        def serve(sim, rps):
            src = re.sub(r"requests_per_second = [\d.]+", f"requests_per_second = {rps}",
                         source_config(sim, extra_source="rate_margin_percent = 5\n"))
            server = Server(src, env=knack_env(sim), server_keys={"auth": '"none"'}).start()
            self.addCleanup(server.cleanup)
            return server

        def upstream(server):
            return server.stats()["sources"]["hti"]["upstream"]

        # Within the limit: every object read in full, no 429, the margin as configured.
        calm = KnackSim("--dataset", "hti", "--seed", "3")
        self.addCleanup(calm.stop)
        server = serve(calm, 10)
        wait_until(lambda: all(o["full_reads"] > 0 for o in server.stats()["sources"]["hti"]["objects"].values())
                   or server.stats()["sources"]["hti"], 30, "a full read of every object")
        self.assertEqual(upstream(server)["rate_limited"], 0)
        self.assertEqual(upstream(server)["rate_margin_percent"], 5)

        # Asked ten times what the upstream allows: 429s, and the margin widens to 10 %.
        strict = KnackSim("--dataset", "hti", "--seed", "3", "--requests-per-second", "2")
        self.addCleanup(strict.stop)
        server = serve(strict, 20)
        wait_until(lambda: upstream(server)["rate_limited"] > 0 or upstream(server), 30, "a 429")
        self.assertGreaterEqual(upstream(server)["rate_margin_percent"], 10)


class WebhookHints(unittest.TestCase):
    def test_a_signed_hint_fetches_at_once_and_a_replay_is_refused(self):
        port = free_port()
        secret = SECRET
        sim = KnackSim("--dataset", "hti", "--webhook-url", f"http://127.0.0.1:{port}/api/webhooks/hti",
                       "--webhook-secret", secret)
        self.addCleanup(sim.stop)
        slow = {"poll_min_seconds": 300, "poll_max_seconds": 600}
        src = source_config(sim, {"laptops": slow, "donations": slow, "training_sessions": slow},
                            extra_source='webhook_secret_env = "KNACK_WEBHOOK_SECRET"\n')
        server = Server(src, env=knack_env(sim),
                        server_keys={"auth": '"none"', "listen": f'"127.0.0.1:{port}"'}).start()
        self.addCleanup(server.cleanup)
        objects = parse_objects(src)
        wait_until(lambda: len(freshet_records(server, "laptops")) == len(knack_truth(sim, objects["laptops"])) or "loading",
                   30, "the first full sync")
        sse = SSEClient(server.port, "/api/events?object=laptops")
        self.addCleanup(sse.close)
        sse.read_head()
        # Polling is five minutes away: only the webhook can bring this change now.
        changed = sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)[1]["applied"][0]
        while changed["object"] != "object_1":
            changed = sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)[1]["applied"][0]
        started = time.time()
        while True:
            ev = sse.next_frame()["json"]
            if ev["record_id"] == changed["id"]:
                break
        self.assertLess(time.time() - started, 5)
        self.assertEqual(ev["op"], changed["op"])
        stats = server.stats()["sources"]["hti"]["webhooks"]
        self.assertGreater(stats["accepted"], 0, stats)

        # The same delivery again: refused as a duplicate, no second fetch or event.
        body = json.dumps({"type": "record.updated", "object": "object_1", "record_id": changed["id"]})
        headers = signed_delivery(secret, "msg_replay_1", body)
        first = server.request("POST", "/api/webhooks/hti", body, headers=headers)
        again = server.request("POST", "/api/webhooks/hti", body, headers=headers)
        self.assertEqual((first[0], first[1]["status"]), (200, "accepted"))
        self.assertEqual((again[0], again[1]["status"]), (200, "duplicate"))
        bad = dict(headers, **{"webhook-id": "msg_forged", "webhook-signature": "v1,AAAA"})
        status, doc, _, _ = server.request("POST", "/api/webhooks/hti", body, headers=bad)
        self.assertEqual((status, doc["error"]["code"]), (401, "bad_signature"))
        # A refusal is answered at once; its audit line follows with the
        # rejections of its 10 s window, aggregated (who: the first sample).
        def audited():
            outcomes = [(a["who"], a["outcome"]) for a in server.request("GET", "/api/audit?limit=1000")[1]["entries"]]
            want = [("msg_replay_1", "accepted"), ("msg_replay_1", "duplicate"), ("msg_forged", "rejected")]
            return all(w in outcomes for w in want) or outcomes
        wait_until(audited, 25, "the three deliveries in the audit log")


class KillNineMidSync(unittest.TestCase):
    def test_restart_converges_with_no_duplicate_event(self):
        # Two requests a second: the first full read takes seconds, so the
        # kill lands between its page commits.
        sim = KnackSim("--dataset", "hti", "--seed", "5", "--requests-per-second", "2", "--latency-ms", "50:150")
        self.addCleanup(sim.stop)
        src = source_config(sim)
        objects = parse_objects(src)
        total = {name: len(knack_truth(sim, o)) for name, o in objects.items()}
        server = Server(src, env=knack_env(sim), server_keys={"auth": '"none"'}).start()
        self.addCleanup(server.cleanup)
        wait_until(lambda: int(server.stats()["events"]["last_id"]) > 0 or "not yet", 60, "the first page commit")
        committed = int(server.stats()["events"]["last_id"])
        server.kill9()
        self.assertLess(committed, sum(total.values()), "killed before the sync finished")
        server.start()
        wait_until(lambda: converged(sim, server, objects), 180, "convergence after the restart")
        events = replay_log(server)
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)), "event ids are unique and increasing")
        seen = {}
        for e in events:
            if e["type"] == "change":
                key = (e["object"], e["record_id"], e["op"])
                seen[key] = seen.get(key, 0) + 1
        dupes = {k: n for k, n in seen.items() if n > 1}
        self.assertEqual(dupes, {}, "one created event per record, whatever was interrupted")
        self.assertEqual(sum(1 for k in seen if k[2] == "created"), sum(total.values()))


if __name__ == "__main__":
    unittest.main()
