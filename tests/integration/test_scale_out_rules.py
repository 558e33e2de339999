"""Rules and notifications on the Redis engine (issue #13): several real
`freshet serve` instances on one real redis-server share one outbox. One
instance at a time leads the rules (the lease "rules"): it evaluates the
deployment's log and delivers; changes committed on any instance notify once;
every instance lists the same outbox and can retry; when the leader dies
(kill -9) another takes over within the lease, and nothing acknowledged goes
unnotified nor is notified under two webhook-ids."""
import os
import time
import unittest

import socket

from harness import RedisServer, SSEClient, Server, redis_store_config
from sync_harness import signed_delivery, wait_until
from test_rules import HOOK_SECRET, SOURCE, SOURCE_SECRET, Receiver, notifications, webhook_rules

LEASE = 2  # seconds: failover within the test's patience
GOAL = '''
[[goals]]
name = "received"
object = "laptops"
where = { status = "Received" }
target = 100
'''


def instance(redis, rx, retry="[0, 1, 2]"):
    config = redis_store_config("rules") + f"lease_seconds = {LEASE}\n" + SOURCE + GOAL + webhook_rules(rx.port, retry)
    return Server(config, env={"FRESHET_REDIS_URL": redis.url, "HTI_SECRET": SOURCE_SECRET,
                               "HOOK_URL": f"http://127.0.0.1:{rx.port}/hooks/freshet", "HOOK_SECRETS": HOOK_SECRET},
                  server_keys={"auth": '"none"'})


def goal_value(server):
    status, doc, raw, _ = server.request("GET", "/api/objects")
    return next((g["value"] for g in doc["goals"] if g["name"] == "received"), None)


def role(server):
    return server.stats()["notifications"]["rules"]["role"]


class Pushes:
    """Signed record webhooks to whichever instance; ids of the acknowledged ones."""

    def __init__(self):
        self.n, self.acked = 0, []

    def push(self, server, rid):
        self.n += 1
        body = '{"type":"record.created","data":{"object":"laptops","id":"%s","fields":{"status":"Received",' \
               '"county":"anoka"}}}' % rid
        try:
            status = server.request("POST", "/api/webhooks/hti", body, timeout=5,
                                    headers=signed_delivery(SOURCE_SECRET, f"msg_{os.getpid()}_{self.n}", body))[0]
        except OSError:
            return False
        if status == 200:
            self.acked.append(rid)
        return status == 200


def delivered_ids(rx):
    """Record id -> the webhook-ids it was delivered under."""
    out = {}
    for _, wid, _, body in rx.delivered():
        rid = body["data"]["text"].split()[1]
        out.setdefault(rid, set()).add(wid)
    return out


