"""Randomized tenant isolation: random tokens (tenant lists, scopes), random
routes and parameters (case, percent-encoding, repetition, empty values), and
random data across tenants; every answer is checked against a model of what
that token may see. Seeded (TENANT_PROBE_SEED) and reproducible; thousands of
probes a run."""
import json
import os
import random
import unittest
import urllib.parse

from harness import RedisServer, SSEClient, Server, WSClient, redis_store_config, tokens_config
from sync_harness import replay_log, signed_delivery

SEED = int(os.environ.get("TENANT_PROBE_SEED", "20261201"))
PROBES = int(os.environ.get("TENANT_PROBES", "3000"))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TENANTS = ["anoka", "dakota", "hennepin", "ramsey", "scott", "wright"]
CONFIG = '''[[sources]]
name = "crm"
kind = "webhook"
webhook_secret_env = "CRM_SECRET"

  [[sources.objects]]
  name = "contacts"
  key = "contacts"
  fields = { name = "name", region = "region" }
  tenant_field = "region"

  [[sources.objects]]
  name = "visits"
  key = "visits"
  fields = { who = "who", region = "region" }
  tenant_field = "region"
'''


def variant(rng, tenant):
    """The same tenant as a client might spell it, and whether it still names it."""
    kind = rng.randrange(4)
    if kind == 0:
        return tenant, True
    if kind == 1:  # percent-encoded: decodes to the same name
        return "".join(f"%{ord(c):02X}" if rng.random() < 0.5 else c for c in tenant), True
    if kind == 2:  # another case: another tenant, which nobody has
        return tenant.capitalize(), False
    return tenant + rng.choice(["%20", "x", "%00"]), False


