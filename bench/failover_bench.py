#!/usr/bin/env python3
"""Failover time on Redis (issue #13, docs/benchmarks.md): two `freshet
serve` instances on one redis-server share one Knack source (the simulator,
hti data set, 10 requests/s) while the simulator makes a change every
100 ms; the leader is killed with SIGKILL, and the benchmark times, on the
survivor, the moment it says it leads the source and the moment it has
committed its first event (its own `events.committed` moves), from the
kill. Each round starts from nothing (a new Redis, new instances).

    python3 bench/failover_bench.py [BUILD_DIR] [ROUNDS] [LEASE_SECONDS]

The lease runs out LEASE_SECONDS after the leader's last renewal (it renews
every third of it); the survivor tries to take it as often; then it reads
the sync state and polls. Expected: between 2/3 and 4/3 of the lease, plus
the first poll. The kill falls at a random point of the leader's renewal
period, so the rounds sample the whole range.""" 
import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
LEASE = int(sys.argv[3]) if len(sys.argv) > 3 else 10
os.environ.setdefault("FRESHET_BIN", os.path.join(BUILD, "src/freshet"))

from harness import RedisServer, Server, redis_store_config, tokens_config  # noqa: E402
from sim_harness import KnackSim  # noqa: E402
from sync_harness import parse_objects, source_config  # noqa: E402

TOKEN = "failover-bench-secret"


def stats(server):
    try:
        return server.stats(token=TOKEN)
    except (AssertionError, OSError):
        return None


def role(st):
    return next(iter(st["sources"].values())).get("role") if st else None


def one_round(n):
    sim = KnackSim("--dataset", "hti", "--seed", str(20 + n))
    redis = RedisServer().start()
    servers = []
    stop = threading.Event()
    try:
        polling = {"poll_min_seconds": 1, "poll_max_seconds": 1}
        cfg = redis_store_config(f"failover{n}") + f"lease_seconds = {LEASE}\n" + \
            tokens_config(("admin", "ADMIN_TOKEN", ["read", "admin"], None)) + \
            source_config(sim, {name: polling for name in parse_objects(source_config(sim))})
        env = {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "FRESHET_REDIS_URL": redis.url,
               "ADMIN_TOKEN": TOKEN}
        servers = [Server(cfg, env=env).start() for _ in range(2)]
        deadline = time.time() + 60
        while time.time() < deadline:
            roles = [role(stats(s)) for s in servers]
            if sorted(r or "" for r in roles) == ["follower", "leader"]:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"no leader: {roles}")
        leader = servers[roles.index("leader")]
        survivor = servers[1 - roles.index("leader")]

        def trickle():
            while not stop.is_set():
                sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)
                stop.wait(0.1)
        threading.Thread(target=trickle, daemon=True).start()
        # The leader's polls commit the trickle (steady state), and the kill
        # falls anywhere in the lease's renewal period.
        time.sleep(3 + random.uniform(0, LEASE / 3))
        before = stats(survivor)["events"]["committed"]
        leader.kill9()
        killed = time.monotonic()
        led = committed = None
        while time.monotonic() - killed < 4 * LEASE + 30:
            st = stats(survivor)
            now = time.monotonic() - killed
            if st and led is None and role(st) == "leader":
                led = now
            if st and st["events"]["committed"] > before:
                committed = now
                break
            time.sleep(0.02)
        if committed is None:
            raise RuntimeError("the survivor committed nothing")
        return led if led is not None else committed, committed
    finally:
        stop.set()
        for s in servers:
            s.cleanup()
        redis.cleanup()
        sim.stop()


def main():
    led, committed = [], []
    for n in range(ROUNDS):
        a, b = one_round(n)
        led.append(a)
        committed.append(b)
        print(f"round {n + 1}: leads after {a:.2f} s, first commit after {b:.2f} s", flush=True)
    print(f"lease_seconds={LEASE} rounds={ROUNDS} leads_s median={statistics.median(led):.2f} "
          f"max={max(led):.2f} first_commit_s median={statistics.median(committed):.2f} "
          f"min={min(committed):.2f} max={max(committed):.2f}")


if __name__ == "__main__":
    main()
