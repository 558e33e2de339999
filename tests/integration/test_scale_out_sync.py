"""Three `freshet serve` instances on one Redis sharing one Knack source
(issue #13's work sharing): real binaries, a real redis-server, the real
Knack simulator, loopback only. One instance leads the source (it holds the
source's lease) and is the only one that reads upstream; records converge
on every instance; when the leader dies another takes over within the lease;
a leader that sleeps past its lease is fenced when it wakes and nothing is
written twice."""
import os
import signal
import time
import unittest

from harness import RedisServer, Server, redis_store_config, tokens_config
from sim_harness import KnackSim
from sync_harness import freshet_records, knack_truth, parse_objects, replay_log, source_config, wait_until

TOKEN = "scale-out-sync-admin-secret"
LEASE_SECONDS = 2


def knack_env(sim, redis):
    return {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "FRESHET_REDIS_URL": redis.url,
            "KNACK_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "ADMIN_TOKEN": TOKEN}


def config(sim, prefix):
    store = redis_store_config(prefix) + f"lease_seconds = {LEASE_SECONDS}\n"
    fast = {name: {"poll_min_seconds": 1, "poll_max_seconds": 2, "reconcile_seconds": 3} for name in parse_objects(source_config(sim))}
    return store + tokens_config(("admin", "ADMIN_TOKEN", ["read", "admin"], None)) + source_config(sim, fast)


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
    def start_instances(self, sim, prefix):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        self.instances = []
        for _ in range(3):
            s = Server(config(sim, prefix), env=knack_env(sim, self.redis)).start()
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
        committed the first page of its first full read: two requests a
        second and added latency make that read take many seconds, so what
        the test does next lands between its page commits. Returns the
        simulator, its objects, its record count, the leader and the
        leader's last event id."""
        sim = KnackSim("--dataset", "hti", "--seed", seed, "--requests-per-second", "2", "--latency-ms", "50:150")
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


if __name__ == "__main__":
    unittest.main()
