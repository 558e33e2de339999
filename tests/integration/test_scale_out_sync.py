"""Three `freshet serve` instances on one Redis sharing one Knack source
(issue #13's work sharing): real binaries, a real redis-server, the real
Knack simulator, loopback only. One instance leads the source (it holds the
source's lease) and is the only one that reads upstream; records converge
on every instance; when the leader dies another takes over within the lease;
a leader that sleeps past its lease is fenced when it wakes and nothing is
written twice."""
import json
import os
import signal
import time
import unittest

from harness import RedisServer, Server, redis_store_config, tokens_config
from sim_harness import AirtableSim, KnackSim
from sync_harness import (airtable_truth, free_port, freshet_records, knack_truth, parse_objects, replay_log,
                          signed_delivery, source_config, wait_until)

TOKEN = "scale-out-sync-admin-secret"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEASE_SECONDS = 2


def knack_env(sim, redis):
    return {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "FRESHET_REDIS_URL": redis.url,
            "KNACK_WEBHOOK_SECRET": WEBHOOK_SECRET, "ADMIN_TOKEN": TOKEN}


def config(sim, prefix, polling=None):
    """Three-instance config; `polling` the poll keys of every object (fast by default)."""
    store = redis_store_config(prefix) + f"lease_seconds = {LEASE_SECONDS}\n"
    polling = polling or {"poll_min_seconds": 1, "poll_max_seconds": 2, "reconcile_seconds": 3}
    every = {name: polling for name in parse_objects(source_config(sim))}
    return store + tokens_config(("admin", "ADMIN_TOKEN", ["read", "admin"], None)) + \
        source_config(sim, every, extra_source='webhook_secret_env = "KNACK_WEBHOOK_SECRET"\n')


def source_stats(stats):
    """The one source's figures (it is named after the simulator's data set)."""
    (only,) = stats["sources"].values()
    return only


def role(server):
    """This instance's role for the source ("leader" or "follower"), or None
    while it cannot answer."""
    try:
        return source_stats(server.stats(token=TOKEN)).get("role")
    except (AssertionError, OSError):
        return None


def converged(sim, server, objects):
    for name, obj in objects.items():
        truth = knack_truth(sim, obj)
        mine = freshet_records(server, name, token=TOKEN)
        if truth != mine:
            return f"{name}: {len(set(truth) - set(mine))} missing, {len(set(mine) - set(truth))} extra, " \
                   f"{sum(1 for i in set(truth) & set(mine) if truth[i] != mine[i])} differ"
    return True


def written_once(test, server):
    """The log, replayed from the start: ids unique and increasing, and no
    record created twice (a second leader writing what the first wrote)."""
    events = replay_log(server, token=TOKEN, timeout=120)
    ids = [int(e["id"]) for e in events]
    test.assertEqual(ids, sorted(set(ids)), "event ids unique and increasing")
    created = {}
    for e in events:
        if e["type"] == "change" and e["op"] == "created":
            key = (e["object"], e["record_id"])
            created[key] = created.get(key, 0) + 1
    test.assertEqual({k: n for k, n in created.items() if n > 1}, {}, "each record created once")
    return created


