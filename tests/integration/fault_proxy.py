"""A TCP proxy that injects network faults between a test's clients and a
stet node: latency, dropped connections, a black hole (a peer that never
answers) and a partition (connections refused). Debian has no toxiproxy and
the test machines' kernels have no netem, so the faults are made in Python.

The proxy runs an asyncio loop in its own thread, so synchronous pytest code
and a test's own event loop can both drive it; every control returns once
its effect has happened (a dropped connection is closed when `drop()`
returns)."""

import asyncio
import socket
import struct
import threading

CHUNK = 64 * 1024
# Chunks read but not yet written, per direction: 16 x 64 KiB = 1 MiB. A full
# queue stops the reader, so a slow or stalled side costs bounded memory and
# back-pressure reaches the sender through TCP, as it would without us.
QUEUE_CHUNKS = 16
WRITE_HIGH_WATER = 1024 * 1024


class _Connection:
    """One client connection and, unless black-holed, its upstream one."""

    def __init__(self, client_writer, blackholed):
        self.client = client_writer
        self.upstream = None
        self.blackholed = blackholed
        self.tasks = []
        self.closed = asyncio.Event()

    def abort(self):
        """Closes both sides at once, without flushing: what a crashed peer
        or a pulled cable looks like to the client."""
        if self.closed.is_set():
            return
        self.closed.set()
        for w in (self.client, self.upstream):
            if w is not None:
                w.transport.abort()
        for t in self.tasks:
            if t is not asyncio.current_task():
                t.cancel()


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards every connection to
    target_host:target_port until told to misbehave. Counters
    (`connections_accepted`, `bytes_up` client to target, `bytes_down`
    target to client, `bytes_forwarded` both) are for assertions. Controls
    may be called from any thread but the proxy's own; `close()` (or leaving
    the `with` block) stops the thread."""

    def __init__(self, target_host, target_port, listen_host="127.0.0.1", port=0):
        self.target = (target_host, target_port)
        self.connections_accepted = 0
        self.upstream_failures = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._latency = 0.0
        self._blackhole = False
        self._partition = False
        self._conns = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, listen_host, port))
        self.port = self._server.sockets[0].getsockname()[1]
        self.host = listen_host

    # -- observers --

    @property
    def bytes_forwarded(self):
        return self.bytes_up + self.bytes_down

    @property
    def open_connections(self):
        return len(self._conns)

    def url(self, path="/ws"):
        """The WebSocket URL of the proxied node."""
        return f"ws://{self.host}:{self.port}{path}"

    # -- faults --

    def latency(self, ms):
        """Delays every chunk read after this call by `ms` in each direction
        (0 turns it off). Chunks keep their order and do not queue behind
        each other's delays."""
        self._latency = max(0.0, ms / 1000.0)

    def drop(self):
        """Closes every current connection; new ones are still accepted."""
        self._call(self._abort_all())

    def blackhole(self, on=True):
        """On: current and new connections stay open but nothing passes in
        either direction, and new ones are never connected onward. Off:
        new connections are forwarded again and the black-holed ones are
        closed (their clients resend on a new connection)."""
        self._call(self._set_blackhole(on))

    def partition(self, on=True):
        """On: current connections are closed and new ones reset at once."""
        self._partition = on
        if on:
            self._call(self._abort_all())

    def heal(self):
        """Every fault off."""
        self._latency = 0.0
        self.partition(False)
        self.blackhole(False)

    def close(self):
        if self._loop.is_closed():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- inside the proxy's loop --

    def _call(self, coro, timeout=10):
        if threading.current_thread() is self._thread:
            raise RuntimeError("FaultProxy controls must not be called from the proxy's own thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _abort_all(self):
        for c in list(self._conns):
            c.abort()
        self._conns.clear()

    async def _set_blackhole(self, on):
        self._blackhole = on
        for c in list(self._conns):
            if on:
                c.blackholed = True
            elif c.blackholed:
                c.abort()
                self._conns.discard(c)

    async def _shutdown(self):
        self._server.close()
        await self._abort_all()
        await self._server.wait_closed()
        # Let the cancelled tasks finish before the loop stops under them.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in others:
            t.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _accept(self, reader, writer):
        self.connections_accepted += 1
        if self._partition:
            # SO_LINGER 0: close sends RST, so the client sees a refusal,
            # not an orderly end of stream.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        conn = _Connection(writer, self._blackhole)
        self._conns.add(conn)
        if conn.blackholed:
            return  # held open, unread, until the black hole ends or a drop
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            # Nothing listens there (a killed node): the client sees a reset.
            self.upstream_failures += 1
            conn.abort()
            self._conns.discard(conn)
            return
        if conn.closed.is_set():  # dropped while connecting
            up_writer.transport.abort()
            return
        conn.upstream = up_writer
        for w in (writer, up_writer):
            w.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        conn.tasks = [asyncio.ensure_future(self._pipe(conn, reader, up_writer, "bytes_up")),
                      asyncio.ensure_future(self._pipe(conn, up_reader, writer, "bytes_down"))]
        done = asyncio.ensure_future(self._finish_when_both_done(conn))
        conn.tasks.append(done)

    async def _finish_when_both_done(self, conn):
        await asyncio.wait(conn.tasks[:2])
        conn.abort()
        self._conns.discard(conn)

    async def _pipe(self, conn, reader, writer, counter):
        """Forwards one direction: a reader task fills a bounded queue with
        (due time, chunk); this task writes each chunk when it is due."""
        queue = asyncio.Queue(QUEUE_CHUNKS)
        loop = asyncio.get_running_loop()

        async def read():
            try:
                while True:
                    data = await reader.read(CHUNK)
                    await queue.put((loop.time() + self._latency, data))
                    if not data:
                        return
            except (OSError, asyncio.IncompleteReadError):
                await queue.put((loop.time(), b""))

        reading = asyncio.ensure_future(read())
        try:
            while True:
                due, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if conn.blackholed:
                    await conn.closed.wait()  # nothing passes until it is closed
                    return
                if not data:
                    # Pass the half-close on; the other direction may still flow.
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                writer.write(data)
                setattr(self, counter, getattr(self, counter) + len(data))
                await writer.drain()
        except (OSError, ConnectionError):
            return
        finally:
            reading.cancel()
