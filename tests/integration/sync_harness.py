"""What the sync tests share: a Freshet config that reads a running simulator
(from the simulator's own --print-config), the simulator's truth mapped to
Freshet's local names and raw values by an independent Python reading of
upstream-apis.md, Freshet's records read through its API, and the event log
replayed from the start over SSE. Every wait is bounded."""
import json
import re
import socket
import subprocess
import time

from harness import BIN, SSEClient


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# A generic Standard Webhooks source: contacts with a region for a tenant.
CRM_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CRM_SOURCE = '''[[sources]]
name = "crm"
kind = "webhook"
webhook_secret_env = "CRM_SECRET"

  [[sources.objects]]
  name = "contacts"
  key = "contacts"
  fields = { name = "name", region = "region" }
  tenant_field = "region"
'''


def source_config(sim, objects=None, extra_source=""):
    """The [[sources]] block the running simulator prints (same data set and
    seed), with `objects` (name -> dict of extra keys) added under each object
    and `extra_source` lines under the source."""
    args = [BIN, "simulate", sim.kind, *sim.args, "--print-config", "--listen", f"127.0.0.1:{sim.port}"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if extra_source:
        text = re.sub(r"(requests_per_second = [\d.]+\n)", lambda m: m.group(1) + extra_source, text, count=1)
    for name, keys in (objects or {}).items():
        lines = "".join(f"  {k} = {json.dumps(v)}\n" for k, v in keys.items())
        text = text.replace(f'  name = "{name}"\n', f'  name = "{name}"\n{lines}', 1)
    return text


def parse_objects(config_text):
    """name -> {"key", "fields": {local: upstream}} from a [[sources]] block."""
    out = {}
    for block in config_text.split("[[sources.objects]]")[1:]:
        name = re.search(r'name = "([^"]+)"', block).group(1)
        key = re.search(r'key = "([^"]+)"', block).group(1)
        fields = dict(re.findall(r'(\w+) = "([^"]+)"', re.search(r"fields = \{([^}]*)\}", block).group(1)))
        out[name] = {"key": key, "fields": fields}
    return out


def knack_truth(sim, obj):
    """Knack records as Freshet must store them: local names, `field_N_raw`
    when present, null for an empty field (upstream-apis.md 1.5)."""
    out = {}
    for rec in sim.state(obj["key"]):
        fields = {}
        for local, key in obj["fields"].items():
            if key + "_raw" in rec:
                fields[local] = rec[key + "_raw"]
            else:
                shown = rec.get(key, "")
                fields[local] = None if shown == "" else shown
        out[rec["id"]] = fields
    return out


def airtable_truth(sim, obj):
    """Airtable records: local names, null for a field Airtable leaves out."""
    out = {}
    for rec in sim.state(obj["key"]):
        out[rec["id"]] = {local: rec["fields"].get(name) for local, name in obj["fields"].items()}
    return out


def freshet_records(server, obj_name, token=None, tenant=None, limit=1000):
    """Every record of an object through GET /api/objects/{o}/records, page by page."""
    out, cursor = {}, None
    for _ in range(1000):
        path = f"/api/objects/{obj_name}/records?limit={limit}"
        if cursor:
            path += "&cursor=" + cursor
        if tenant:
            path += "&tenant=" + tenant
        status, doc, raw, _ = server.request("GET", path, token=token, timeout=60)
        assert status == 200, (status, raw)
        for r in doc["records"]:
            rid = r.pop("id")
            out[rid] = r
        cursor = doc["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("paging did not end")


def replay_log(server, token=None, timeout=60):
    """Every retained event from the start, in order, over SSE."""
    last = int(server.stats(token=token)["events"]["last_id"])
    headers = {"Last-Event-ID": "0"}
    if token:
        headers["Authorization"] = "Bearer " + token
    sse = SSEClient(server.port, headers=headers, timeout=timeout)
    events = []
    try:
        while not events or int(events[-1]["id"]) < last:
            frame = sse.next_frame()
            if frame["event"] == "reset":
                continue
            events.append(frame["json"])
    finally:
        sse.close()
    return events


def rebuild(events):
    """The records the change events describe, applied in order: (object, id) -> fields."""
    records = {}
    for e in events:
        if e["type"] != "change":
            continue
        key = (e["object"], e["record_id"])
        if e["op"] == "deleted":
            records.pop(key, None)
        else:
            rec = dict(e["record"])
            rec.pop("id")
            records[key] = rec
    return records


def record_differences(expected, actual, events=None, limit=5):
    """A short account of how two id -> fields maps differ, with the events of the first ids that do."""
    only_e = sorted(set(expected) - set(actual))
    only_a = sorted(set(actual) - set(expected))
    differ = sorted(i for i in set(expected) & set(actual) if expected[i] != actual[i])
    if not (only_e or only_a or differ):
        return None
    lines = [f"{len(only_e)} ids only in the first {only_e[:limit]}, {len(only_a)} only in the second {only_a[:limit]}, "
             f"{len(differ)} with other fields"]
    for i in differ[:limit]:
        keys = sorted(set(expected[i]) | set(actual[i]))
        lines.append(f"  {i}: " + ", ".join(f"{k}: {expected[i].get(k)!r} vs {actual[i].get(k)!r}"
                                            for k in keys if expected[i].get(k) != actual[i].get(k)))
    if events is not None:
        for i in (only_e + only_a + differ)[:limit]:
            mine = [(e["id"], e["op"], e.get("changed")) for e in events if e.get("record_id") == i]
            lines.append(f"  events of {i}: {mine}")
    return "\n".join(lines)


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last is True:
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def signed_delivery(secret, msg_id, body, timestamp=None):
    """Standard Webhooks headers for `body`, signed with a whsec_ secret by
    Python's own hmac (an implementation independent of Freshet's)."""
    import base64
    import hashlib
    import hmac
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = str(int(timestamp if timestamp is not None else time.time()))
    mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode(),
            "Content-Type": "application/json"}
