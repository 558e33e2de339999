"""The README's "Using it" block, run as written (bash, top to bottom) in a
scratch folder: only the binary's path, the two ports (free ones instead of
8080 and 9001) and the endless `curl -N` (cut after the first change event)
are swapped. It must print records, a refresh job and a change event. Its
waits are loops, not sleeps: under the sanitizers a start takes seconds."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import BIN
from sync_harness import free_port

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def quick_start():
    with open(README) as f:
        text = f.read()
    section = text[text.index("## Using it"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


class ReadmeQuickStart(unittest.TestCase):
    def test_runs_top_to_bottom(self):
        script = quick_start()
        self.assertIn("F=./build/src/freshet\n", script)
        server, sim = free_port(), free_port()
        script = script.replace("F=./build/src/freshet\n", f"F={BIN}\n")
        script = script.replace("127.0.0.1:8080", f"127.0.0.1:{server}").replace("127.0.0.1:9001", f"127.0.0.1:{sim}")
        last = script.rstrip().splitlines()[-1]
        self.assertTrue(last.startswith("curl -N"), last)
        # The stream: until its first change event, at most 20 s.
        cut = last.split("#")[0].strip().replace("curl -N", "curl -s -N --max-time 20", 1)
        script = script.replace(last, f"{cut} | sed -n '/^event: change/{{p;q}}' || true")
        with tempfile.TemporaryDirectory() as folder:
            try:
                r = subprocess.run(["bash", "-euo", "pipefail", "-c",
                                    "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script],
                                   cwd=folder, capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired as e:
                # Which step waited: what the script printed up to there.
                said = lambda b: (b.decode(errors="replace") if isinstance(b, bytes) else b or "")[-3000:]
                self.fail(f"the quick start did not end in 120 s\nstdout: {said(e.stdout)}\nstderr: {said(e.stderr)}")
            out = r.stdout
            self.assertEqual(r.returncode, 0, out + r.stderr)
            self.assertTrue(os.path.exists(os.path.join(folder, "freshet-data", "freshet.db")))
        self.assertIn("freshet.toml is valid", out)
        self.assertRegex(out, r'"records":\[\{"id":"[0-9a-f]{24}"')
        self.assertRegex(out, r'"job_id":"[^"]+"')
        self.assertIn("event: change", out, r.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
