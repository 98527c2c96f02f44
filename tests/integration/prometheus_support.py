"""A real Prometheus (the system's `prometheus`) scraping real stet nodes
with the project's alert rules loaded, for fault tests that assert what an
SRE would see: which alerts fire during a fault and that they resolve after
it. The rules are the project's (k8s/prometheus/rules.yml) with every
duration compressed (compress_rules) so that alerts meant to wait minutes
wait seconds."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

from stet_harness import REPO

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
RULES = os.path.join(REPO, "k8s", "prometheus", "rules.yml")
JOB = "stet"  # the job the rules select (up{job="stet"})
# Scrapes and rule evaluations once a second: a fault shows within a
# second or two, and a range of a few seconds holds several samples.
INTERVAL_MS = 1000
# One minute of the project's rules lasts three seconds: `for: 1m` waits
# 3 s, `[5m]` looks back 15 s, and the longest (10m) 30 s.
DEFAULT_SPEEDUP = 20
# Below these the compressed rules would mean something else: a `for`
# shorter than two evaluations would fire on the first bad sample, and a
# range shorter than four scrapes could hold fewer than the two samples
# rate() needs whenever a scrape is late.
MIN_FOR_MS = 2 * INTERVAL_MS
MIN_RANGE_MS = 4 * INTERVAL_MS


def available():
    return PROMETHEUS is not None and PROMTOOL is not None


_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}
_PART = r"\d+(?:ms|s|m|h|d|w|y)"
DURATION = rf"(?:{_PART})+"


def parse_duration(text):
    """Milliseconds in a Prometheus duration such as 5m or 1h30m."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def format_duration(ms):
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def compress_duration(text, speedup, floor_ms):
    """`text` divided by `speedup`, never below `floor_ms`: the one place the
    rules' time scale is decided."""
    return format_duration(max(floor_ms, round(parse_duration(text) / speedup)))


def compress_expr(expr, speedup):
    """`expr` with its range selectors ([5m]), subquery ranges and steps
    ([30m:1m]) and offsets (offset 1h) compressed; nothing else changes."""
    def selector(m):
        out = "[" + compress_duration(m.group(1), speedup, MIN_RANGE_MS)
        if m.group(2) is not None:
            out += ":" + (compress_duration(m.group(3), speedup, INTERVAL_MS) if m.group(3) else "")
        return out + "]"

    expr = re.sub(rf"\[\s*({DURATION})\s*(:\s*({DURATION})?\s*)?\]", selector, expr)
    return re.sub(rf"\boffset(\s+)({DURATION})\b",
                  lambda m: "offset" + m.group(1) + compress_duration(m.group(2), speedup, INTERVAL_MS), expr)


def compress_rules(text, speedup=DEFAULT_SPEEDUP):
    """The rules file `text` with every `for:` and every duration in an
    expression divided by `speedup`. Names, labels, annotations and the
    rest of each expression stay exactly the project's."""
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        # A group's own evaluation interval would override the global 1 s.
        group.pop("interval", None)
        for rule in group["rules"]:
            rule["expr"] = compress_expr(str(rule["expr"]), speedup)
            if "for" in rule:
                rule["for"] = compress_duration(str(rule["for"]), speedup, MIN_FOR_MS)
    return yaml.safe_dump(doc, sort_keys=False, width=10_000, allow_unicode=True)


