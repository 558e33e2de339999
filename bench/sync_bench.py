"""Sync benchmarks (docs/benchmarks.md), against the simulators over loopback:

  full-sync   a full sync through the simulator at the upstream's real limit
              and 100-300 ms latency, against the rate-limit floor (pages
              needed / requests per second), and the CPU time it took per
              10,000 records;
  latency     simulator change -> SSE event on a subscriber, with webhooks
              (Airtable pings, Knack hints) and with polling only;
  refresh     POST /api/refresh of schools of 50 to 2,000 students at Knack's
              10 requests/s and 100-300 ms latency, against the rate-limit
              floor (requests needed / 10).

  python3 bench/sync_bench.py [BUILD_DIR] [full-sync|latency|refresh]...   (REPS=3 by default)
Prints one JSON line per run and a Markdown summary of medians.
"""
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith(("full", "lat", "ref")) else "build"
os.environ.setdefault("FRESHET_BIN", os.path.join(ROOT, BUILD, "src", "freshet"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import BIN, Server, SSEClient  # noqa: E402
from sim_harness import AirtableSim, KnackSim  # noqa: E402
from sync_harness import free_port, parse_objects, source_config  # noqa: E402

REPS = int(os.environ.get("REPS", "3"))
WHICH = [a for a in sys.argv[1:] if a in ("full-sync", "latency", "refresh")] or ["full-sync", "latency", "refresh"]
MODES = os.environ.get("MODES", "airtable-webhook,knack-webhook,knack-poll").split(",")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def env_for(sim):
    if isinstance(sim, KnackSim):
        return {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key, "KNACK_WEBHOOK_SECRET": SECRET}
    return {"AIRTABLE_BASE_ID": sim.base, "AIRTABLE_TOKEN": sim.token}


def margin_line():
    """MARGIN=<percent> sets the source's rate_margin_percent (the limiter's default otherwise)."""
    return f"rate_margin_percent = {float(os.environ['MARGIN'])}\n" if "MARGIN" in os.environ else ""


def full_sync(kind, dataset, rps):
    sim = (KnackSim if kind == "knack" else AirtableSim)("--dataset", dataset, "--latency-ms", "100:300",
                                                         "--requests-per-second", str(rps))
    try:
        src = source_config(sim, extra_source=margin_line())
        objects = parse_objects(src)
        page = 1000 if kind == "knack" else 100
        sizes = {n: len(sim.state(o["key"])) for n, o in objects.items()}
        pages = sum(max(1, math.ceil(n / page)) for n in sizes.values())
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'[server]\ndata_dir = "{d}"\nauth = "none"\n' + src)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            run = subprocess.run([BIN, "--log-level", "warn", "sync", "--config", path, "--once"],
                                 capture_output=True, text=True, env=dict(os.environ, **env_for(sim)), timeout=900)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads(run.stdout)
        records = sum(sizes.values())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        stats = sim.stats()
        floor = pages / rps
        return {"bench": "full-sync", "kind": kind, "dataset": dataset, "rps": rps, "records": records,
                "pages": pages, "requests": summary["requests"], "seconds": round(wall, 3),
                "floor_seconds": round(floor, 3), "over_floor": round(wall / floor - 1, 4),
                "rate_limited": stats["rate_limited"], "max_in_one_second": stats["max_requests_in_one_second"],
                "tightest_span_ms": stats["tightest_span_ms"],
                "cpu_seconds": round(cpu, 3), "cpu_ms_per_10k_records": round(cpu * 1000 * 10000 / records, 1),
                "ok": summary["ok"] and summary["created"] == records}
    finally:
        sim.stop()


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(mode, changes=40, gap=0.4, sim_latency="0:0"):
    """mode: airtable-webhook | knack-webhook | knack-poll."""
    port = free_port()
    if mode == "airtable-webhook":
        # The bench's own writes must not eat Freshet's budget (Airtable counts
        # every client of a base): the simulator allows 50/s, Freshet keeps to 5/s.
        sim = AirtableSim("--latency-ms", sim_latency, "--requests-per-second", "50")
        slow = {"poll_min_seconds": 3600, "poll_max_seconds": 3600}
        src = source_config(sim, {"sign_ups": slow, "services": slow},
                            extra_source=f'webhook_url = "http://127.0.0.1:{port}/api/webhooks/services"\n')
        src = src.replace("requests_per_second = 50", "requests_per_second = 5")
        obj = "sign_ups"
    else:
        hook = ["--webhook-url", f"http://127.0.0.1:{port}/api/webhooks/hti", "--webhook-secret", SECRET]
        sim = KnackSim("--dataset", "hti", "--latency-ms", sim_latency, *(hook if mode == "knack-webhook" else []))
        every = {"poll_min_seconds": 3600, "poll_max_seconds": 3600} if mode == "knack-webhook" else \
            {"poll_min_seconds": 2, "poll_max_seconds": 2}
        src = source_config(sim, {"laptops": every, "donations": every, "training_sessions": every},
                            extra_source='webhook_secret_env = "KNACK_WEBHOOK_SECRET"\n' if mode == "knack-webhook" else "")
        obj = "laptops"
    server = Server(src, env=env_for(sim), server_keys={"auth": '"none"', "listen": f'"127.0.0.1:{port}"'})
    server.start()
    try:
        objects = parse_objects(src)
        key = objects[obj]["key"]
        total = len(sim.state(key))
        deadline = time.time() + 120
        while time.time() < deadline:  # the first full sync
            st, doc, _, _ = server.request("GET", "/api/objects")
            if sum(o["records"] for o in doc["objects"] if o["name"] == obj) >= total:
                break
            time.sleep(0.2)
        if mode == "airtable-webhook":
            while not server.stats()["sources"]["services"]["airtable_webhook"]["id"]:
                time.sleep(0.1)
        time.sleep(1.5)  # the start-up requests leave the limiter's window
        sse = SSEClient(server.port, f"/api/events?object={obj}", timeout=30)
        sse.read_head()
        delays = []
        targets = sim.state(key)
        for i in range(changes):
            if mode == "airtable-webhook":
                rid = targets[i]["id"]
                # Timed from before the write: conservative by the write's own round trip.
                t0 = time.monotonic()
                sim.request("PATCH", f"/v0/{sim.base}/{key}/{rid}", {"fields": {"Hours": 100 + i}})
            else:
                t0 = time.monotonic()
                applied = sim.request("POST", "/_sim/changes", {"count": 1}, auth=False)[1]["applied"][0]
                # Knack deletions are seen only by a reconcile pass (no tombstones): not timed here.
                if applied["object"] != key or applied["op"] == "deleted":
                    continue
                rid = applied["id"]
            while True:
                ev = sse.next_frame()["json"]
                if ev["record_id"] == rid:
                    delays.append((time.monotonic() - t0) * 1000)
                    break
            time.sleep(gap)
        sse.close()
        result = {"bench": "latency", "mode": mode, "upstream_latency_ms": sim_latency, "changes": len(delays),
                "p50_ms": round(percentile(delays, 50), 1), "p99_ms": round(percentile(delays, 99), 1),
                "max_ms": round(max(delays), 1)}
        return result
    except Exception:
        print(server.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        server.cleanup()
        sim.stop()


def refresh(sizes=(50, 200, 465, 1000, 2000)):
    """One server on the schools set; each school refreshed once, timed by the job."""
    sim = KnackSim("--dataset", "schools", "--latency-ms", "100:300")
    idle = {"poll_min_seconds": 3600, "poll_max_seconds": 3600}
    src = source_config(sim, {n: idle for n in ("establishments", "students", "vespa_scores", "comments")})
    server = Server(src, env=env_for(sim), server_keys={"auth": '"none"', "refresh_cooldown_seconds": "0"})
    server.start()
    rows = []
    try:
        objects = parse_objects(src)
        per_school = {}
        for name, obj in objects.items():
            for rec in sim.state(obj["key"]):
                code = rec.get(obj["fields"].get("school_code", obj["fields"].get("code")) + "_raw")
                per_school.setdefault(code, {}).setdefault(name, 0)
                per_school[code][name] += 1
        students = {code: n.get("students", 0) for code, n in per_school.items()}
        total = sum(students.values())
        deadline = time.time() + 180
        while time.time() < deadline:
            doc = server.request("GET", "/api/objects")[1]
            if sum(o["records"] for o in doc["objects"] if o["name"] == "students") >= total:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # the start-up requests leave the limiter's window
        for size in sizes:
            code = min(students, key=lambda c: abs(students[c] - size))
            pages = sum(max(1, math.ceil(n / 1000)) for n in per_school[code].values())
            status, doc, raw, _ = server.request("POST", "/api/refresh", {"tenant": code})
            assert status == 202, raw
            while True:
                job = server.request("GET", f"/api/jobs/{doc['job_id']}")[1]
                if job["status"] != "running":
                    break
                time.sleep(0.05)
            assert job["status"] == "succeeded", job
            secs = job["summary"]["duration_seconds"]
            rows.append({"bench": "refresh", "students": students[code], "records": job["summary"]["records"],
                         "requests": pages, "seconds": secs, "floor_seconds": pages / 10,
                         "over_floor": round(secs / (pages / 10) - 1, 4)})
            print(json.dumps(rows[-1]), flush=True)
            time.sleep(1.1)  # each refresh starts with the limiter's window empty, as it would in use
    finally:
        server.cleanup()
        sim.stop()
    return rows


def main():
    rows = []
    print(f"machine: {os.cpu_count()} cores; {REPS} runs each", file=sys.stderr)
    for _ in range(REPS):
        if "full-sync" in WHICH:
            for kind, dataset, rps in (("knack", "schools", 10), ("airtable", "services", 5)):
                rows.append(full_sync(kind, dataset, rps))
                print(json.dumps(rows[-1]), flush=True)
        if "latency" in WHICH:
            for mode, lat in (("airtable-webhook", "0:0"), ("airtable-webhook", "100:300"),
                              ("knack-webhook", "0:0"), ("knack-webhook", "100:300"), ("knack-poll", "0:0")):
                if mode not in MODES:
                    continue
                # A change a second: Freshet's own requests per change stay under the budget.
                rows.append(latency(mode, sim_latency=lat, changes=20 if mode == "knack-poll" else 30, gap=1.0))
                print(json.dumps(rows[-1]), flush=True)
        if "refresh" in WHICH:
            rows.extend(refresh())
    med = statistics.median
    rf = [r for r in rows if r["bench"] == "refresh"]
    if rf:
        print("\n| refresh | records | requests | floor s | median s | max s |")
        print("|---|---|---|---|---|---|")
        for st in sorted({r["students"] for r in rf}):
            g = [r for r in rf if r["students"] == st]
            print(f"| school of {st:,} students | {g[0]['records']:,} | {g[0]['requests']} | {g[0]['floor_seconds']:.1f} | "
                  f"{med([r['seconds'] for r in g]):.2f} | {max(r['seconds'] for r in g):.2f} |")
    fs = [r for r in rows if r["bench"] == "full-sync"]
    if fs:
        print("\n| full sync | records | pages | floor s | median s | over floor | 429s | CPU ms / 10k records |")
        print("|---|---|---|---|---|---|---|---|")
        for kind in ("knack", "airtable"):
            g = [r for r in fs if r["kind"] == kind]
            if g:
                print(f"| {kind} {g[0]['dataset']} at {g[0]['rps']}/s, 100-300 ms | {g[0]['records']:,} | {g[0]['pages']} | "
                      f"{g[0]['floor_seconds']:.1f} | {med([r['seconds'] for r in g]):.2f} | "
                      f"{med([r['over_floor'] for r in g]) * 100:+.1f}% | {sum(r['rate_limited'] for r in g)} | "
                      f"{med([r['cpu_ms_per_10k_records'] for r in g]):.0f} |")
    lt = [r for r in rows if r["bench"] == "latency"]
    if lt:
        print("\n| change to browser | upstream latency | changes | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|")
        keys = sorted({(r["mode"], r["upstream_latency_ms"]) for r in lt})
        for mode, lat in keys:
            g = [r for r in lt if (r["mode"], r["upstream_latency_ms"]) == (mode, lat)]
            print(f"| {mode} | {lat} ms | {sum(r['changes'] for r in g)} | {med([r['p50_ms'] for r in g]):.0f} | "
                  f"{med([r['p99_ms'] for r in g]):.0f} | {max(r['max_ms'] for r in g):.0f} |")


if __name__ == "__main__":
    main()
