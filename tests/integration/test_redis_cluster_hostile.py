"""A Redis Cluster node that lies, against a real stet node (--redis-cluster):
a fake cluster node in this process (asyncio, RESP2) serves every slot and
answers commands with redirects to places the cluster never named, with
addresses that are no address, with TRYAGAIN forever, or by dropping the
connection when asked for the slot map. stet must stay up, never follow a
redirect (and send its login) to a node the cluster did not name, and keep
its retries bounded."""

import asyncio
import threading
import time

import pytest

from stet_harness import Server, fresh_database, http_ok, postgres_available

pytestmark = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


def _bulk(b):
    b = b.encode() if isinstance(b, str) else b
    return b"$%d\r\n%s\r\n" % (len(b), b)


class FakeClusterNode:
    """One RESP2 server on a free loopback port, on its own thread. `mode`:
    "moved-elsewhere" (every data command: MOVED to `elsewhere`),
    "moved-garbage" (MOVED to "a,b:7000"), "tryagain", or "drop-slots"
    (closes the connection on CLUSTER NODES). Counts what it was sent."""

    def __init__(self, mode, elsewhere=0):
        self.mode, self.elsewhere = mode, elsewhere
        self.connections = self.commands = self.cluster_nodes = 0
        self.logins = []
        self.port = None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(5)

    def _run(self, ready):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _command(self, r):
        line = await r.readline()
        if not line.startswith(b"*"):
            return None
        args = []
        for _ in range(int(line[1:])):
            n = int((await r.readline())[1:])
            args.append((await r.readexactly(n + 2))[:-2].decode(errors="replace"))
        return args

    async def _serve(self, r, w):
        self.connections += 1
        try:
            while (c := await self._command(r)) is not None:
                self.commands += 1
                name = c[0].upper()
                if name == "AUTH":
                    self.logins.append(c[1:])
                    w.write(b"+OK\r\n")
                elif name == "PING":
                    w.write(b"+PONG\r\n")
                elif name == "CLUSTER":
                    self.cluster_nodes += 1
                    if self.mode == "drop-slots":
                        break
                    w.write(_bulk(f"aaaa 127.0.0.1:{self.port}@1 myself,master - 0 0 1 connected 0-16383\n"))
                elif name in ("SSUBSCRIBE", "SUNSUBSCRIBE"):
                    w.write(b"*3\r\n" + _bulk(name.lower()) + _bulk(c[1]) + b":1\r\n")
                elif self.mode == "moved-elsewhere":
                    w.write(b"-MOVED 0 127.0.0.1:%d\r\n" % self.elsewhere)
                elif self.mode == "moved-garbage":
                    w.write(b"-MOVED 0 a,b:7000\r\n")
                elif self.mode == "tryagain":
                    w.write(b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n")
                elif name == "ZRANGE":
                    w.write(b"*0\r\n")
                else:
                    w.write(b":1\r\n")
                await w.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        w.close()


@pytest.fixture
def database():
    yield from fresh_database("stet_redis_hostile")


def stet_on(database, tmp_path, node, login="redis://:s3cret@127.0.0.1:1"):
    key = tmp_path / "cluster.key"
    key.write_text(Server.CLUSTER_SECRET)
    return Server("--redis-cluster", f"127.0.0.1:{node.port}", "--redis", login, "--cluster-secret-file", str(key),
                  "--node-id", "n1", backend="postgres", database=database).start()


@pytest.mark.parametrize("mode", ["moved-elsewhere", "moved-garbage"])
def test_a_redirect_to_a_node_the_cluster_did_not_name_is_not_followed(database, tmp_path, mode):
    attacker = FakeClusterNode("plain")
    node = FakeClusterNode(mode, elsewhere=attacker.port)
    server = stet_on(database, tmp_path, node)
    try:
        time.sleep(4)  # membership heartbeats and the liveness pings go out and are redirected
        assert server.proc.poll() is None, f"stet died: {server.log()[-2000:]}"
        assert node.commands > 0
        assert attacker.connections == 0 and attacker.logins == [], "stet followed the redirect (and sent its login)"
        print(f"{mode}: {node.commands} commands to the lying node in 4 s, none to {attacker.port}")
    finally:
        server.stop()
        node.stop()
        attacker.stop()


def test_retries_and_slot_map_requests_stay_bounded(database, tmp_path):
    tryagain = FakeClusterNode("tryagain")
    server = stet_on(database, tmp_path, tryagain)
    try:
        before = tryagain.commands
        time.sleep(3)
        per_second = (tryagain.commands - before) / 3
        assert server.proc.poll() is None
        # Membership sends a few commands a second; each is tried again every
        # 200 ms for 1 s at most: tens a second, not thousands.
        assert per_second < 300, f"{per_second:.0f} commands/s to a node answering TRYAGAIN"
    finally:
        server.stop()
        tryagain.stop()
    dropping = [FakeClusterNode("drop-slots") for _ in range(4)]
    key = tmp_path / "cluster.key"
    key.write_text(Server.CLUSTER_SECRET)
    server = Server("--redis-cluster", ",".join(f"127.0.0.1:{n.port}" for n in dropping), "--cluster-secret-file",
                    str(key), "--node-id", "n1", backend="postgres", database=database).start()
    try:
        time.sleep(5)
        asked = [n.cluster_nodes for n in dropping]
        assert server.proc.poll() is None
        # One chain of questions at a time, backing off: not one that doubles
        # at every node that drops the question.
        assert max(asked) <= 15, f"CLUSTER NODES asked {asked} times in 5 s"
        assert not http_ok(server.port, "/readyz"), "ready without a slot map"
        print(f"tryagain: {per_second:.0f} commands/s; slot map asked {asked} times in 5 s of nodes that drop it")
    finally:
        server.stop()
        for n in dropping:
            n.stop()
