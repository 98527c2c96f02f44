"""Observability: the alert rules and their unit tests pass promtool, a live
server's /metrics passes `promtool check metrics`, and every stet metric the
dashboard and the rules use is one the server really exports."""

import asyncio
import json
import os
import re
import subprocess
import urllib.request

import pytest

from stet_harness import REPO, Client, Server

K8S = os.path.join(REPO, "k8s")
# Exported by cluster members only (test_cluster scrapes those).
CLUSTER_ONLY = {"stet_redis_connected", "stet_cluster_nodes"}


def promtool(*args, stdin=None):
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True)


def test_alert_rules_check_and_pass_their_unit_tests():
    r = promtool("check", "rules", os.path.join(K8S, "prometheus", "rules.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = promtool("test", "rules", os.path.join(K8S, "prometheus", "rules.test.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


def scrape_after_traffic():
    async def traffic(server):
        c = await Client(server.ws_url, "obs").connect()
        await c.join("observed")
        for seq in range(1, 20):
            await c.edit("observed", seq, [{"insert": "x"}])
        await c.wait_for(lambda: len(c.acks) == 19)
        await c.ws.send("{broken")
        await c.wait_for(lambda: c.errors)
        await c.close()

    with Server() as server:
        asyncio.run(traffic(server))
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            return r.read().decode()


def test_live_metrics_pass_promtool_and_cover_dashboard_and_rules():
    text = scrape_after_traffic()
    r = promtool("check", "metrics", stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr
    exported = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    for must in ["stet_websocket_sessions", "stet_edits_total", "stet_edit_latency_seconds",
                 "stet_storage_commit_seconds", "stet_storage_batch_edits", "stet_rejected_messages_total",
                 "stet_build_info", "stet_websocket_received_bytes_total", "stet_fanout_sessions"]:
        assert must in exported, must
    assert 'stet_rejected_messages_total{code="bad_message"} 1' in text
    assert re.search(r"^stet_edits_total\{outcome=\"applied\"\} 19", text, re.M)
    with open(os.path.join(K8S, "grafana", "stet-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    with open(os.path.join(K8S, "prometheus", "rules.yml")) as f:
        exprs.append(f.read())
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\bstet_\w+", e)}
    missing = used - exported - CLUSTER_ONLY
    assert not missing, f"dashboard/rules use metrics the server does not export: {missing}"


def metric(text, name, labels=""):
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_auth_failures_and_rate_limits_are_counted():
    with Server(anonymous=False) as server:
        assert server.register("ada")[0] == 201
        assert server.http("POST", "/api/login", {"username": "ada", "password": "wrong password!"})[0] == 401
        assert server.http("GET", "/api/documents", token="not-a-token")[0] == 401
        assert server.http("GET", "/api/documents")[0] == 401
        for _ in range(12):  # past the failed-login limit
            server.http("POST", "/api/login", {"username": "ada", "password": "wrong password!"})
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
            text = r.read().decode()
    assert metric(text, "stet_auth_failures_total", '{reason="bad_password"}') >= 1
    assert metric(text, "stet_auth_failures_total", '{reason="bad_token"}') == 1
    assert metric(text, "stet_auth_failures_total", '{reason="no_token"}') == 1
    assert metric(text, "stet_rate_limited_total", '{limit="logins"}') >= 1
    assert metric(text, "stet_connections") >= 1  # this scrape's own connection


def test_metrics_port_serves_only_operations_endpoints():
    with Server("--metrics-listen", "127.0.0.1:0") as server:
        line = next(json.loads(l) for l in server.log().splitlines() if '"msg":"listening"' in l)
        ops = int(line["metrics_port"])
        assert ops != server.port
        base = f"http://127.0.0.1:{ops}"
        for path in ["/healthz", "/readyz", "/metrics"]:
            with urllib.request.urlopen(base + path) as r:
                assert r.status == 200, path
        with urllib.request.urlopen(base + "/metrics") as r:
            assert "stet_build_info" in r.read().decode()
        for path in ["/api/documents", "/", "/ws"]:
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + path)
            assert e.value.code == 404, path
            assert "only" in json.loads(e.value.read())["error"]["message"]


async def one_edit(server, client_id, doc):
    """Edits once; returns the id the server knows the client by (anonymous:
    derived from `client_id`)."""
    c = await Client(server.ws_url, client_id).connect()
    await c.join(doc)
    await c.edit(doc, 1, [{"insert": "x"}])
    await c.wait_for(lambda: c.acks)
    await c.close()
    return c.welcome["clientId"]


def test_one_edit_can_be_followed_through_the_logs():
    with Server("--log-level", "debug") as server:
        shown = asyncio.run(one_edit(server, "tracer", "followed"))
        lines = [json.loads(l) for l in server.log().splitlines() if l.startswith("{")]
    mine = [l for l in lines if l.get("edit") == f"{shown}/1"]
    stages = [l["msg"] for l in mine]
    assert stages == ["edit received", "edit serialised", "edit committed"], stages
    assert all(l["doc"] == "followed" and l["node"] == "local" and l["level"] == "debug" for l in mine)
    assert mine[0]["session"] == mine[1]["session"] != ""
    assert mine[2]["rev"] == mine[1]["rev"] == "1"


def test_info_level_drops_per_edit_lines():
    with Server() as server:
        shown = asyncio.run(one_edit(server, "quiet", "quiet"))
        assert f'"edit":"{shown}/1"' not in server.log()
