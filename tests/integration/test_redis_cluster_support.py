"""The Redis Cluster the --redis-cluster tests run on (redis_cluster_support):
it forms, documents spread over its three masters and are served where
master_of says, SPUBLISH calls are counted per master, a killed master's
replica takes over, and with a password nothing answers without it."""

import time

import pytest

import redis_cluster_support
from redis_cluster_support import ShardedRedis
from redis_support import redis_cli

pytestmark = pytest.mark.skipif(not redis_cluster_support.available(), reason="needs redis-server 7 and redis-cli")


def test_forms_spreads_documents_and_fails_a_master_over():
    with ShardedRedis() as rc:
        masters = rc.masters()
        assert len(masters) == 3 and set(masters) < set(rc.ports)
        assert rc.seeds().count(",") == 5
        roles = {p: rc.cli(p, "ROLE")[0] for p in rc.ports}
        assert sorted(roles.values()) == ["master"] * 3 + ["slave"] * 3, roles

        by_master = {}
        for i in range(60):
            by_master.setdefault(rc.master_of(f"doc-{i}"), []).append(f"doc-{i}")
        assert set(by_master) == set(masters), by_master
        assert min(len(d) for d in by_master.values()) >= 5, {p: len(d) for p, d in by_master.items()}

        # A document's channel is served where master_of says and refused
        # (MOVED) elsewhere; the served calls are what spublish_counts reads.
        doc = by_master[masters[0]][0]
        assert rc.cli(masters[0], "SPUBLISH", f"stet:doc:{doc}", "x") == ["0"]
        assert rc.cli(masters[1], "SPUBLISH", f"stet:doc:{doc}", "x")[0].startswith("MOVED")
        counts = rc.spublish_counts()
        assert counts[masters[0]] == 1 and counts[masters[1]] == 0, counts

        t0 = time.monotonic()
        promoted = rc.kill_master(masters[0])
        print(f"replica {promoted} promoted in place of {masters[0]} after {time.monotonic() - t0:.1f} s")
        assert promoted not in masters and promoted in rc.masters()
        assert masters[0] not in rc.masters() and len(rc.masters()) == 3
        assert rc.master_of(doc) == promoted
        assert rc.cli(promoted, "SPUBLISH", f"stet:doc:{doc}", "x") == ["0"]
        assert rc.spublish_counts()[promoted] == 1


def test_with_a_password_nothing_answers_without_it():
    with ShardedRedis(password="cluster-test-password") as rc:
        port = rc.masters()[0]
        # The replicas synced (start() waits for it), so masterauth works.
        assert rc.cli(port, "PING") == ["PONG"]
        assert redis_cli(port, "PING")[0].startswith("NOAUTH")  # no password given
        assert rc.kill_master(port) in rc.masters()
