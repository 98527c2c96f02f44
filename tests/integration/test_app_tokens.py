"""Tokens of an application's own identity provider: JWTs signed RS256,
ES256 and HS256 (PyJWT and cryptography sign them here, as an identity
provider would), checked by a real stet on SQLite and PostgreSQL."""

import asyncio
import json
import os
import signal
import tempfile
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adversary_support import raw, next_matching
from stet_harness import Client, Server, postgres_available

ISSUER = "https://idp.example"
AUDIENCE = "stet-docs"
HS_SECRET = "an HS256 secret shared with the application backend"


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def ec_jwk(key, kid):
    numbers = key.public_key().public_numbers()
    b64 = lambda n: jwt.utils.base64url_encode(n.to_bytes(32, "big")).decode()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(numbers.x), "y": b64(numbers.y)}


class Provider:
    """The keys of one identity provider, and the files stet reads them from."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="stet-idp-")
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_old = ec.generate_private_key(ec.SECP256R1())
        self.ec_new = ec.generate_private_key(ec.SECP256R1())
        self.pem_path = os.path.join(self.dir.name, "idp.pem")
        self.jwks_path = os.path.join(self.dir.name, "jwks.json")
        self.secret_path = os.path.join(self.dir.name, "hs256.secret")
        with open(self.pem_path, "w") as f:
            f.write(pem_public(self.rsa))
        with open(self.secret_path, "w") as f:
            f.write(HS_SECRET + "\n")
        self.publish([ec_jwk(self.ec_old, "2026-11")])

    def publish(self, keys):
        with open(self.jwks_path + ".new", "w") as f:
            json.dump({"keys": keys}, f)
        os.replace(self.jwks_path + ".new", self.jwks_path)

    def args(self):
        return ["--jwt-public-key", self.pem_path, "--jwks-file", self.jwks_path, "--jwt-secret-file",
                self.secret_path, "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE]

    def token(self, alg="RS256", sub="u-1", name="Ada", ttl=600, kid=None, key=None, **extra):
        claims = {"sub": sub, "name": name, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + ttl, **extra}
        if key is None:
            key = {"RS256": self.rsa, "ES256": self.ec_old, "HS256": HS_SECRET}[alg]
        headers = {"kid": kid} if kid else None
        return jwt.encode(claims, key, algorithm=alg, headers=headers)


async def hello(server, token):
    """The first answer to a hello with `token`: a welcome or an error."""
    import websockets
    ws = await websockets.connect(server.ws_url)
    await ws.send(json.dumps({"hello": {"clientId": "probe", "token": token}}))
    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
    await ws.close()
    return m


def confused_token(public_pem):
    """HS256 with a public key as the HMAC secret: the classic algorithm
    confusion (PyJWT itself refuses to make one)."""
    import hashlib
    import hmac
    b64 = lambda b: jwt.utils.base64url_encode(b).decode()
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(
        {"sub": "u", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}).encode())
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def error_code(m):
    return m.get("error", {}).get("code")


backends = ["sqlite"] + (["postgres"] if postgres_available() else [])


@pytest.mark.parametrize("backend", backends)
def test_rs256_es256_and_hs256_tokens_are_accepted_and_bad_ones_refused(backend):
    idp = Provider()
    with Server(*idp.args(), anonymous=False, backend=backend) as server:
        async def scenario():
            for alg, kid in (("RS256", None), ("ES256", "2026-11"), ("HS256", None)):
                m = await hello(server, idp.token(alg, kid=kid))
                assert "welcome" in m, (alg, m)
                assert m["welcome"]["username"] == "Ada"
            bad = {
                "expired": idp.token(ttl=-120),
                "wrong issuer": jwt.encode({"sub": "u", "iss": "https://evil.example", "aud": AUDIENCE,
                                            "exp": int(time.time()) + 60}, idp.rsa, algorithm="RS256"),
                "wrong audience": jwt.encode({"sub": "u", "iss": ISSUER, "aud": "other",
                                              "exp": int(time.time()) + 60}, idp.rsa, algorithm="RS256"),
                "no exp": jwt.encode({"sub": "u", "iss": ISSUER, "aud": AUDIENCE}, idp.rsa, algorithm="RS256"),
                "alg none": jwt.encode({"sub": "u", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
                                       None, algorithm="none"),
                "unknown kid": idp.token("ES256", kid="nope"),
                "another key": idp.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                "HS256 keyed with the RSA public key": confused_token(pem_public(idp.rsa)),
            }
            for why, token in bad.items():
                m = await hello(server, token)
                assert error_code(m) == "unauthorized", (why, m)
            # The same user every time: one stored user per (issuer, sub),
            # shown by its name claim.
            token = idp.token(sub="u-7", name="Grace")
            status, doc, _ = server.http("POST", "/api/documents", {"title": "from the app"}, token=token)
            assert status == 201, doc
            c = await Client(server.ws_url, "grace-laptop").connect(token=idp.token("HS256", sub="u-7", name="Grace"))
            await c.join(doc["id"])
            await c.edit(doc["id"], 1, [{"insert": "hello"}])
            await c.wait_for(lambda: 1 in c.acks)
            status, history, _ = server.http("GET", f"/api/documents/{doc['id']}/history", token=token)
            assert status == 200 and history["history"][-1]["author"] == f"{ISSUER}/u-7", history
            # Stet's own accounts keep working beside the provider's tokens.
            assert server.register("carol")[0] == 201
            assert "welcome" in await hello(server, server.login("carol"))
            # Account calls belong to the provider.
            assert server.http("POST", "/api/logout", token=token)[0] == 403
            await c.close()
        asyncio.run(scenario())


def test_a_scoped_token_grants_exactly_its_scope():
    idp = Provider()
    with Server(*idp.args(), anonymous=False) as server:
        owner = idp.token(sub="owner")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "team notes"}, token=owner)
        assert status == 201
        doc_id = doc["id"]
        # The stored list gives the viewer nothing; the scope gives it viewer.
        viewer = idp.token(sub="v", stet={"docs": {doc_id: "viewer"}})
        editor = idp.token(sub="e", stet={"docs": {doc_id[:4] + "*": "editor"}})
        nothing = idp.token(sub="n", stet={"docs": {"other": "editor"}})

        async def scenario():
            v = await Client(server.ws_url, "v").connect(token=viewer)
            await v.join(doc_id)
            await v.edit(doc_id, 1, [{"insert": "no"}])
            await v.wait_for(lambda: any(e["code"] == "forbidden" for e in v.errors))
            e = await Client(server.ws_url, "e").connect(token=editor)
            await e.join(doc_id)
            await e.edit(doc_id, 1, [{"insert": "scoped edit"}])
            await e.wait_for(lambda: 1 in e.acks)
            await v.wait_for(lambda: v.text == "scoped edit")
            ws, _ = await raw(server.ws_url, {"clientId": "n", "token": nothing})
            await ws.send(json.dumps({"join": {"docId": doc_id}}))
            m = await next_matching(ws, lambda m: "error" in m)
            assert m["error"]["code"] == "forbidden" and "does not grant" in m["error"]["message"]
            await ws.close()
            # A scope change while joined is refused; the old token's access stands.
            await e.ws.send(json.dumps({"hello": {"clientId": "e", "token": idp.token(
                sub="e", stet={"docs": {doc_id: "viewer"}})}}))
            await e.wait_for(lambda: any("grant the same documents" in x["message"] for x in e.errors))
            for c in (v, e):
                await c.close()
        asyncio.run(scenario())
        # REST follows the scope too: the viewer reads but cannot write.
        assert server.http("GET", f"/api/documents/{doc_id}/text", token=viewer)[0] == 200
        status, body, _ = server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "x"}, token=viewer)
        assert status == 403, body
        assert server.http("GET", f"/api/documents/{doc_id}", token=nothing)[0] == 403
        assert server.http("POST", "/api/documents", {"title": "t"}, token=editor)[0] == 403
        # A scoped token lists what its scope grants, with the scope's role.
        status, listed, _ = server.http("GET", "/api/documents", token=idp.token(
            sub="owner", stet={"docs": {doc_id: "viewer"}}))
        assert status == 200 and [(d["id"], d["role"]) for d in listed["documents"]] == [(doc_id, "viewer")]

        async def viewer_cannot_create():
            ws, _ = await raw(server.ws_url, {"clientId": "v2", "token": idp.token(
                sub="v", stet={"docs": {"fresh-*": "viewer"}})})
            await ws.send(json.dumps({"join": {"docId": "fresh-1"}}))
            m = await next_matching(ws, lambda m: "error" in m or "snapshot" in m)
            assert m.get("error", {}).get("code") == "unknown_document", m
            await ws.close()
        asyncio.run(viewer_cannot_create())


def test_a_jwks_rotation_takes_effect_on_sighup():
    idp = Provider()
    with Server(*idp.args(), anonymous=False) as server:
        async def scenario():
            new_token = idp.token("ES256", kid="2026-12", key=idp.ec_new)
            assert error_code(await hello(server, new_token)) == "unauthorized"
            idp.publish([ec_jwk(idp.ec_old, "2026-11"), ec_jwk(idp.ec_new, "2026-12")])
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "identity provider keys re-read" not in server.log():
                assert time.time() < deadline, server.log()
                await asyncio.sleep(0.05)
            assert "welcome" in await hello(server, new_token)
            # The old key is retired: its tokens stop working.
            idp.publish([ec_jwk(idp.ec_new, "2026-12")])
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while server.log().count("identity provider keys re-read") < 2:
                assert time.time() < deadline, server.log()
                await asyncio.sleep(0.05)
            assert error_code(await hello(server, idp.token("ES256", kid="2026-11"))) == "unauthorized"
            # A file that does not parse leaves the keys in use.
            with open(idp.jwks_path, "w") as f:
                f.write("{not json")
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "cannot re-read the identity provider's keys" not in server.log():
                assert time.time() < deadline, server.log()
                await asyncio.sleep(0.05)
            assert "welcome" in await hello(server, new_token)
        asyncio.run(scenario())


def test_a_server_refuses_to_start_with_unusable_keys():
    with tempfile.TemporaryDirectory() as d:
        short = os.path.join(d, "short.secret")
        with open(short, "w") as f:
            f.write("too short")
        server = Server("--jwt-secret-file", short, anonymous=False)
        try:
            with pytest.raises(RuntimeError, match=r"(?s)exited with 2: .*32 bytes"):
                server.start()
        finally:
            server.stop()  # a server that logged the refusal but did not exit is not left behind
