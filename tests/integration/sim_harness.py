"""Starts `freshet simulate knack` on a free port and talks to it as a Knack client would."""
import re
import subprocess
import urllib.parse

from harness import BIN, http_request


class KnackSim:
    def __init__(self, *args):
        self.proc = subprocess.Popen([BIN, "simulate", "knack", "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)\s+app id: (\w+)\s+api key: (\S+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("simulator did not start: " + line + self.proc.stderr.read())
        self.port, self.app_id, self.api_key = int(m.group(1)), m.group(2), m.group(3)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def request(self, method, path, body=None, headers=None, auth=True, timeout=10):
        h = {"X-Knack-Application-Id": self.app_id, "X-Knack-REST-API-Key": self.api_key} if auth else {}
        h.update(headers or {})
        return http_request(self.port, method, path, body, h, timeout)

    def records(self, obj, **params):
        q = urllib.parse.urlencode(params)
        status, doc, raw, _ = self.request("GET", f"/v1/objects/{obj}/records?{q}")
        assert status == 200, (status, raw)
        return doc

    def state(self, obj):
        status, doc, raw, _ = self.request("GET", f"/_sim/state?object={obj}", auth=False)
        assert status == 200, (status, raw)
        return doc["objects"][obj]

    def stats(self):
        return self.request("GET", "/_sim/stats", auth=False)[1]
