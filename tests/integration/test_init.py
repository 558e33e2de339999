"""`freshet init knack|airtable` against the simulators' schema endpoints (the
same as the real APIs'): the printed block is a valid config as it stands,
`sync --once` with it reads every record of every object into the store,
with the fields under the names the block gave them; missing or wrong
credentials get an exit code and a sentence naming the variable."""
import json
import os
import sqlite3
import subprocess
import tempfile
import unittest

from harness import BIN
from sim_harness import AirtableSim, KnackSim


def init(kind, env, *args):
    return subprocess.run([BIN, "init", kind, *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", ""), **env})


class Init(unittest.TestCase):
    def sync_with(self, block, env):
        folder = tempfile.mkdtemp(prefix="freshet-init-")
        path = os.path.join(folder, "freshet.toml")
        with open(path, "w") as f:
            f.write(f'[server]\nauth = "none"\ndata_dir = "{folder}/data"\n\n' + block)
        full_env = {**os.environ, **env}
        r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True, env=full_env)
        self.assertEqual(r.returncode, 0, r.stderr + block)
        r = subprocess.run([BIN, "sync", "--config", path, "--once"], capture_output=True, text=True, timeout=300,
                           env=full_env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        db = sqlite3.connect(os.path.join(folder, "data", "freshet.db"))
        self.addCleanup(subprocess.run, ["rm", "-rf", folder])
        try:
            rows = db.execute("SELECT object, data, tenant FROM records").fetchall()
        finally:
            db.close()
        by_object = {}
        for obj, data, tenant in rows:
            by_object.setdefault(obj, []).append((json.loads(data), tenant))
        return by_object

    def test_knack(self):
        sim = KnackSim()
        self.addCleanup(sim.stop)
        r = init("knack", {"KNACK_APP_ID": sim.app_id}, "--base-url", f"http://127.0.0.1:{sim.port}")
        self.assertEqual(r.returncode, 0, r.stderr)
        block = r.stdout
        self.assertIn('name = "hti_laptops"', block)
        self.assertIn('modified_field = "modified"   # a guess', block)
        self.assertIn('tenant_field = "county"   # a guess', block)
        stored = self.sync_with(block, {"KNACK_APP_ID": sim.app_id, "KNACK_API_KEY": sim.api_key})
        for name, key in [("laptops", "object_1"), ("donations", "object_2"), ("training_sessions", "object_3")]:
            truth = sim.state(key)
            self.assertEqual(len(stored.get(name, [])), len(truth), name)
        laptop, tenant = stored["laptops"][0]
        self.assertEqual(set(laptop), {"serial", "model", "status", "received", "county", "donation", "modified"})
        self.assertTrue(tenant)  # partitioned by county, as guessed

    def test_airtable(self):
        sim = AirtableSim()
        self.addCleanup(sim.stop)
        env = {"AIRTABLE_BASE_ID": sim.base, "AIRTABLE_TOKEN": sim.token}
        r = init("airtable", env, "--base-url", f"http://127.0.0.1:{sim.port}", "--name", "services")
        self.assertEqual(r.returncode, 0, r.stderr)
        block = r.stdout
        self.assertIn('tenant_field = "quarter"   # a guess', block)
        stored = self.sync_with(block, env)
        self.assertEqual(len(stored.get("sign_ups", [])), len(sim.state("Sign-ups")))
        self.assertEqual(len(stored.get("services", [])), len(sim.state("Services")))
        self.assertIn("follow_up", block)

    def test_credentials_are_named_when_missing_or_refused(self):
        r = init("knack", {})
        self.assertEqual(r.returncode, 2)
        self.assertIn("set KNACK_APP_ID", r.stderr)
        sim = AirtableSim()
        self.addCleanup(sim.stop)
        r = init("airtable", {"AIRTABLE_BASE_ID": sim.base, "AIRTABLE_TOKEN": "wrong"},
                 "--base-url", f"http://127.0.0.1:{sim.port}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused the credentials (401): check AIRTABLE_BASE_ID and AIRTABLE_TOKEN", r.stderr)
        r = init("airtable", {"AIRTABLE_BASE_ID": "appNOTTHEBASE0000", "AIRTABLE_TOKEN": sim.token},
                 "--base-url", f"http://127.0.0.1:{sim.port}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)
        r = init("knack", {"KNACK_APP_ID": "x"}, "--base-url", "http://127.0.0.1:9")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read Knack application", r.stderr)


if __name__ == "__main__":
    unittest.main()
