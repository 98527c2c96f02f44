"""fault_proxy.FaultProxy in front of a small asyncio echo server: it
forwards both ways in order, and each fault does what it says (latency
delays, drop closes, a black hole never answers, a partition refuses) until
heal() restores forwarding."""

import asyncio
import socket
import threading
import time

import pytest

from fault_proxy import FaultProxy


class EchoServer:
    """Echoes every byte back, on its own loop in a thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._echo, "127.0.0.1", 0), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _echo(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def close(self):
        async def stop():
            self.server.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def proxy():
    echo = EchoServer()
    with FaultProxy("127.0.0.1", echo.port) as p:
        yield p
    echo.close()


def connect(proxy, timeout=2.0):
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    s.settimeout(timeout)
    return s


def round_trip(sock, payload=b"ping"):
    """Seconds for `payload` to come back whole."""
    start = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        got += chunk
    assert got == payload
    return time.monotonic() - start


def closed_by_peer(sock, timeout=2.0):
    """Whether the peer closed or reset the connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b""
    except (ConnectionError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_forwards_both_ways_in_order_and_counts(proxy):
    with connect(proxy) as s:
        round_trip(s, b"hello")
        # More than the proxy buffers per direction: it must pause and resume
        # reading, not lose or reorder anything.
        payload = bytes(i % 251 for i in range(3 * 1024 * 1024))
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        got = bytearray()
        while len(got) < len(payload):
            got += s.recv(1 << 20)
        sender.join()
        assert bytes(got) == payload
    assert proxy.connections_accepted == 1
    assert proxy.bytes_up == proxy.bytes_down == len(payload) + 5
    assert proxy.bytes_forwarded == 2 * (len(payload) + 5)


def test_latency_adds_its_delay_each_way_and_heal_removes_it(proxy):
    with connect(proxy) as s:
        base = min(round_trip(s) for _ in range(3))
        proxy.latency(150)
        slow = round_trip(s)
        assert slow >= 0.29, slow  # 150 ms there and 150 ms back
        proxy.heal()
        assert round_trip(s) < base + 0.1


def test_drop_closes_current_connections_and_accepts_new_ones(proxy):
    s1, s2 = connect(proxy), connect(proxy)
    round_trip(s1)
    round_trip(s2)
    proxy.drop()
    assert closed_by_peer(s1) and closed_by_peer(s2)
    assert wait_until(lambda: proxy.open_connections == 0)
    with connect(proxy) as s3:
        round_trip(s3)
    assert proxy.connections_accepted == 3
    s1.close()
    s2.close()


def test_blackhole_never_answers_then_closes_and_restores(proxy):
    held = connect(proxy)
    round_trip(held)
    proxy.blackhole()
    held.settimeout(0.5)
    with pytest.raises(socket.timeout):
        round_trip(held)
    # A new connection is accepted (the handshake completes) but never answered.
    late = connect(proxy, timeout=0.5)
    with pytest.raises(socket.timeout):
        round_trip(late)
    assert proxy.connections_accepted == 2
    forwarded = proxy.bytes_forwarded
    proxy.blackhole(False)
    assert closed_by_peer(held) and closed_by_peer(late)
    assert proxy.bytes_forwarded == forwarded, "something passed the black hole"
    with connect(proxy) as s:
        round_trip(s)
    held.close()
    late.close()


def test_partition_refuses_until_healed(proxy):
    before = connect(proxy)
    round_trip(before)
    proxy.partition()
    assert closed_by_peer(before)
    # Reset at once: sometimes before connect() returns, else on first use.
    with pytest.raises(ConnectionError):
        with connect(proxy) as s:
            round_trip(s)
    proxy.heal()
    with connect(proxy) as s:
        round_trip(s)
    before.close()


def test_a_target_that_is_gone_resets_the_client():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with FaultProxy("127.0.0.1", port) as p:
        with pytest.raises(ConnectionError):
            with connect(p) as s:
                round_trip(s)
        assert p.upstream_failures == 1