class TenantIsolation(unittest.TestCase):
    STORE = ""  # the [store] section: the SQLite engine here
    ENV = {}

    @classmethod
    def setUpClass(cls):
        rng = random.Random(SEED)
        cls.rng = rng
        cls.tokens = {}
        specs = []
        for i in range(14):
            scoped = i > 0 and rng.random() < 0.7  # t0: an unscoped admin, the test's own view of the log
            tenants = sorted(rng.sample(TENANTS, rng.randint(1, 3))) if scoped else None
            scopes = ["read"] if rng.random() < 0.8 else []
            if rng.random() < 0.4:
                scopes.append("refresh")
            if i == 0 or not scoped and rng.random() < 0.5:
                scopes.append("admin")  # admin is never tenant-scoped (refused at start)
            if not scopes:
                scopes = ["refresh"]
            name, env = f"t{i}", f"TOK_{i}"
            specs.append((name, env, scopes, tenants))
            cls.tokens[name] = {"secret": f"secret-{i}-{rng.randrange(10**9)}", "scopes": set(scopes),
                                "tenants": set(tenants) if tenants else None}
        env = {spec[1]: cls.tokens[spec[0]]["secret"] for spec in specs}
        env["CRM_SECRET"] = SECRET
        env.update(cls.ENV)
        cls.server = Server(cls.STORE + CONFIG + tokens_config(*specs), env=env).start()
        # Data across tenants (and some with none), through the signed webhook.
        cls.records = {}  # (object, id) -> tenant ("" for none)
        for n in range(120):
            obj = rng.choice(["contacts", "visits"])
            rid = f"r{n}"
            tenant = rng.choice(TENANTS + [""])
            fields = {"name" if obj == "contacts" else "who": f"n{n}", "region": tenant or None}
            body = json.dumps({"type": "record.created", "data": {"object": obj, "id": rid, "fields": fields}})
            status, _, raw, _ = cls.server.request("POST", "/api/webhooks/crm", body,
                                                   headers=signed_delivery(SECRET, f"m{n}", body))
            assert status == 200, raw
            cls.records[(obj, rid)] = tenant
        cls.log = None  # the whole log as the admin t0 reads it; None: to be read again

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def allowed(self, tok, tenant):
        return tok["tenants"] is None or tenant in tok["tenants"]

    def check_records(self, tok, obj, asked, status, doc, raw):
        """asked: the tenant names the query names, with whether each is a real spelling."""
        if "read" not in tok["scopes"]:
            return self.assertEqual(status, 403, raw)
        names = [t for t, _ in asked]
        if any(not self.allowed(tok, t) for t in names):
            return self.assertEqual((status, doc["error"]["code"]), (403, "forbidden_tenant"), raw)
        self.assertEqual(status, 200, raw)
        want_tenants = set(names) if names else tok["tenants"]
        for r in doc["records"]:
            t = self.records[(obj, r["id"])]
            if want_tenants is not None:
                self.assertIn(t, want_tenants, f"{r['id']} of {t!r} leaked")
            self.assertTrue(self.allowed(tok, t) and (t != "" or tok["tenants"] is None), f"{r['id']} of {t!r} leaked")

    def probe(self, rng, name):
        tok = self.tokens[name]
        secret = tok["secret"] if rng.random() > 0.03 else "not-a-token"
        route = rng.randrange(8)
        if secret == "not-a-token":
            status, doc, raw, _ = self.server.request("GET", "/api/objects", token=secret)
            return self.assertEqual((status, doc["error"]["code"]), (401, "invalid_token"), raw)
        if route <= 2:  # a records page, with 0..3 tenant parameters in any spelling
            obj = rng.choice(["contacts", "visits"])
            asked = []
            q = []
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                t = rng.choice(TENANTS)
                spelled, same = variant(rng, t)
                asked.append((t if same else urllib.parse.unquote(spelled), same))
                q.append("tenant=" + spelled)
            empty = rng.random() < 0.2
            if empty:
                q.append("tenant=")  # malformed: refused before anything is read
            if rng.random() < 0.3:
                q.append(f"limit={rng.randint(1, 50)}")
            path = f"/api/objects/{obj}/records" + ("?" + "&".join(q) if q else "")
            status, doc, raw, _ = self.server.request("GET", path, token=secret)
            if empty:
                return self.assertEqual((status, doc["error"]["code"]), (400, "invalid_parameter"), raw)
            return self.check_records(tok, obj, asked, status, doc, raw)
        if route == 3:  # one record by id
            (obj, rid), tenant = rng.choice(list(self.records.items()))
            status, doc, raw, _ = self.server.request("GET", f"/api/objects/{obj}/records/{rid}", token=secret)
            if "read" not in tok["scopes"]:
                return self.assertEqual(status, 403, raw)
            if tenant == "" and tok["tenants"] is not None or not self.allowed(tok, tenant):
                return self.assertEqual((status, doc["error"]["code"]), (404, "unknown_record"), raw)
            return self.assertEqual((status, doc["record"]["id"]), (200, rid), raw)
        if route == 4:  # the overview
            status, doc, raw, _ = self.server.request("GET", "/api/objects", token=secret)
            if "read" not in tok["scopes"]:
                return self.assertEqual(status, 403, raw)
            self.assertEqual(status, 200, raw)
            for o in doc["objects"]:
                for t in o["tenants"]:
                    if tok["tenants"] is not None:
                        self.assertIn(t["tenant"], tok["tenants"], "the overview names another tenant")
                    want = sum(1 for (ob, _), tt in self.records.items() if ob == o["name"] and tt == (t["tenant"] or ""))
                    self.assertEqual(t["records"], want)
            return None
        if route == 5:  # admin routes
            path = rng.choice(["/api/audit", "/api/stats", "/metrics"])
            status, doc, raw, _ = self.server.request("GET", path, token=secret)
            return self.assertEqual(status, 200 if "admin" in tok["scopes"] else 403, raw)
        if route == 6:  # broadcast and refresh: admin, and refresh within the token's tenants
            t = rng.choice(TENANTS)
            if rng.random() < 0.5:
                status, doc, raw, _ = self.server.request("POST", "/api/broadcast", {"tenant": t, "message": "x"},
                                                          token=secret)
                if status == 200:
                    TenantIsolation.log = None
                return self.assertEqual(status, 200 if "admin" in tok["scopes"] else 403, raw)
            status, doc, raw, _ = self.server.request("POST", "/api/refresh", {"tenant": t}, token=secret)
            if "refresh" not in tok["scopes"]:
                return self.assertEqual((status, doc["error"]["code"]), (403, "missing_scope"), raw)
            if not self.allowed(tok, t):
                return self.assertEqual((status, doc["error"]["code"]), (403, "forbidden_tenant"), raw)
            return self.assertIn(status, (202, 429), raw)  # started or joined, or inside the cooldown
        # route 7: an SSE replay of the whole log, each frame checked
        return self.stream(rng, tok, secret)

    def stream(self, rng, tok, secret):
        asked = rng.choice([None, None] + TENANTS)
        objects = [rng.choice(["contacts", "visits"])] if rng.random() < 0.5 else []
        q = ["access_token=" + secret] + ([f"tenant={asked}"] if asked else []) + [f"object={o}" for o in objects]
        sse = SSEClient(self.server.port, "/api/events?" + "&".join(q), headers={"Last-Event-ID": "0"}, timeout=10)
        try:
            status = sse.read_head()
            if "read" not in tok["scopes"]:
                return self.assertEqual(status, 403)
            if asked and not self.allowed(tok, asked):
                return self.assertEqual(status, 403)
            self.assertEqual(status, 200)
            # The model of what this subscription gets: the admin's whole log, filtered
            # as DESIGN.md says (a tenant-less event that is not a change reaches everyone).
            if TenantIsolation.log is None:
                TenantIsolation.log = replay_log(self.server, token=self.tokens["t0"]["secret"])
            tenants = {asked} if asked else tok["tenants"]

            def visible(e):
                if objects and e.get("object") and e["object"] not in objects:
                    return False
                if tenants is None:
                    return True
                return e["type"] != "change" if not e.get("tenant") else e["tenant"] in tenants
            want = [e["id"] for e in TenantIsolation.log if visible(e)]
            got = [f["id"] for f in (sse.next_frame() for _ in range(len(want)))]
            self.assertEqual(got, want, "the stream is not exactly what the token may see")
        finally:
            sse.close()
        return None

    def test_every_answer_matches_the_model(self):
        rng = random.Random(SEED + 1)
        names = sorted(self.tokens)
        for i in range(PROBES):
            name = rng.choice(names)
            with self.subTest(probe=i, token=name, seed=SEED):
                self.probe(rng, name)

    def test_a_websocket_subscription_is_held_to_the_token(self):
        rng = random.Random(SEED + 2)
        for name, tok in sorted(self.tokens.items()):
            ws = WSClient(self.server.port, "/api/ws?access_token=" + tok["secret"])
            try:
                if "read" not in tok["scopes"]:
                    self.assertEqual(ws.status, 403)
                    continue
                asked = rng.choice(TENANTS)
                ws.send_json({"op": "subscribe", "tenant": asked, "since": "0"})
                first = ws.next_json()
                if not self.allowed(tok, asked):
                    self.assertEqual(first["error"]["code"], "forbidden_tenant", name)
                    continue
                e = first
                while e.get("type") == "reset":
                    e = ws.next_json()
                if e.get("type") == "change" or e.get("tenant"):
                    self.assertEqual(e["tenant"], asked, name)
            finally:
                ws.close()


class TenantIsolationOnRedis(TenantIsolation):
    """The same probes with the store on the Redis engine: as isolated there."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().start()
        cls.STORE = redis_store_config("isolation")
        cls.ENV = {"FRESHET_REDIS_URL": cls.redis.url}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.redis.cleanup()


if __name__ == "__main__":
    unittest.main()
