"""CPU of a full sync, A against B (docs/benchmarks.md, issue #15).

  python3 bench/sync_cpu_ab.py BIN_A BIN_B [RUNS]      (RUNS=5 by default)

`freshet sync --once` of the Knack `schools` data set (48,745 records, 52
pages) into an empty data dir, against one `freshet simulate knack` with no
latency and no limit upstream, so the wall time is Freshet's own pace (the
config's 8 requests/s) and the CPU is the work's. The two binaries take turns,
each run with a fresh data dir; CPU is user + system of the sync process
(getrusage of the child). Prints each run and the medians in ms per 10,000
records, and the size of the data dir each left (the store's bytes written
are most of the system time).
"""
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINS = [os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
os.environ.setdefault("FRESHET_BIN", BINS[0])
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from sim_harness import KnackSim  # noqa: E402
from sync_harness import source_config  # noqa: E402

RECORDS = 48745


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))


def one_run(binary, src, env):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.toml")
        with open(path, "w") as f:
            f.write(f'[server]\ndata_dir = "{d}/data"\nauth = "none"\n' + src)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([binary, "--log-level", "warn", "sync", "--config", path, "--once"],
                             capture_output=True, text=True, env=env, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode != 0 or '"ok":true' not in run.stdout.replace(" ", ""):
            raise SystemExit(f"sync failed ({binary}): {run.stdout[-400:]} {run.stderr[-400:]}")
        size = dir_bytes(os.path.join(d, "data"))
    user = after.ru_utime - before.ru_utime
    sys_ = after.ru_stime - before.ru_stime
    return user, sys_, size


def main():
    sim = KnackSim("--dataset", "schools", "--requests-per-second", "0")
    try:
        # The simulator enforces no limit; Freshet keeps to Knack's pace all the same.
        src = re.sub(r"requests_per_second = [\d.]+", "requests_per_second = 8", source_config(sim))
        env = dict(os.environ, KNACK_APP_ID=sim.app_id, KNACK_API_KEY=sim.api_key)
        runs = {0: [], 1: []}
        for i in range(RUNS):
            for which in (0, 1):
                u, s, size = one_run(BINS[which], src, env)
                runs[which].append((u, s, size))
                print(f"{'AB'[which]} run {i + 1}: user {u:.2f} s, sys {s:.2f} s, "
                      f"{(u + s) * 1000 * 10000 / RECORDS:.0f} ms / 10k records, data dir {size / 1e6:.1f} MB",
                      flush=True)
    finally:
        sim.stop()
    for which in (0, 1):
        r = runs[which]
        tot = statistics.median(u + s for u, s, _ in r)
        print(f"{'AB'[which]} {BINS[which]}: median user+sys {tot:.2f} s "
              f"(user {statistics.median(u for u, _, _ in r):.2f}, sys {statistics.median(s for _, s, _ in r):.2f}) "
              f"= {tot * 1000 * 10000 / RECORDS:.0f} ms / 10k records; data dir {statistics.median(z for *_, z in r) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
