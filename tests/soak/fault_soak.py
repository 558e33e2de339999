#!/usr/bin/env python3
"""The fault soak: `freshet serve` killed with SIGKILL again and again while it
syncs a Knack simulator that answers 5% of requests with a 5xx and cuts 1%
short, while records change upstream and 8 publishers broadcast. After every
restart and at the end:
  - the records converge to the simulator's truth (/_sim/state);
  - every acknowledged broadcast is in the log exactly once;
  - event ids are strictly increasing;
  - no record event is duplicated (the same change twice in a row).
`make soak` runs 100 cycles; CI runs 10 (the ctest entry soak.fault_short).
Seeded (--seed) so a failing run can be repeated."""
import argparse
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
from harness import Server, http_request  # noqa: E402
from sim_harness import KnackSim  # noqa: E402
from sync_harness import (free_port, freshet_records, knack_truth, parse_objects, rebuild, replay_log,  # noqa: E402
                          source_config, wait_until)


class Publishers:
    """8 threads posting broadcasts; only a 200 counts as acknowledged."""

    def __init__(self, port, n=8):
        self.port, self.acked, self.lock, self.stop = port, [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def run(self, me):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            msg = f"p{me}-{seq}"
            try:
                status, doc, _, _ = http_request(self.port, "POST", "/api/broadcast", {"message": msg}, timeout=5)
            except OSError:
                time.sleep(0.02)  # the server is down: a new message next time, this one was never acknowledged
                continue
            if status == 200:
                with self.lock:
                    self.acked.append((doc["id"], msg))
            else:
                time.sleep(0.02)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)


class Trickle:
    """Changes upstream, a couple a second, until stopped."""

    def __init__(self, sim, rng):
        self.sim, self.rng, self.stop = sim, rng, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                http_request(self.sim.port, "POST", "/_sim/changes", {"count": 1}, timeout=5)
            except OSError:
                pass
            self.stop.wait(0.3 + self.rng.random() * 0.4)

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def check_log(server, acked):
    """The log's promises; returns the replayed events."""
    events = replay_log(server, timeout=120)
    ids = [int(e["id"]) for e in events]
    assert all(a < b for a, b in zip(ids, ids[1:])), "event ids are not strictly increasing"
    messages = {}
    for e in events:
        if e["type"] == "message":
            messages.setdefault(e["message"], []).append(e["id"])
    for eid, msg in acked:
        got = messages.get(msg, [])
        assert got == [eid], f"acknowledged broadcast {msg} (id {eid}) is in the log as {got}"
    last = {}
    for e in events:
        if e["type"] != "change":
            continue
        key = (e["object"], e["record_id"], e["tenant"])
        this = (e["op"], repr(e.get("record")), repr(e.get("changed")))
        assert last.get(key) != this, f"record event duplicated: {key} {this}"
        last[key] = this
    return events


def converged(sim, server, objects):
    for name, obj in objects.items():
        truth, mine = knack_truth(sim, obj), freshet_records(server, name)
        if truth != mine:
            return f"{name}: {len(set(truth) ^ set(mine))} ids differ, " \
                   f"{sum(1 for i in set(truth) & set(mine) if truth[i] != mine[i])} values differ"
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "11")))
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    if args.bin:
        harness.BIN = args.bin
        import sim_harness
        import sync_harness
        sim_harness.BIN = sync_harness.BIN = args.bin
    rng = random.Random(args.seed)
    sim = KnackSim("--dataset", "hti", "--seed", str(args.seed), "--requests-per-second", "20",
                   "--fail-rate", "0.05", "--truncate-rate", "0.01")
    port = free_port()
    fast = {"poll_min_seconds": 1, "poll_max_seconds": 2, "reconcile_seconds": 4}
    src = source_config(sim, {"laptops": fast, "donations": fast, "sessions": fast})
    objects = parse_objects(src)
    env = {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key}
    server = Server(src, env=env, server_keys={"auth": '"none"', "listen": f'"127.0.0.1:{port}"'}, log_level="info")
    publishers = Publishers(port)
    trickle = Trickle(sim, rng)
    started = time.time()
    try:
        for cycle in range(args.cycles):
            server.start(timeout=30)
            time.sleep(0.3 + rng.random() * 1.2)  # mid-sync, mid-commit, mid-publish
            server.kill9()
        trickle.finish()
        server.start(timeout=30)
        wait_until(lambda: converged(sim, server, objects), 120, "the records to converge to the simulator")
        publishers.finish()
        events = check_log(server, publishers.acked)
        stored = {(name, rid): rec for name in objects for rid, rec in freshet_records(server, name).items()}
        rebuilt = {k: v for k, v in rebuild(events).items() if k[0] in objects}
        assert rebuilt == stored, "the change events do not rebuild the stored records"
        print(f"soak: {args.cycles} kill -9 cycles, {len(publishers.acked)} acknowledged broadcasts, "
              f"{len(events)} events, seed {args.seed}, {time.time() - started:.0f} s")
        print("soak: 1 passed, 0 failed")
        return 0
    except AssertionError as e:
        print(f"soak: FAILED (seed {args.seed}): {e}")
        print(server.read_log()[-4000:])
        print("soak: 0 passed, 1 failed")
        return 1
    finally:
        publishers.finish()
        trickle.finish()
        server.cleanup()
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
