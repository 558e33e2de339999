"""Short-lived tokens from the operator's backend ([[jwt]]) against the real
binary. Tokens are made here independently of Freshet: HS256 with Python's
hmac, RS256 and ES256 with the openssl command line. A valid token reads its
tenants only; each way a token is wrong gets 401 (or 403) with its own code."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Server, SSEClient
from sync_harness import CRM_SECRET, CRM_SOURCE, signed_delivery

WEBHOOK_SECRET = CRM_SECRET
HS_SECRET = "portal-backend-secret-0123456789abcdef"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def der_to_raw(der):
    """An ECDSA signature's DER (SEQUENCE of two INTEGERs) as JWS wants it: R || S, 32 bytes each."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


class Keys:
    def __init__(self, folder):
        self.rsa = os.path.join(folder, "rsa.pem")
        self.ec = os.path.join(folder, "ec.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.rsa)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.ec)
        self.rsa_pub, self.ec_pub = self.rsa + ".pub", self.ec + ".pub"
        openssl("pkey", "-in", self.rsa, "-pubout", "-out", self.rsa_pub)
        openssl("pkey", "-in", self.ec, "-pubout", "-out", self.ec_pub)

    def token(self, alg, claims, hmac_key=HS_SECRET.encode(), key=None):
        import hashlib
        import hmac
        signing = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64url(json.dumps(claims).encode())
        if alg == "none":
            return signing + "."
        if alg == "HS256":
            sig = hmac.new(hmac_key, signing.encode(), hashlib.sha256).digest()
        else:
            sig = openssl("dgst", "-sha256", "-sign", key or (self.rsa if alg == "RS256" else self.ec),
                          data=signing.encode())
            if alg == "ES256":
                sig = der_to_raw(sig)
        return signing + "." + b64url(sig)


class ShortLivedTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="freshet-jwt-")
        cls.keys = Keys(cls.folder)
        config = f'''[[tokens]]
name = "ops"
secret_env = "OPS_TOKEN"
scopes = ["read", "admin"]

[[jwt]]
name = "portal"
algorithm = "HS256"
secret_env = "PORTAL_SECRET"
issuer = "portal"

[[jwt]]
name = "sso"
algorithm = "RS256"
public_key_file = "{cls.keys.rsa_pub}"
issuer = "https://sso.example.org"
audience = "freshet"

[[jwt]]
name = "mobile"
algorithm = "ES256"
public_key_file = "{cls.keys.ec_pub}"
issuer = "mobile"

''' + CRM_SOURCE
        cls.server = Server(config, env={"OPS_TOKEN": "ops-secret", "PORTAL_SECRET": HS_SECRET,
                                         "CRM_SECRET": WEBHOOK_SECRET}).start()
        for i, region in enumerate(["north", "north", "south"]):
            body = json.dumps({"type": "record.created",
                               "data": {"object": "contacts", "id": f"c{i}", "fields": {"name": f"n{i}", "region": region}}})
            status = cls.server.request("POST", "/api/webhooks/crm", body,
                                        headers=signed_delivery(WEBHOOK_SECRET, f"m{i}", body))[0]
            assert status == 200, status

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.folder, ignore_errors=True)

    def claims(self, iss="portal", **extra):
        c = {"iss": iss, "sub": "staff-7", "exp": int(time.time()) + 600, "scope": "read", "tenants": ["north"]}
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def get(self, token, path="/api/objects/contacts/records"):
        status, doc, raw, _ = self.server.request("GET", path, headers={"Authorization": "Bearer " + token})
        return status, doc

    def refused(self, token, status=401):
        got, doc = self.get(token)
        self.assertEqual(got, status, doc)
        return doc["error"]["code"]

    def test_a_staff_token_reads_its_tenant_only(self):
        tok = self.keys.token("HS256", self.claims())
        status, doc = self.get(tok)
        self.assertEqual(status, 200, doc)
        self.assertEqual(sorted(r["id"] for r in doc["records"]), ["c0", "c1"])
        status, doc = self.get(tok, "/api/objects/contacts/records?tenant=south")
        self.assertEqual((status, doc["error"]["code"]), (403, "forbidden_tenant"))
        status, doc, _, _ = self.server.request("POST", "/api/refresh", {"tenant": "north"},
                                                headers={"Authorization": "Bearer " + tok})
        self.assertEqual((status, doc["error"]["code"]), (403, "missing_scope"))
        # EventSource carries it in the URL, as it does a configured token.
        sse = SSEClient(self.server.port, f"/api/events?access_token={tok}", headers={"Last-Event-ID": "0"})
        try:
            self.assertEqual([sse.next_frame()["json"]["record_id"] for _ in range(2)], ["c0", "c1"])
        finally:
            sse.close()

    def test_rs256_and_es256_issuers(self):
        tok = self.keys.token("RS256", self.claims("https://sso.example.org", aud="freshet", tenants=["south"]))
        status, doc = self.get(tok)
        self.assertEqual((status, [r["id"] for r in doc.get("records", [])]), (200, ["c2"]), doc)
        tok = self.keys.token("ES256", self.claims("mobile", tenants=["north", "south"]))
        status, doc = self.get(tok)
        self.assertEqual((status, len(doc.get("records", []))), (200, 3), doc)

    def test_each_wrong_token_has_its_own_code(self):
        k = self.keys
        now = int(time.time())
        self.assertEqual(self.refused(k.token("HS256", self.claims(exp=now - 3600))), "token_expired")
        self.assertEqual(self.refused(k.token("HS256", self.claims(), hmac_key=b"x" * 40)), "token_bad_signature")
        self.assertEqual(self.refused(k.token("none", self.claims())), "token_algorithm_refused")
        # HS256 keyed with the RS256 issuer's public key (the file anyone may have).
        with open(k.rsa_pub, "rb") as f:
            pub = f.read()
        self.assertEqual(self.refused(k.token("HS256", self.claims("https://sso.example.org", aud="freshet"),
                                              hmac_key=pub)), "token_algorithm_refused")
        self.assertEqual(self.refused(k.token("RS256", self.claims("https://sso.example.org", aud="other"))),
                         "token_wrong_audience")
        es = k.token("ES256", self.claims("mobile"))
        sig = bytearray(base64.urlsafe_b64decode(es.rsplit(".", 1)[1] + "=="))
        sig[10] ^= 1
        self.assertEqual(self.refused(es.rsplit(".", 1)[0] + "." + b64url(bytes(sig))), "token_bad_signature")
        self.assertEqual(self.refused(k.token("RS256", self.claims("mobile"))), "token_algorithm_refused")
        self.assertEqual(self.refused(k.token("HS256", self.claims(exp=None))), "token_claims_missing")
        self.assertEqual(self.refused(k.token("HS256", self.claims(tenants=None))), "token_claims_missing")
        self.assertEqual(self.refused(k.token("HS256", self.claims(scope="read admin"))), "token_claims_invalid")
        self.assertEqual(self.refused(k.token("HS256", self.claims(iss="stranger"))), "token_wrong_issuer")
        self.assertEqual(self.refused("eyJhbGciOiJIUzI1NiJ9.not-json.AAAA"), "token_malformed")
        self.assertEqual(self.refused("not-a-token"), "invalid_token")


if __name__ == "__main__":
    unittest.main()