class ThreeInstancesOneSource(unittest.TestCase):
    def start_instances(self, sim, prefix, polling=None):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        self.instances = []
        for _ in range(3):
            s = Server(config(sim, prefix, polling), env=knack_env(sim, self.redis)).start()
            self.addCleanup(s.cleanup)
            self.instances.append(s)

    def leader(self, among=None, timeout=30):
        """The one instance that says it leads, once the others say they follow."""
        among = among or self.instances
        found = []

        def one_leader():
            roles = [role(s) for s in among]
            found[:] = [s for s, r in zip(among, roles) if r == "leader"]
            return (len(found) == 1 and roles.count("follower") == len(among) - 1) or roles
        wait_until(one_leader, timeout, "one leader, the others following")
        return found[0]

    def mid_first_sync(self, seed, prefix):
        """Three instances reading a slow simulator, once the leader has
        committed the first page of its first full read: one request a
        second and 200 to 400 ms of latency make that read take several
        seconds a page apart, so what the test does next lands between its
        page commits. (At two a second and 50 to 150 ms, a sanitizer build
        on a busy machine once saw its first commit only after the last
        page had been read: the test then found the sync already done.)
        Returns the simulator, its objects, its record count, the leader and
        the leader's last event id."""
        sim = KnackSim("--dataset", "hti", "--seed", seed, "--requests-per-second", "1", "--latency-ms", "200:400")
        self.addCleanup(sim.stop)
        self.start_instances(sim, prefix)
        objects = parse_objects(source_config(sim))
        total = sum(len(knack_truth(sim, o)) for o in objects.values())
        leader = self.leader()
        wait_until(lambda: int(leader.stats(token=TOKEN)["events"]["last_id"]) > 0 or "not yet", 60,
                   "the first page commit")
        return sim, objects, total, leader, int(leader.stats(token=TOKEN)["events"]["last_id"])

    def test_only_the_leader_reads_upstream_and_every_instance_converges(self):
        # Knack's limit of 10 requests a second; changes while they sync.
        sim = KnackSim("--dataset", "hti", "--seed", "11")
        self.addCleanup(sim.stop)
        self.start_instances(sim, "share")
        objects = parse_objects(source_config(sim))
        leader = self.leader()
        for _ in range(5):
            sim.request("POST", "/_sim/changes", {"count": 10}, auth=False)
            time.sleep(1)
        for s in self.instances:
            wait_until(lambda s=s: converged(sim, s, objects), 120, "records equal the simulator's on every instance")
        stats = [s.stats(token=TOKEN) for s in self.instances]
        requests = [source_stats(st)["upstream"]["requests"] for st in stats]
        self.assertEqual(sum(1 for n in requests if n > 0), 1, f"one instance reads upstream: {requests}")
        self.assertGreater(source_stats(leader.stats(token=TOKEN))["upstream"]["requests"], 0)
        sim_stats = sim.stats()
        self.assertEqual(sim_stats["rate_limited"], 0, "three instances together never drew a 429")
        self.assertLessEqual(sim_stats["max_requests_in_one_second"], 10)
        self.assertGreater(sim_stats["changes_applied"], 0)
        # Which instance answers, and its store's round trip.
        names = {st["instance"]["name"] for st in stats}
        self.assertEqual(len(names), 3)
        for st in stats:
            self.assertEqual(st["instance"]["engine"], "redis")
        wait_until(lambda: leader.stats(token=TOKEN)["instance"]["store_round_trip_ms"] is not None, 10,
                   "a measured Redis round trip")
        metrics = leader.request("GET", "/metrics", token=TOKEN)[2].decode()
        self.assertIn('freshet_source_leader{source="hti"} 1', metrics)
        self.assertIn("freshet_store_round_trip_seconds ", metrics)
        written_once(self, leader)

    def test_kill9_of_the_leader_mid_sync_another_takes_over_within_the_lease(self):
        sim, objects, total, leader, committed = self.mid_first_sync("5", "failover")
        leader.kill9()
        killed = time.time()
        self.assertLess(committed, total, "killed before the sync finished")
        rest = [s for s in self.instances if s is not leader]
        successor = self.leader(rest, timeout=LEASE_SECONDS * 5)
        # The lease expires LEASE_SECONDS after the last renewal; a follower
        # tries every third of that.
        self.assertLess(time.time() - killed, LEASE_SECONDS + 2, "leadership moved within the lease")
        for s in rest:
            wait_until(lambda s=s: converged(sim, s, objects), 180, "records equal the simulator's after the failover")
        created = written_once(self, successor)
        self.assertEqual(sum(created.values()), total, "every record created once, across the two leaders")

    def test_a_leader_paused_past_its_lease_is_fenced_when_it_wakes(self):
        sim, objects, total, leader, committed = self.mid_first_sync("7", "fencing")
        os.kill(leader.proc.pid, signal.SIGSTOP)
        try:
            self.assertLess(committed, total, "paused before the sync finished")
            rest = [s for s in self.instances if s is not leader]
            successor = self.leader(rest, timeout=LEASE_SECONDS * 5)
            # The new leader commits pages of its own before the old one wakes.
            before = int(successor.stats(token=TOKEN)["events"]["last_id"])
            wait_until(lambda: int(successor.stats(token=TOKEN)["events"]["last_id"]) > before or "not yet", 60,
                       "a commit by the new leader")
        finally:
            os.kill(leader.proc.pid, signal.SIGCONT)
        # Its full read goes on where it stopped, and the next page's commit
        # carries the old token: refused before anything is written.
        wait_until(lambda: leader.stats(token=TOKEN)["store"]["fenced"] >= 1 or "not yet", 30,
                   "the woken leader's stale commit refused")
        wait_until(lambda: "does not hold the source's lease" in leader.read_log() or "not yet", 30,
                   "the refusal in the old leader's log")
        self.assertEqual(role(leader), "follower")
        for s in self.instances:
            wait_until(lambda s=s: converged(sim, s, objects), 180, "records equal the simulator's after the pause")
        created = written_once(self, successor)
        self.assertEqual(sum(created.values()), total, "every record created once, whoever wrote it")

    def test_a_hint_that_reaches_a_follower_is_fetched_by_the_leader(self):
        # Polling is ten minutes away: only the hints can bring these changes.
        sim = KnackSim("--dataset", "hti", "--seed", "13")
        self.addCleanup(sim.stop)
        self.start_instances(sim, "handoff", {"poll_min_seconds": 600, "poll_max_seconds": 600,
                                              "reconcile_seconds": 86400})
        objects = parse_objects(source_config(sim))
        leader = self.leader()
        for s in self.instances:
            wait_until(lambda s=s: converged(sim, s, objects), 120, "the first full sync on every instance")
        followers = [s for s in self.instances if s is not leader]
        # Changes until a deletion is among them (an incremental read cannot
        # see one: the leader must check that record by id), each hinted to
        # a follower, signed as Knack's webhooks are (upstream-apis.md 1.9).
        ops, hints = set(), 0
        while "deleted" not in ops or len(ops) < 2:
            self.assertLess(hints, 60, f"the simulator made no deletion: {ops}")
            change = sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)[1]["applied"][0]
            ops.add(change["op"])
            body = json.dumps({"type": "record." + change["op"], "object": change["object"], "record_id": change["id"]})
            status, doc, raw, _ = followers[hints % 2].request(
                "POST", "/api/webhooks/hti", body, headers=signed_delivery(WEBHOOK_SECRET, f"msg_handoff_{hints}", body))
            self.assertEqual((status, doc.get("status")), (200, "accepted"), raw)
            hints += 1
        started = time.time()
        for s in self.instances:
            wait_until(lambda s=s: converged(sim, s, objects), 15, "the hinted changes on every instance")
        self.assertLess(time.time() - started, 15)
        stats = [source_stats(s.stats(token=TOKEN)) for s in self.instances]
        lead = source_stats(leader.stats(token=TOKEN))
        self.assertEqual(lead["webhooks"]["accepted"], 0, "no delivery reached the leader itself")
        self.assertEqual(sum(st["handoffs"]["sent"] for st in stats), hints, stats)
        self.assertEqual(lead["handoffs"]["taken"], hints, lead)
        self.assertEqual(lead["handoffs"]["sent"], 0)
        for s in followers:
            self.assertEqual(source_stats(s.stats(token=TOKEN))["upstream"]["requests"], 0,
                             "a follower never reads upstream, even for a hint")
        written_once(self, leader)