def target_of(node):
    """host:port of a node's /metrics: a stet_harness.Server (its probe
    port, which stays the same across restart() unless --metrics-listen
    asked for port 0), a port number, or a host:port string."""
    if isinstance(node, str):
        return node
    if isinstance(node, int):
        return f"127.0.0.1:{node}"
    return f"127.0.0.1:{node.probe_port}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """One prometheus process on a free loopback port with its own temporary
    storage, scraping `targets` (see target_of) as job "stet" every second
    and evaluating the compressed rules every second. A context manager;
    when the block fails, the folder with the config, rules and log
    (log_path) is kept and named on stderr."""

    def __init__(self, targets=(), rules_path=RULES, speedup=DEFAULT_SPEEDUP):
        self.targets = [target_of(t) for t in targets]
        self.rules_path = rules_path
        self.speedup = speedup
        self.dir = None
        self.port = None
        self.proc = None
        self.log_path = None

    # -- lifecycle -------------------------------------------------------

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="stet-prometheus-")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.rules_file = os.path.join(self.dir, "rules.yml")
        self.config_file = os.path.join(self.dir, "prometheus.yml")
        with open(self.rules_path) as f:
            compressed = compress_rules(f.read(), self.speedup)
        with open(self.rules_file, "w") as f:
            f.write(compressed)
        # Prometheus would only log a rules file it cannot load and run
        # without it; promtool says why.
        check = subprocess.run([PROMTOOL, "check", "rules", self.rules_file], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"compressed rules do not parse ({self.rules_file}):\n{check.stdout}{check.stderr}")
        self._write_config()
        # The port is picked before prometheus binds it; another process may
        # take it first, so try again on a new one.
        for _ in range(3):
            self.port = _free_port()
            if self._launch():
                return self
        raise RuntimeError(f"prometheus did not start: {self.log()}")

    def _launch(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config_file}", f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle", "--log.level=info"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready after 30 s: {self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc):
        self.stop()
        if exc_type is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"prometheus config, compressed rules and log kept in {self.dir}", file=sys.stderr)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    # -- configuration ---------------------------------------------------

    def _write_config(self):
        interval = format_duration(INTERVAL_MS)
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [self.rules_file],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(self.targets)}]}],
        }
        with open(self.config_file, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)

    def set_targets(self, targets, timeout=20):
        """Scrapes `targets` from now on (nodes started later, say): rewrites
        the config, reloads it, and waits until prometheus lists exactly
        these targets (it applies new targets every few seconds)."""
        self.targets = [target_of(t) for t in targets]
        self._write_config()
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        self._wait(lambda: sorted(self.target_health()) == sorted(self.targets), timeout,
                   lambda: f"targets {sorted(self.target_health())}, want {sorted(self.targets)}")

    # -- reading ---------------------------------------------------------

    def _get(self, path, **params):
        url = f"{self.url}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        if body.get("status") != "success":
            raise RuntimeError(f"GET {path} {params}: {body}")
        return body["data"]

    def target_health(self):
        """{host:port: "up" | "down" | "unknown"} of the active targets."""
        return {t["labels"]["instance"]: t["health"] for t in self._get("/api/v1/targets")["activeTargets"]}

    def wait_until_scraped(self, timeout=30):
        """Waits until every target has been scraped successfully: the start
        of a test, before any fault."""
        self._wait(lambda: set(self.target_health().items()) == {(t, "up") for t in self.targets}, timeout,
                   lambda: f"targets {self.target_health()}")

    def alerts(self):
        """[(alertname, state, labels)] of the pending and firing alerts."""
        return [(a["labels"]["alertname"], a["state"], a["labels"]) for a in self._get("/api/v1/alerts")["alerts"]]

    def query(self, expr):
        """An instant query: [(labels, value)] for a vector, the value for a
        scalar."""
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] == "vector":
            return [(s["metric"], float(s["value"][1])) for s in data["result"]]
        return float(data["result"][1])

    def wait_for_result(self, expr, timeout=30):
        """Waits until the instant query `expr` (a filter such as `x == 1`)
        returns samples; returns them as query() does."""
        found = []

        def seen():
            found[:] = self.query(expr)
            return found

        self._wait(seen, timeout, lambda: f"{expr} returned nothing")
        return found

    def _matching(self, name, labels):
        return [(state, l) for n, state, l in self.alerts()
                if n == name and all(l.get(k) == v for k, v in (labels or {}).items())]

    def wait_for_alert(self, name, state="firing", timeout=30, labels=None):
        """Waits until alert `name` (with `labels`, if given) is in `state`;
        returns its labels."""
        found = []

        def seen():
            found[:] = [l for s, l in self._matching(name, labels) if s == state]
            return found

        self._wait(seen, timeout, lambda: f"{name} {labels or ''} never {state}")
        return found[0]

    def wait_until_resolved(self, name, timeout=30, labels=None):
        """Waits until alert `name` (with `labels`, if given) is neither
        pending nor firing."""
        self._wait(lambda: not self._matching(name, labels), timeout, lambda: f"{name} {labels or ''} still active")

    def _wait(self, done, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if done():
                return
            time.sleep(0.2)
        raise TimeoutError(f"after {timeout} s: {what()}; alerts {self.alerts()}; targets {self.target_health()}; "
                           f"log {self.log_path}:\n{self.log()[-3000:]}")
