"""A long editing history (automerge-paper's 259,778 edits where the public
traces are given, else the longest generated one) replayed over one
WebSocket ends with the trace's endContent, durably."""

import asyncio
import gzip
import json
import os
import time

import websockets

from stet_harness import REPO, Server, longest_sequential_trace

WINDOW = 1000  # edits in flight; below the server's per-session queue bound


def load_trace(path):
    with gzip.open(path) as f:
        return json.load(f)


def frames(trace, doc):
    seq = 0
    for txn in trace["txns"]:
        for pos, delete, insert in txn["patches"]:
            seq += 1
            ops = []
            if pos:
                ops.append({"retain": pos})
            if insert:
                ops.append({"insert": insert})
            if delete:
                ops.append({"delete": delete})
            # The only writer: edit n is based on revision n - 1.
            yield seq, json.dumps({"edit": {"docId": doc, "baseRev": seq - 1, "clientSeq": seq, "ops": ops}})


async def replay(server, trace, doc):
    async with websockets.connect(server.ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"hello": {"clientId": "replayer"}}))
        await ws.recv()
        await ws.send(json.dumps({"join": {"docId": doc}}))
        assert "snapshot" in json.loads(await ws.recv())
        acked = 0
        errors = []

        async def reader(total):
            nonlocal acked
            while acked < total:
                m = json.loads(await ws.recv())
                if "ack" in m:
                    acked = int(m["ack"]["clientSeq"])
                elif "error" in m:
                    errors.append(m["error"])
                    return

        all_frames = list(frames(trace, doc))
        total = len(all_frames)
        start = time.perf_counter()
        read_task = asyncio.create_task(reader(total))
        for seq, frame in all_frames:
            while seq - acked > WINDOW and not read_task.done():
                await asyncio.sleep(0.0005)
            if read_task.done():
                break
            await ws.send(frame)
        await read_task
        elapsed = time.perf_counter() - start
        assert errors == [], errors[:3]
        return total, elapsed


def test_a_long_history_over_websocket_reaches_end_content():
    name, path = longest_sequential_trace()
    trace = load_trace(path)

    async def main():
        with Server() as server:
            total, elapsed = await replay(server, trace, name)
            status, body = server.get_document(name)
            assert status == 200
            assert int(body["rev"]) == total
            assert body["text"] == trace["endContent"]
            rss_kb = peak_rss_kb(server)
            # Durable: the same text after a SIGKILL and restart.
            server.restart()
            status, body = server.get_document(name)
            assert body["text"] == trace["endContent"]
            result = {"trace": name, "edits": total, "seconds": round(elapsed, 3), "edits_per_second": round(total / elapsed),
                      "server_peak_rss_kb": rss_kb}
            out = os.path.join(REPO, "build", "test-results")
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "trace_replay_websocket.json"), "w") as f:
                json.dump(result, f)
            print(name, "over WebSocket:", result)

    asyncio.run(main())


def peak_rss_kb(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None
