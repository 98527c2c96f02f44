"""11. WebSocket compression (permessage-deflate) on and off."""

from runner.harness import Stet, loadgen

WINDOW_BITS = 10  # what the rows with compression use, on both sides


def scenario_compression(profile):
    """11. permessage-deflate on and off: the hot document (N = 100, 10
    writers x 10 edits/s) with English-like edits of two sizes, and idle
    joined connections. Reports loopback bytes per delivery (both
    directions, TCP/IP headers included), server CPU per delivery and the
    memory each connection holds. Runs alternate off/on, so drift on a
    noisy machine falls on both."""
    repeats = 1 if profile == "smoke" else 3
    duration = 2 if profile == "smoke" else 8
    rows = []
    for _ in range(repeats):
        for edit_bytes in (20, 200):
            for bits in (0, WINDOW_BITS):
                s = Stet(*(["--ws-compression", str(bits)] if bits else []))
                try:
                    r = loadgen(s, "--docs", 1, "--conns-per-doc", 100, "--writers-per-doc", 10, "--rate", 10,
                                "--edit-bytes", edit_bytes, "--text", "prose", "--compress", bits,
                                "--duration", duration, "--warmup", 1, "--sources", 4)
                    r.update(kind="hot", compression_bits=bits, edit_bytes=edit_bytes)
                    rows.append(r)
                finally:
                    s.stop()
    idle = 500 if profile == "smoke" else 5000
    for bits in (0, WINDOW_BITS):
        s = Stet(*(["--ws-compression", str(bits)] if bits else []))
        try:
            before = s.status_kb("VmRSS")
            readings = {}

            def at_mark(name, s=s, readings=readings):
                if name == "measure start":
                    readings["rss"] = s.status_kb("VmRSS")

            # Each connection's snapshot (and with compression, its zlib
            # state) is in place before the reading.
            r = loadgen(s, "--docs", idle // 10, "--conns-per-doc", 10, "--writers-per-doc", 0, "--rate", 0,
                        "--compress", bits, "--hold", 2, "--sources", 4, on_mark=at_mark)
            r.update(kind="idle", compression_bits=bits, connections=idle,
                     kib_per_connection=(readings["rss"] - before) / idle)
            rows.append(r)
        finally:
            s.stop()

    def mean(kind, bits, key, edit_bytes=None):
        vals = [r[key] for r in rows if r["kind"] == kind and r["compression_bits"] == bits and key in r
                and (edit_bytes is None or r["edit_bytes"] == edit_bytes)]
        return sum(vals) / len(vals) if vals else None

    labels = ["bytes/delivery, 20 B edits", "bytes/delivery, 200 B edits"]
    chart = {("on" if bits else "off"): [mean("hot", bits, "loopback_bytes_per_delivery", 20),
                                          mean("hot", bits, "loopback_bytes_per_delivery", 200)]
             for bits in (0, WINDOW_BITS)}
    return rows, ("permessage-deflate: loopback bytes per delivery", labels, chart, "bytes")
