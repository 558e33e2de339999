"""What a newcomer meets first on the command line: --version and help, the
log level anywhere on the line, a port already taken, an unknown tenant for
`sync`, and a demo that leaves no temporary data dir behind."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import BIN


def run(*args, timeout=20):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        for args in (["--version"], ["version"]):
            r = run(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout.strip(), r"^freshet \d+\.\d+\.\d+$")
        r = run("help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: freshet [OPTIONS] SUBCOMMAND", r.stdout)
        for sub in ("demo", "serve", "check-config", "sync", "simulate", "version"):
            self.assertRegex(r.stdout, rf"\n  {sub} ")

    def test_the_log_level_may_follow_the_subcommand(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write('[server]\nauth = "none"\n')
            r = run("check-config", "--config", path, "--log-level", "debug")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run("check-config", "--config", path, "--log-level", "loud")
            self.assertEqual(r.returncode, 2)
            self.assertIn("unknown --log-level 'loud'", r.stderr)

    def test_a_port_in_use_says_so(self):
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        self.addCleanup(held.close)
        port = held.getsockname()[1]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'[server]\nauth = "none"\nlisten = "127.0.0.1:{port}"\ndata_dir = "{d}/data"\n')
            r = run("serve", "--config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}: address already in use; is another Freshet running? "
                      "use --port or [server] listen", r.stderr)

    def test_sync_refuses_an_unknown_tenant(self):
        from sim_harness import KnackSim
        sim = KnackSim("--dataset", "hti")
        self.addCleanup(sim.stop)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'''[server]
auth = "none"
data_dir = "{d}/data"
[[sources]]
name = "hti"
kind = "knack"
base_url = "http://127.0.0.1:{sim.port}"
app_id_env = "CLI_APP"
api_key_env = "CLI_KEY"
  [[sources.objects]]
  name = "laptops"
  key = "object_1"
  fields = {{ county = "field_5", modified = "field_20" }}
  modified_field = "modified"
  tenant_field = "county"
''')
            env = dict(os.environ, CLI_APP=sim.app_id, CLI_KEY=sim.api_key)
            sync = lambda tenant: subprocess.run([BIN, "sync", "--config", path, "--once", "--tenant", tenant],
                                                 capture_output=True, text=True, timeout=60, env=env)
            r = sync("hennepn")  # misspelled
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("unknown tenant 'hennepn'", r.stderr)
            r = sync("hennepin")  # a first sync of a real tenant into an empty data dir
            self.assertEqual(r.returncode, 0, r.stderr[-1000:])

    def test_an_upstream_401_names_the_credential_and_its_variables(self):
        from sim_harness import KnackSim
        sim = KnackSim("--dataset", "hti")
        self.addCleanup(sim.stop)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.toml")
            with open(path, "w") as f:
                f.write(f'''[server]
auth = "none"
data_dir = "{d}/data"
[[sources]]
name = "hti"
kind = "knack"
base_url = "http://127.0.0.1:{sim.port}"
app_id_env = "CLI_APP"
api_key_env = "CLI_KEY"
  [[sources.objects]]
  name = "laptops"
  key = "object_1"
''')
            env = dict(os.environ, CLI_APP=sim.app_id, CLI_KEY="not-the-key")
            r = subprocess.run([BIN, "sync", "--config", path, "--once"], capture_output=True, text=True, timeout=30,
                               env=env)
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertIn("refused the credentials (HTTP 401): check the Knack application id in CLI_APP and the REST "
                      "API key in CLI_KEY", out)

    def test_the_demo_removes_its_temporary_data_dir(self):
        proc = subprocess.Popen([BIN, "demo", "--port", "0", "--changes-per-second", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            self.assertRegex(proc.stdout.readline(), r"open http://127\.0\.0\.1:\d+/")
            log = ""
            while "data_dir=" not in log:
                log += proc.stderr.readline()
            data_dir = re.search(r"data_dir=(\S+)", log).group(1)
            self.assertTrue(os.path.isdir(data_dir))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(20), 0)
            self.assertFalse(os.path.exists(data_dir), data_dir)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


class Reload(unittest.TestCase):
    """SIGHUP: tokens and the log level change live; other changes are named
    and wait for a restart; a broken file is refused; the server never stops."""

    def test_sighup_swaps_tokens_and_log_level_and_names_the_rest(self):
        from harness import Server, tokens_config
        env = {"OLD_TOKEN": "old-secret", "NEW_TOKEN": "new-secret"}
        old = tokens_config(("old", "OLD_TOKEN", ["read"], None))
        server = Server(old, env=env, log_level="info").start()
        self.addCleanup(server.cleanup)
        self.assertEqual(server.request("GET", "/api/objects", token="old-secret")[0], 200)
        self.assertEqual(server.request("GET", "/api/objects", token="new-secret")[0], 401)

        def hup(config_text, server_keys=None):
            server.config_text = config_text
            server.server_keys = server_keys or {}
            server.write_config()
            before = server.read_log().count("SIGHUP")
            server.proc.send_signal(signal.SIGHUP)
            server.wait_for(lambda: server.read_log().count("SIGHUP") > before, what="the reload's log line")
            return server.read_log().splitlines()[-1]

        line = hup(tokens_config(("new", "NEW_TOKEN", ["read"], None)), {"log_level": '"warn"'})
        self.assertIn('msg="SIGHUP: config reloaded"', line)
        self.assertIn("tokens=1_applied log_level=warn", line)
        self.assertEqual(server.request("GET", "/api/objects", token="new-secret")[0], 200)
        self.assertEqual(server.request("GET", "/api/objects", token="old-secret")[0], 401)

        line = hup(tokens_config(("new", "NEW_TOKEN", ["read"], None)), {"log_level": '"warn"', "keepalive_seconds": "5"})
        self.assertIn('tokens=unchanged log_level=unchanged needs_restart="[server]"', line)

        line = hup("[[tokens]\nbroken")
        self.assertIn("SIGHUP: reload refused", line)
        self.assertEqual(server.request("GET", "/api/objects", token="new-secret")[0], 200)  # still the last good one
        self.assertIsNone(server.proc.poll())


if __name__ == "__main__":
    unittest.main()
