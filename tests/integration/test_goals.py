"""Goals: an aggregate of an object's records, published as `metric` events
when it moves and listed by GET /api/objects; checked with records pushed by
signed webhooks (a `webhook` source), so every value is known in advance."""
import json
import unittest

from harness import Server, SSEClient
from sync_harness import signed_delivery, wait_until

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CONFIG = '''[[sources]]
name = "hti"
kind = "webhook"
webhook_secret_env = "HTI_SECRET"

  [[sources.objects]]
  name = "laptops"
  key = "laptops"
  fields = { status = "status", county = "county", units = "units" }
  tenant_field = "county"

[[goals]]
name = "laptops_donated"
label = "Laptops donated"
object = "laptops"
where = { status = "Donated" }
target = 3

[[goals]]
name = "units_in_anoka"
object = "laptops"
where = { county = "anoka" }
sum = "units"
target = 10
'''


class Goals(unittest.TestCase):
    def setUp(self):
        self.server = Server(CONFIG, env={"HTI_SECRET": SECRET}, server_keys={"auth": '"none"'}).start()
        self.addCleanup(self.server.cleanup)
        self.n = 0

    def push(self, op, rid, fields=None):
        self.n += 1
        data = {"object": "laptops", "id": rid}
        if fields is not None:
            data["fields"] = fields
        body = json.dumps({"type": "record." + op, "data": data})
        status = self.server.request("POST", "/api/webhooks/hti", body,
                                     headers=signed_delivery(SECRET, f"msg_{self.n}", body))[0]
        self.assertEqual(status, 200)

    def metrics(self, sse, name, until_value):
        """Metric events of `name` until one carries `until_value`."""
        seen = []
        while True:
            ev = sse.next_frame()
            if ev["event"] == "metric" and ev["json"]["metric"] == name:
                seen.append(ev["json"]["value"])
                if ev["json"]["value"] == until_value:
                    return ev["json"], seen

    def goals(self):
        return {g["name"]: g for g in self.server.request("GET", "/api/objects")[1]["goals"]}

    def test_the_value_follows_the_records_and_moves_live(self):
        # At start, with no record: 0 of 3, published once.
        wait_until(lambda: self.goals()["laptops_donated"]["value"] == 0 or "not yet", 10, "the first computation")
        self.assertEqual(self.goals()["laptops_donated"],
                         {"name": "laptops_donated", "label": "Laptops donated", "source": "hti", "object": "laptops",
                          "target": 3, "value": 0, "deadline": None, "days": []})
        self.assertEqual(self.goals()["units_in_anoka"]["label"], "units_in_anoka")

        sse = SSEClient(self.server.port, "/api/events?tenant=anoka")
        self.addCleanup(sse.close)
        self.push("created", "a", {"status": "Donated", "county": "anoka", "units": 4})
        self.push("created", "b", {"status": "Received", "county": "ramsey", "units": 2})
        ev, _ = self.metrics(sse, "laptops_donated", 1)
        # Common fields like every event; a goal is every tenant's, so no tenant.
        self.assertEqual((ev["type"], ev["source"], ev["object"], ev["tenant"], ev["target"], ev["label"]),
                         ("metric", "hti", "laptops", None, 3, "Laptops donated"))
        self.push("updated", "b", {"status": "Donated", "county": "ramsey", "units": 2})
        self.metrics(sse, "laptops_donated", 2)
        self.push("updated", "a", {"status": "Refurbished", "county": "anoka", "units": 4})
        self.metrics(sse, "laptops_donated", 1)
        self.push("deleted", "b")
        self.metrics(sse, "laptops_donated", 0)
        # The operations page's reads: the newest audit entries in id order,
        # and events per 5 s for its chart.
        entries = self.server.request("GET", "/api/audit?latest=2")[1]["entries"]
        self.assertEqual([e["who"] for e in entries], [f"msg_{self.n - 1}", f"msg_{self.n}"])
        wait_until(lambda: sum(self.server.stats()["events"]["recent"]["counts"]) >= 1 or "not yet", 10,
                   "the committed events counted in the chart's buckets")
        self.assertEqual(self.server.stats()["events"]["recent"]["bucket_seconds"], 5)
        # The sum goal: units of anoka's records (only "a", 4 units).
        self.assertEqual(self.goals()["units_in_anoka"]["value"], 4)

        # A burst of changes: the value lands on the right figure, without an
        # event per change (recomputed at most every 200 ms).
        for i in range(30):
            self.push("created", f"x{i}", {"status": "Donated", "county": "dakota", "units": 1})
        _, seen = self.metrics(sse, "laptops_donated", 30)
        self.assertLess(len(seen), 30, seen)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(self.goals()["laptops_donated"]["value"], 30)

    def test_it_is_recomputed_from_the_store_after_a_restart(self):
        self.push("created", "a", {"status": "Donated", "county": "anoka", "units": 4})
        wait_until(lambda: self.goals()["laptops_donated"]["value"] == 1 or "not yet", 10, "the value after a push")
        self.server.stop()
        self.server.start()
        wait_until(lambda: self.goals()["laptops_donated"]["value"] == 1 or "not yet", 10, "the value after a restart")