class RefreshAcrossInstances(unittest.TestCase):
    """Tenant refresh with three instances on one Redis: a refresh runs on
    whichever instance was asked, leader or follower, and draws on the one
    rate limit the instances share with the leader's polling; one job a
    tenant among all instances, its cooldown too; every instance answers
    for the job."""

    def test_refreshes_on_followers_share_the_limit_and_the_job_is_everyones(self):
        sim = KnackSim("--dataset", "schools", "--seed", "2", "--latency-ms", "100:300")
        self.addCleanup(sim.stop)
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        # The leader keeps polling every object every second or two meanwhile.
        polls = {"poll_min_seconds": 1, "poll_max_seconds": 2}
        src = source_config(sim, {name: polls for name in ("establishments", "students", "vespa_scores", "comments")})
        objects = parse_objects(src)
        cfg = redis_store_config("refresh") + f"lease_seconds = {LEASE_SECONDS}\n" + \
            tokens_config(("admin", "ADMIN_TOKEN", ["read", "refresh", "admin"], None)) + src
        env = {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "FRESHET_REDIS_URL": self.redis.url,
               "ADMIN_TOKEN": TOKEN}
        instances = []
        for _ in range(3):
            s = Server(cfg, env=env, server_keys={"refresh_cooldown_seconds": "60"}).start()
            self.addCleanup(s.cleanup)
            instances.append(s)
        counts = {}
        for rec in knack_truth(sim, objects["students"]).values():
            counts[rec["school_code"]] = counts.get(rec["school_code"], 0) + 1
        schools = sorted(counts, key=counts.get, reverse=True)[:2]
        total = sum(counts.values())

        def students(server):
            objs = server.request("GET", "/api/objects", token=TOKEN)[1]["objects"]
            return next(o["records"] for o in objs if o["name"] == "students")
        for s in instances:
            wait_until(lambda s=s: students(s) == total or "syncing", 180, "the first full sync, seen by every instance")
        roles = {role(s): s for s in instances}
        followers = [s for s in instances if role(s) == "follower"]
        self.assertEqual(len(followers), 2, roles)
        leader = next(s for s in instances if s not in followers)
        before = sim.stats()

        # Two schools refreshed at once, each on its own follower; each asked
        # again at once on another instance, which joins it.
        jobs, again = [], []
        for school, there, elsewhere in ((schools[0], followers[0], followers[1]), (schools[1], followers[1], leader)):
            status, doc, raw, _ = there.request("POST", "/api/refresh", {"tenant": school}, token=TOKEN)
            self.assertEqual((status, doc["joined"]), (202, False), raw)
            jobs.append(doc["job_id"])
            again.append(elsewhere.request("POST", "/api/refresh", {"tenant": school}, token=TOKEN))
        for (status, doc, raw, _), job_id in zip(again, jobs):
            # Joined while it runs (or, had it ended already, its cooldown):
            # never a second job.
            self.assertIn((status, doc.get("job_id"), doc.get("error", {}).get("code")),
                          [(202, job_id, None), (429, None, "refresh_cooldown")], raw)

        def job(server, job_id):
            status, doc, raw, _ = server.request("GET", f"/api/jobs/{job_id}", token=TOKEN)
            self.assertEqual(status, 200, raw)
            return doc
        for job_id, runner in zip(jobs, followers):
            wait_until(lambda: job(runner, job_id)["status"] != "running" or "running", 120, "the refresh to end")
            done = job(runner, job_id)
            self.assertEqual(done["status"], "succeeded", done)
            self.assertEqual(done["summary"]["objects"]["students"]["records"], counts[done["tenant"]])
            # Every instance answers for it, with the same final state.
            for s in instances:
                wait_until(lambda s=s: job(s, job_id).get("summary") == done["summary"] or "not yet", 10,
                           "the job's state on every instance")
        # The cooldown holds on every instance, whichever ran the job.
        for s in instances:
            status, doc, raw, res = s.request("POST", "/api/refresh", {"tenant": schools[0]}, token=TOKEN)
            self.assertEqual((status, doc["error"]["code"]), (429, "refresh_cooldown"), raw)
            self.assertTrue(1 <= int(res.getheader("Retry-After")) <= 60)

        # Three instances calling one credential (polls and two refreshes)
        # kept together to its limit.
        after = sim.stats()
        self.assertGreater(after["requests"], before["requests"])
        self.assertEqual(after["rate_limited"], 0, "no 429 for the deployment")
        self.assertLessEqual(after["max_requests_in_one_second"], 10)
        for s in followers:
            self.assertGreater(source_stats(s.stats(token=TOKEN))["upstream"]["requests"], 0,
                               "the follower read upstream for its refresh")
        written_once(self, leader)


