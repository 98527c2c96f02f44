"""permessage-deflate: negotiated per connection when the server offers it
(`--ws-compression BITS`), compressed and plain clients editing one
document together, and a decompression bomb refused (1009) before it can
grow in the server's memory."""

import asyncio
import json
import socket
import zlib

import pytest
import websockets

from stet_harness import Client, Server


def extensions(client):
    return [type(e).__name__ for e in client.ws.extensions]


def rss_kb(server, key="VmHWM"):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(key + " missing")


def test_compressed_and_plain_clients_edit_one_document():
    async def main():
        with Server("--ws-compression", "10") as server:
            packed = await Client(server.ws_url, "packed").connect()
            plain = await Client(server.ws_url, "plain", compression=None).connect()
            assert extensions(packed) == ["PerMessageDeflate"]
            assert extensions(plain) == []
            for c in (packed, plain):
                await c.join("shared")
            # Large enough to be worth compressing, with characters a
            # deflate round trip must keep: multi-byte UTF-8.
            words = "héllo wörld 🦀 " * 2000
            await packed.edit("shared", 1, [{"insert": words}])
            await plain.wait_for(lambda: plain.text == words)
            await plain.edit("shared", 1, [{"retain": len(words)}, {"insert": "!"}], base_rev=1)
            await packed.wait_for(lambda: packed.text == words + "!")
            for c in (packed, plain):
                await c.close()
            status, body = server.get_document("shared")
            assert status == 200 and body["text"] == words + "!"

    asyncio.run(main())


def test_without_the_flag_nothing_is_compressed():
    async def main():
        with Server() as server:
            c = await Client(server.ws_url, "asks").connect()
            assert extensions(c) == []
            await c.join("plain-doc")
            await c.edit("plain-doc", 1, [{"insert": "x"}])
            await c.wait_for(lambda: c.text == "x")
            await c.close()

    asyncio.run(main())


def test_a_client_that_cannot_shrink_its_window_is_served_uncompressed():
    # RFC 7692: without client_max_window_bits in the offer the server may
    # not limit the client's window; stet then declines rather than keep
    # a 32 KB inflate window for the session.
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    async def main():
        with Server("--ws-compression", "10") as server:
            factory = ClientPerMessageDeflateFactory(client_max_window_bits=None)
            c = await Client(server.ws_url, "wide", extensions=[factory], compression=None).connect()
            assert extensions(c) == []
            await c.join("wide-doc")
            await c.edit("wide-doc", 1, [{"insert": "ok"}])
            await c.wait_for(lambda: c.text == "ok")
            await c.close()

    asyncio.run(main())


@pytest.mark.parametrize("offer", [
    "permessage-deflate; server_max_window_bits=99",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; server_max_window_bits; server_max_window_bits=10",
    "permessage-deflate; unknown_parameter=1",
    "permessage-deflate; client_max_window_bits=\x00",
    "permessage-deflate" + "; x" * 2000,
])
def test_malformed_offers_are_declined_and_the_server_goes_on(offer):
    with Server("--ws-compression", "10") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                       f"Sec-WebSocket-Extensions: {offer}\r\n\r\n").encode("latin-1"))
            head = s.recv(4096).decode("latin-1")
        status = head.split("\r\n", 1)[0]
        # Either a plain upgrade (the extension declined) or a refusal of
        # the request: never an extension the offer did not allow.
        assert status.startswith("HTTP/1.1 101") or status.startswith("HTTP/1.1 4"), head
        assert "permessage-deflate" not in head.lower() or "client_max_window_bits=10" in head, head

        async def still_serving():
            c = await Client(server.ws_url, "after").connect()
            await c.join("after-doc")
            await c.edit("after-doc", 1, [{"insert": "fine"}])
            await c.wait_for(lambda: c.text == "fine")
            await c.close()

        asyncio.run(still_serving())


def test_a_decompression_bomb_is_refused_with_1009_and_costs_no_memory():
    async def main():
        with Server("--ws-compression", "10", "--max-frame-bytes", "65536") as server:
            bystander = await Client(server.ws_url, "bystander").connect()
            await bystander.join("bombed")
            await bystander.edit("bombed", 1, [{"insert": "before"}])
            await bystander.wait_for(lambda: bystander.text == "before")
            before = rss_kb(server, "VmRSS")
            # 64 MB of one byte: well under the 64 KB limit on the wire
            # (websockets compresses it), a thousand times over it inflated.
            bomb = json.dumps({"edit": {"docId": "bombed", "clientSeq": 1, "ops": [{"insert": "a" * (64 << 20)}]}})
            assert len(zlib.compress(bomb.encode(), 6)) < 65536
            attacker = await Client(server.ws_url, "attacker").connect()
            assert extensions(attacker) == ["PerMessageDeflate"]
            await attacker.ws.send(bomb)
            await asyncio.wait_for(attacker._reader, 10)
            assert attacker.ws.close_code == 1009
            # Beast stops inflating once the message passes the limit.
            assert rss_kb(server) - before < 16 * 1024
            # Nothing of it was applied, and everyone else goes on.
            await bystander.edit("bombed", 2, [{"retain": 6}, {"insert": " after"}], base_rev=1)
            await bystander.wait_for(lambda: bystander.text == "before after")
            await bystander.close()
            assert server.get_document("bombed")[1]["text"] == "before after"

    asyncio.run(main())


def test_a_bomb_in_a_binary_frame_is_refused_too():
    async def main():
        with Server("--ws-compression", "10", "--max-frame-bytes", "65536") as server:
            ws = await websockets.connect(server.ws_url)
            assert [type(e).__name__ for e in ws.extensions] == ["PerMessageDeflate"]
            await ws.send(b"\x00" * (32 << 20))
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(10):
                    await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009
            status, _ = server.get_document("anything")
            assert status in (200, 404)

    asyncio.run(main())