PER_TENANT = CONFIG.replace("target = 3\n", "target = 3\nper_tenant = true\n", 1) + """
[[tokens]]
name = "anoka-staff"
secret_env = "ANOKA_TOKEN"
scopes = ["read"]
tenants = ["anoka"]

[[tokens]]
name = "ops"
secret_env = "OPS_TOKEN"
scopes = ["read", "admin"]
"""


class PerTenantGoals(unittest.TestCase):
    """A per-tenant goal: each tenant's value as metric events of that tenant,
    and in GET /api/objects for the tenants the token may see."""

    def setUp(self):
        self.server = Server(PER_TENANT, env={"HTI_SECRET": SECRET, "ANOKA_TOKEN": "anoka-secret",
                                              "OPS_TOKEN": "ops-secret"}).start()
        self.addCleanup(self.server.cleanup)
        self.n = 0

    push = Goals.push

    def goal(self, token, name="laptops_donated"):
        doc = self.server.request("GET", "/api/objects", token=token)[1]
        return {g["name"]: g for g in doc["goals"]}[name]

    def test_each_tenant_has_its_figure_and_sees_only_its_own(self):
        sse = SSEClient(self.server.port, "/api/events?tenant=anoka&access_token=anoka-secret")
        self.addCleanup(sse.close)
        self.push("created", "a", {"status": "Donated", "county": "anoka", "units": 4})
        self.push("created", "r", {"status": "Donated", "county": "ramsey", "units": 2})
        self.push("created", "b", {"status": "Donated", "county": "anoka", "units": 1})
        wait_until(lambda: self.goal("ops-secret").get("tenants") == {"anoka": 2, "ramsey": 1}
                   or self.goal("ops-secret"), 10, "the per-tenant figures")
        self.assertEqual(self.goal("ops-secret")["value"], 3)  # the total stays
        self.assertEqual(self.goal("anoka-secret")["tenants"], {"anoka": 2})  # not ramsey's
        self.assertNotIn("tenants", self.goal("ops-secret", "units_in_anoka"))
        seen = []
        while True:
            ev = sse.next_frame()
            if ev["event"] == "metric" and ev["json"]["metric"] == "laptops_donated":
                seen.append((ev["json"]["tenant"], ev["json"]["value"]))
                if seen[-1] == ("anoka", 2):
                    break
        self.assertNotIn("ramsey", [t for t, _ in seen])
        # A record moving to ramsey moves both tenants' figures.
        self.push("updated", "b", {"status": "Donated", "county": "ramsey", "units": 1})
        wait_until(lambda: self.goal("ops-secret").get("tenants") == {"anoka": 1, "ramsey": 2}
                   or self.goal("ops-secret"), 10, "the figures after the move")


if __name__ == "__main__":
    unittest.main()
