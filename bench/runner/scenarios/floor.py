"""8. The kernel's floor."""

import json
import subprocess

from runner.harness import SERVER_CORE, LOAD_CORE, FLOOR


def scenario_floor(profile):
    """8. The kernel's floor: CPU-seconds per million sends of a 250-byte
    message on loopback TCP (one connection per client, a reader on the
    other core), with nothing else in the server. Paced as the hot
    target's fan-out (100 connections, 100 rounds/s = 10,000 sends/s) and
    unpaced (saturating the core)."""
    rows = []
    for rounds in (100, 0):
        out = subprocess.run([FLOOR, *map(str, ["--conns", 100, "--bytes", 250, "--rounds-per-second", rounds,
                              "--seconds", 1 if profile == "smoke" else 5, "--sender-core", SERVER_CORE,
                              "--reader-core", LOAD_CORE])], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out))
    return rows, ("Kernel floor: CPU per million loopback sends", ["100 rounds/s", "as fast as possible"],
                  {"CPU-s per million sends": [r["cpu_s_per_million_sends"] for r in rows]}, "CPU-seconds")