class SharedOutbox(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        self.rx = Receiver(HOOK_SECRET)
        self.addCleanup(self.rx.stop)

    def start(self, retry="[0, 1, 2]"):
        s = instance(self.redis, self.rx, retry).start()
        self.addCleanup(s.cleanup)
        return s

    def test_changes_on_every_instance_notify_once_and_every_instance_lists_them(self):
        a = self.start()
        wait_until(lambda: role(a) == "leader" or role(a), 10, "the first instance to lead the rules")
        b, c = self.start(), self.start()
        self.assertEqual([role(b), role(c)], ["follower", "follower"])
        pushes = Pushes()
        for n in range(30):
            self.assertTrue(pushes.push((a, b, c)[n % 3], f"R{n}"))
        wait_until(lambda: len(delivered_ids(self.rx)) == 30 or len(delivered_ids(self.rx)), 20, "30 deliveries")
        time.sleep(1)  # nothing more may come
        got = delivered_ids(self.rx)
        self.assertEqual(sorted(got), sorted(pushes.acked))
        self.assertEqual([len(w) for w in got.values()], [1] * 30)  # one message each
        self.assertEqual(len(self.rx.attempts), 30)  # and each sent once
        # The outbox is the deployment's: every instance lists the same rows.
        wait_until(lambda: {r["status"] for r in notifications(c, limit=100)} == {"delivered"} or "not yet", 10,
                   "the leader to record the deliveries")
        rows = [sorted((r["id"], r["webhook_id"], r["status"]) for r in notifications(s, limit=100)) for s in (a, b, c)]
        self.assertEqual(len(rows[0]), 30)
        self.assertEqual(rows[0], rows[1])
        self.assertEqual(rows[0], rows[2])
        wait_until(lambda: c.stats()["notifications"]["outbox"]["delivered"] == 30 or "not yet", 10,
                   "a follower's stats to count the outbox")

    def test_a_retry_on_a_follower_is_delivered_by_the_leader(self):
        self.rx.script = [500, 500]
        a = self.start(retry="[0, 1]")
        wait_until(lambda: role(a) == "leader" or role(a), 10, "the first instance to lead the rules")
        b = self.start(retry="[0, 1]")
        self.assertTrue(Pushes().push(b, "F1"))
        wait_until(lambda: notifications(b, status="failed") != [] or "not yet", 15, "the failure")
        mid = notifications(b)[0]["id"]
        self.assertEqual(b.request("POST", f"/api/notifications/{mid}/retry")[0], 202)
        wait_until(lambda: len(self.rx.delivered()) == 1 or "not yet", 10, "the delivery by hand")
        wait_until(lambda: notifications(b)[0]["status"] == "delivered" or notifications(b)[0]["status"], 10,
                   "the outbox to record it")
        self.assertEqual(role(b), "follower")

    def test_the_leaders_kill_nine_hands_the_rules_on_and_loses_nothing(self):
        a = self.start()
        wait_until(lambda: role(a) == "leader" or role(a), 10, "the first instance to lead the rules")
        b = self.start()
        pushes = Pushes()
        for n in range(20):
            pushes.push(b if n % 2 else a, f"K{n}")
        a.kill9()  # mid-stream: some firings delivered, some not, perhaps some not evaluated
        killed = time.time()
        for n in range(20, 40):
            pushes.push(b, f"K{n}")
        wait_until(lambda: role(b) == "leader" or role(b), LEASE * 3 + 5, "the survivor to lead the rules")
        self.assertLess(time.time() - killed, LEASE * 3 + 5)
        wait_until(lambda: len(delivered_ids(self.rx)) == len(pushes.acked) or len(delivered_ids(self.rx)), 20,
                   "every acknowledged change notified")
        got = delivered_ids(self.rx)
        self.assertEqual(sorted(got), sorted(pushes.acked))  # nothing lost, nothing invented
        # A message the dead leader sent but did not mark may go again, with
        # its own webhook-id: never a second message for one firing.
        self.assertEqual([len(w) for w in got.values()], [1] * len(got))


    def test_a_goal_moves_by_one_metric_event_for_the_deployment(self):
        a = self.start()
        wait_until(lambda: a.stats()["sources"]["hti"]["role"] == "leader" or "not yet", 10, "a to lead the source")
        b, c = self.start(), self.start()
        pushes = Pushes()
        for n in range(6):
            self.assertTrue(pushes.push((b, c, a)[n % 3], f"G{n}"))
            time.sleep(0.4)  # past the goals' settling time: each move is its own
        wait_until(lambda: len(delivered_ids(self.rx)) == 6 or "not yet", 20, "the six notifications")
        # Every instance computes the goal; only the source's leader publishes it.
        sse = SSEClient(b.port, "/api/events", headers={"Last-Event-ID": "0"}, timeout=2)
        self.addCleanup(sse.close)
        values = []
        try:
            while True:
                ev = sse.next_frame()
                if ev["event"] == "metric" and ev["json"]["metric"] == "received":
                    values.append(ev["json"]["value"])
        except (socket.timeout, TimeoutError):
            pass
        self.assertIn(6, values)
        self.assertEqual(values, sorted(set(values)), values)  # each value once, rising
        for s in (a, b, c):  # and each instance answers its value
            wait_until(lambda: goal_value(s) == 6 or goal_value(s), 10, "the goal's value everywhere")


if __name__ == "__main__":
    unittest.main()