class SyncOnceOnRedis(unittest.TestCase):
    """`freshet sync --once` on the Redis engine writes the deployment's
    store, which a serve instance then reads as its own; while an instance
    leads the source, a whole sync from the command line is refused (the
    leader syncs it), and once that instance stops it works again."""

    def sync_once(self, cfg, env):
        import subprocess
        import tempfile
        from harness import BIN
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'[server]\ndata_dir = "{d}"\nauth = "none"\n' + cfg)
            run = subprocess.run([BIN, "sync", "--config", path, "--once"], capture_output=True, text=True,
                                 env=dict(os.environ, **env), timeout=120)
        return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else {}), run.stderr

    def test_the_command_line_writes_the_shared_store_and_respects_the_leader(self):
        sim = KnackSim("--dataset", "hti", "--seed", "17")
        self.addCleanup(sim.stop)
        redis = RedisServer().start()
        self.addCleanup(redis.cleanup)
        env = {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "FRESHET_REDIS_URL": redis.url,
               "ADMIN_TOKEN": TOKEN}
        src = source_config(sim)
        objects = parse_objects(src)
        total = sum(len(knack_truth(sim, o)) for o in objects.values())
        store = redis_store_config("once") + f"lease_seconds = {LEASE_SECONDS}\n"
        rc, summary, err = self.sync_once(store + src, env)
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(summary["created"], total, summary)

        server = Server(store + tokens_config(("admin", "ADMIN_TOKEN", ["read", "admin"], None)) + src, env=env).start()
        self.addCleanup(server.cleanup)
        # What the command wrote is the instance's store: every record there,
        # created once, and its own polls find nothing new.
        self.assertEqual(int(server.stats(token=TOKEN)["events"]["last_id"]), int(summary["last_event_id"]))
        wait_until(lambda: converged(sim, server, objects), 30, "the records the command line wrote")
        wait_until(lambda: role(server) == "leader" or "not yet", 10, "the instance to lead")
        created = written_once(self, server)
        self.assertEqual(sum(created.values()), total)

        rc, summary, err = self.sync_once(store + src, env)
        self.assertEqual(rc, 1, summary)
        self.assertIn("another instance leads this source", json.dumps(summary))
        self.assertEqual(summary["created"], 0)
        server.cleanup()  # SIGTERM: the lease is given up at once
        sim.request("POST", "/_sim/changes", {"count": 5}, auth=False)
        rc, summary, err = self.sync_once(store + src, env)
        self.assertEqual(rc, 0, err[-2000:])
        self.assertGreater(summary["created"] + summary["updated"] + summary["deleted"], 0, summary)


