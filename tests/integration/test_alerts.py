"""Alerts as an SRE sees them: a real Prometheus scrapes real stet nodes with
the project's alert rules (durations compressed, see prometheus_support)
while a fault is injected; the matching alert must fire for the right node
during the fault, no other page may fire, and the alert must resolve once
the fault is repaired."""

import re
import time

import pytest
import yaml

import prometheus_support
from prometheus_support import Prometheus
from stet_harness import RedisServer, Server, fresh_database, postgres_available

pytestmark = pytest.mark.skipif(not prometheus_support.available(), reason="needs prometheus and promtool")


def pages(prom):
    """(alertname, instance) of every firing page."""
    return {(name, labels.get("instance")) for name, state, labels in prom.alerts()
            if state == "firing" and labels.get("severity") == "page"}


def test_compressed_rules_are_the_projects_with_shorter_durations():
    with open(prometheus_support.RULES) as f:
        original = yaml.safe_load(f)["groups"]
    with open(prometheus_support.RULES) as f:
        compressed = yaml.safe_load(prometheus_support.compress_rules(f.read()))["groups"]
    durations = prometheus_support.DURATION
    for group, short in zip(original, compressed, strict=True):
        for rule, fast in zip(group["rules"], short["rules"], strict=True):
            assert {k: v for k, v in rule.items() if k not in ("expr", "for")} == \
                   {k: v for k, v in fast.items() if k not in ("expr", "for")}
            # Only the durations differ, and each is shorter but never
            # shorter than a few scrapes.
            assert re.sub(durations, "D", rule["expr"]) == re.sub(durations, "D", fast["expr"])
            for old, new in zip(re.findall(rf"\[({durations})", rule["expr"]),
                                re.findall(rf"\[({durations})", fast["expr"])):
                assert prometheus_support.MIN_RANGE_MS <= prometheus_support.parse_duration(new) \
                       < prometheus_support.parse_duration(old)
            if "for" in rule:
                assert prometheus_support.MIN_FOR_MS <= prometheus_support.parse_duration(fast["for"]) \
                       < prometheus_support.parse_duration(rule["for"])


def test_killed_node_is_reported_missing_until_it_restarts():
    """SIGKILL one of two nodes: StetNodeMissing fires for it (and for it
    alone); once it is back on its port the alert resolves."""
    with Server() as a, Server() as b:
        with Prometheus([a]) as prom:
            prom.wait_until_scraped()
            # A node started after Prometheus is picked up on reload.
            prom.set_targets([a, b])
            prom.wait_until_scraped()
            assert pages(prom) == set()
            victim = prometheus_support.target_of(b)

            t0 = time.monotonic()
            b.kill9()
            labels = prom.wait_for_alert("StetNodeMissing", labels={"instance": victim}, timeout=20)
            fired = time.monotonic() - t0
            assert labels["job"] == "stet" and labels["severity"] == "page"
            assert pages(prom) == {("StetNodeMissing", victim)}
            up = {labels["instance"]: value for labels, value in prom.query('up{job="stet"}')}
            assert up == {prometheus_support.target_of(a): 1.0, victim: 0.0}

            t0 = time.monotonic()
            b.restart()
            prom.wait_until_resolved("StetNodeMissing", timeout=20)
            resolved = time.monotonic() - t0
            assert pages(prom) == set()
            print(f"StetNodeMissing fired {fired:.1f} s after SIGKILL, resolved {resolved:.1f} s after restart")


@pytest.fixture
def database():
    yield from fresh_database("stet_alerts")


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_lost_redis_pages_until_it_is_back(database):
    """A cluster node (--redis needs PostgreSQL) loses Redis: StetRedisDown
    fires for that node while it stays scraped (no StetNodeMissing); Redis
    back on its port, the node reconnects and the alert resolves."""
    with RedisServer() as redis:
        node = Server("--redis", redis.url, "--node-id", "n1", backend="postgres", database=database)
        with node, Prometheus([node]) as prom:
            prom.wait_until_scraped()
            me = prometheus_support.target_of(node)
            prom.wait_for_result(f'stet_redis_connected{{instance="{me}"}} == 1', timeout=15)
            assert pages(prom) == set()

            t0 = time.monotonic()
            redis.kill()
            labels = prom.wait_for_alert("StetRedisDown", labels={"instance": me}, timeout=20)
            fired = time.monotonic() - t0
            assert labels["severity"] == "page"
            assert pages(prom) == {("StetRedisDown", me)}

            t0 = time.monotonic()
            redis.start()
            # The node retries with a backoff of up to 5 s.
            prom.wait_until_resolved("StetRedisDown", timeout=30)
            resolved = time.monotonic() - t0
            assert pages(prom) == set()
            print(f"StetRedisDown fired {fired:.1f} s after Redis died, resolved {resolved:.1f} s after it restarted")
