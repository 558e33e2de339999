"""Starts `freshet simulate knack|airtable` on a free port and talks to it as
a client of that API would."""
import re
import subprocess
import urllib.parse

from harness import BIN, http_request


class SimProcess:
    """A simulator process; `banner` is the regex of its first stdout line,
    whose groups are the port and then its two credentials."""

    def __init__(self, kind, banner, *args):
        self.kind, self.args = kind, args
        self.proc = subprocess.Popen([BIN, "simulate", kind, "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(banner, line)
        if not m:
            self.proc.kill()
            raise RuntimeError("simulator did not start: " + line + self.proc.stderr.read())
        self.port = int(m.group(1))
        self.credentials = (m.group(2), m.group(3))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


class KnackSim(SimProcess):
    def __init__(self, *args):
        super().__init__("knack", r"http://127\.0\.0\.1:(\d+)\s+app id: (\w+)\s+api key: (\S+)", *args)
        self.app_id, self.api_key = self.credentials

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
        # A whole object at once: slow for the big data sets under the sanitizers.
        status, doc, raw, _ = self.request("GET", f"/_sim/state?object={obj}", auth=False, timeout=120)
        assert status == 200, (status, raw)
        return doc["objects"][obj]

    def stats(self):
        return self.request("GET", "/_sim/stats", auth=False)[1]


class AirtableSim(SimProcess):
    def __init__(self, *args):
        super().__init__("airtable", r"http://127\.0\.0\.1:(\d+)\s+base id: (\w+)\s+token: (\S+)", *args)
        self.base, self.token = self.credentials

    def request(self, method, path, body=None, token=True):
        headers = {"Authorization": "Bearer " + self.token} if token else {}
        return http_request(self.port, method, path, body, headers)

    def list(self, table="Sign-ups", **params):
        q = urllib.parse.urlencode(params, doseq=True)
        return self.request("GET", f"/v0/{self.base}/{urllib.parse.quote(table)}?{q}")

    def stats(self):
        return http_request(self.port, "GET", "/_sim/stats")[1]

    def state(self, table="Sign-ups"):
        doc = http_request(self.port, "GET", "/_sim/state?object=" + urllib.parse.quote(table), timeout=120)[1]
        return list(doc["objects"].values())[0]


class SlackSim(SimProcess):
    """`freshet simulate slack`: a Slack incoming-webhook receiver."""

    def __init__(self, *args):
        super().__init__("slack", r"http://127\.0\.0\.1:(\d+)()()", *args)

    def url(self, path="/services/T000/B000/main"):
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self):
        status, doc, raw, _ = http_request(self.port, "GET", "/_sim/messages")
        assert status == 200, raw
        return doc

    def fault(self, status, count, retry_after=1):
        code = http_request(self.port, "POST", "/_sim/faults",
                            {"status": status, "count": count, "retry_after": retry_after})[0]
        assert code == 200