class AirtableWebhookAcrossInstances(unittest.TestCase):
    """Airtable pings one URL, which a load balancer may give to any
    instance: here the pings go to a follower, which verifies them with the
    secret the leader stored and hands them to the leader, the one that
    drains the payload log and keeps the webhook alive; when the leader dies
    its successor keeps the same webhook and drains on."""

    def start(self, port, src, sim):
        env = {"AIRTABLE_BASE_ID": sim.base, "AIRTABLE_TOKEN": sim.token, "FRESHET_REDIS_URL": self.redis.url,
               "ADMIN_TOKEN": TOKEN}
        s = Server(src, env=env, server_keys={"listen": f'"127.0.0.1:{port}"'}).start()
        self.addCleanup(s.cleanup)
        return s

    def converged(self, sim, server, objects):
        for name, obj in objects.items():
            truth, mine = airtable_truth(sim, obj), freshet_records(server, name, token=TOKEN)
            if truth != mine:
                return f"{name}: {len(set(truth) ^ set(mine))} ids differ"
        return True

    def test_pings_to_a_follower_reach_the_leader_and_the_webhook_survives_the_leader(self):
        sim = AirtableSim("--requests-per-second", "20")
        self.addCleanup(sim.stop)
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        first_port, hooked_port, third_port = free_port(), free_port(), free_port()
        slow = {"poll_min_seconds": 300, "poll_max_seconds": 600}
        src = source_config(sim, {"sign_ups": slow, "services": slow},
                            extra_source=f'webhook_url = "http://127.0.0.1:{hooked_port}/api/webhooks/services"\n')
        src = src.replace("requests_per_second = 20", "requests_per_second = 5")
        src = redis_store_config("airtable") + f"lease_seconds = {LEASE_SECONDS}\n" + \
            tokens_config(("admin", "ADMIN_TOKEN", ["read", "admin"], None)) + src
        objects = parse_objects(src)
        # The first instance leads; the one Airtable pings starts later, a follower.
        first = self.start(first_port, src, sim)
        hook = lambda s: (source_stats(s.stats(token=TOKEN)).get("airtable_webhook") or {}).get("id")
        wait_until(lambda: (role(first) == "leader" and bool(hook(first))) or "not yet", 30,
                   "the leader to register the webhook")
        hooked, third = self.start(hooked_port, src, sim), self.start(third_port, src, sim)
        for s in (first, hooked, third):
            wait_until(lambda s=s: self.converged(sim, s, objects), 60, "the first full sync on every instance")
        self.assertEqual((role(hooked), role(third)), ("follower", "follower"))
        self.assertEqual(hook(hooked), hook(first), "the follower verifies with the stored registration")

        table = objects["sign_ups"]["key"]
        base = f"/v0/{sim.base}/{table}"

        def change_and_converge(servers, n):
            target = sim.state(table)[n]
            sim.request("PATCH", f"{base}/{target['id']}", {"fields": {"Hours": 90 + n}})
            sim.request("POST", base, {"fields": {"Name": f"Hooked {n}", "Quarter": "Q1-2026"}})
            sim.request("DELETE", f"{base}/{sim.state(table)[n + 1]['id']}")
            for s in servers:
                wait_until(lambda s=s: self.converged(sim, s, objects), 15, "the pinged changes on every instance")

        # Polling is minutes away: only the pings, handed to the leader, bring these.
        change_and_converge((first, hooked, third), 1)
        on_hooked = source_stats(hooked.stats(token=TOKEN))
        self.assertGreater(on_hooked["webhooks"]["accepted"], 0, on_hooked)
        self.assertGreater(on_hooked["handoffs"]["sent"], 0, on_hooked)
        self.assertEqual(on_hooked["upstream"]["requests"], 0, "a follower never reads upstream")
        self.assertGreater(source_stats(first.stats(token=TOKEN))["handoffs"]["taken"], 0)

        # The leader dies: another takes over the same webhook (no new one)
        # and the pings go on reaching the records.
        webhook = hook(first)
        first.kill9()
        rest = (hooked, third)
        wait_until(lambda: sorted(role(s) or "" for s in rest) == ["follower", "leader"] or "not yet",
                   LEASE_SECONDS * 5, "a new leader")
        change_and_converge(rest, 3)
        listed = sim.request("GET", f"/v0/bases/{sim.base}/webhooks")[1]["webhooks"]
        self.assertEqual([h["id"] for h in listed], [webhook], "one webhook, the same, kept by the new leader")
        self.assertEqual(sim.stats()["rate_limited"], 0)


if __name__ == "__main__":
    unittest.main()
