"""Kubernetes: every overlay renders with `kubectl kustomize`, the rendered
manifests agree with each other (selectors, named ports, config keys) and
with the real binary: the flags and env names it accepts, the ports it
listens on, the probe and scrape paths it serves. The dev overlay's pod spec
is then run for real (with loopback PostgreSQL and Redis in place of the
in-cluster ones) and probed as the kubelet would. The Dockerfile's runtime
packages must cover every library the binary loads."""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import yaml

from stet_harness import BINARY, REPO, Client, RedisServer, postgres_available, psql

K8S = os.path.join(REPO, "k8s")
OVERLAYS = ["dev", "prod"]


def render(overlay):
    r = subprocess.run(["kubectl", "kustomize", os.path.join(K8S, "overlays", overlay)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def find(docs, kind, name):
    matches = [d for d in docs if d["kind"] == kind and re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?",
                                                                          d["metadata"]["name"])]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def stet_container(docs):
    sts = find(docs, "StatefulSet", "stet")
    [c] = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "stet"]
    return sts, c


def binary_help():
    r = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    return r.stdout


def flag_values(args):
    """{flag: value} of `serve --flag value ...` (value None for a switch)."""
    assert args[0] == "serve"
    out, i = {}, 1
    while i < len(args):
        flag = args[i]
        assert flag.startswith("--"), flag
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[flag] = args[i + 1]
            i += 2
        else:
            out[flag] = None
            i += 1
    return out


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_agrees_with_the_binary(overlay):
    docs = render(overlay)
    help_text = binary_help()
    accepted_flags = set(re.findall(r"^  (--[a-z-]+)", help_text, re.M))
    accepted_env = set(re.findall(r"\b(?:env |Env:)(STET_[A-Z_]+)", help_text))
    sts, c = stet_container(docs)
    pod = sts["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    assert matches(sts["spec"]["selector"]["matchLabels"], pod_labels)

    # Flags and env: only what the binary accepts (it exits on an unknown
    # flag, but would silently ignore an unknown env name).
    flags = flag_values(c["args"])
    assert set(flags) <= accepted_flags, set(flags) - accepted_flags
    env_names = {e["name"] for e in c["env"]}
    assert env_names <= accepted_env, env_names - accepted_env
    # A cluster member needs all of these; the node id must differ per pod.
    assert {"STET_NODE_ID", "STET_POSTGRES_URL", "STET_REDIS_URL", "STET_AUTH_SECRET"} <= env_names
    node_id = next(e for e in c["env"] if e["name"] == "STET_NODE_ID")
    assert node_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"

    # Ports: the container ports are the ones the flags bind.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert int(flags["--listen"].rsplit(":", 1)[1]) == ports["http"]
    assert int(flags["--metrics-listen"].rsplit(":", 1)[1]) == ports["metrics"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in ports, probe
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"

    # Config and secret keys the pod reads exist.
    config = find(docs, "ConfigMap", "stet-config")
    for e in c["env"]:
        ref = e.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            assert ref["configMapKeyRef"]["key"] in config["data"]
            assert re.fullmatch(r"stet-config(-[a-z0-9]{10})?", ref["configMapKeyRef"]["name"])
        if "secretKeyRef" in ref:
            with open(os.path.join(K8S, "base", "secret.template.yaml")) as f:
                template = yaml.safe_load(f)
            assert ref["secretKeyRef"]["key"] in template["stringData"]
            if overlay == "dev":  # generated in the overlay
                secret = find(docs, "Secret", "stet-secrets")
                assert secret["metadata"]["name"] == ref["secretKeyRef"]["name"]
                assert ref["secretKeyRef"]["key"] in secret["data"]
    assert config["data"]["log-level"] in ("debug", "info", "warn", "error")
    with open(os.path.join(K8S, "base", "secret.template.yaml")) as f:
        template = yaml.safe_load(f)["stringData"]
    assert template["redis-url"].startswith("redis://")
    assert len(template["cluster-secret"]) >= 32
    assert "STET_CLUSTER_SECRET" in env_names

    # Only stet pods reach Redis and PostgreSQL.
    for name, port in (("stet-redis-clients", 6379), ("stet-postgres-clients", 5432)):
        policy = find(docs, "NetworkPolicy", name)["spec"]
        assert policy["policyTypes"] == ["Ingress"]
        [rule] = policy["ingress"]
        assert [p["port"] for p in rule["ports"]] == [port]
        assert [matches(f["podSelector"]["matchLabels"], pod_labels) for f in rule["from"]] == [True]
        if overlay == "dev":
            target = find(docs, "Service", policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            assert policy["podSelector"]["matchLabels"] == target["spec"]["selector"]

    # Services, the disruption budget and the ServiceMonitor find the pods.
    headless = find(docs, "Service", "stet-headless")
    assert sts["spec"]["serviceName"] == "stet-headless" and headless["spec"]["clusterIP"] == "None"
    for name in ("stet", "stet-headless"):
        svc = find(docs, "Service", name)
        assert matches(svc["spec"]["selector"], pod_labels)
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports, (name, p)
    pdb = find(docs, "PodDisruptionBudget", "stet")
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    monitor = find(docs, "ServiceMonitor", "stet")
    assert matches(monitor["spec"]["selector"]["matchLabels"], headless["metadata"]["labels"])
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in headless["spec"]["ports"]}
    assert {p["name"]: p["targetPort"] for p in headless["spec"]["ports"]}[endpoint["port"]] == "metrics"
    # The operator takes the job label from the Service (its name without
    # jobLabel); the alert rules select job="stet".
    assert headless["metadata"]["labels"].get(monitor["spec"].get("jobLabel"), headless["metadata"]["name"]) == "stet"

    # Long enough to leave the membership and finish in-flight commits.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 10
    if overlay == "dev":
        assert c["image"] == "stet:dev"
        for name in ("stet-redis", "stet-postgres"):
            find(docs, "Service", name)
        secret = {k: base64.b64decode(v).decode() for k, v in find(docs, "Secret", "stet-secrets")["data"].items()}
        assert "@stet-redis:" in secret["redis-url"]
        redis_password = base64.b64decode(find(docs, "Secret", "stet-redis")["data"]["REDIS_PASSWORD"]).decode()
        assert secret["redis-url"].startswith(f"redis://:{redis_password}@")
    else:
        assert c["image"].startswith("registry.example.com/stet:")
        assert not [d for d in docs if d["kind"] == "Secret"], "production secrets are created out of band"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # not listening yet
        return 0, str(e)


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_dev_pod_spec_runs_and_passes_its_probes():
    docs = render("dev")
    sts, c = stet_container(docs)
    config = find(docs, "ConfigMap", "stet-config")["data"]
    secret = {k: base64.b64decode(v).decode() for k, v in find(docs, "Secret", "stet-secrets")["data"].items()}
    database = f"stet_k8s_{os.getpid()}"
    psql(f"DROP DATABASE IF EXISTS {database}")
    psql(f"CREATE DATABASE {database}")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    local = {name: free_port() for name in ports}
    # The pod's own args, with loopback ports in place of the pod's and no
    # web root (the image has one; this checkout may not).
    args, flags = [], flag_values(c["args"])
    for flag, value in flags.items():
        if flag == "--web-root":
            continue
        if flag in ("--listen", "--metrics-listen"):
            port = int(value.rsplit(":", 1)[1])
            name = next(n for n, p in ports.items() if p == port)
            value = f"127.0.0.1:{local[name]}"
        args += [flag] + ([value] if value is not None else [])
    data = tempfile.mkdtemp(prefix="stet-k8s-")
    with RedisServer(password="stet-dev-redis") as redis:
        env = {"PATH": os.environ["PATH"]}
        for e in c["env"]:
            ref = e.get("valueFrom", {})
            if "fieldRef" in ref:
                env[e["name"]] = "stet-0"
            elif "configMapKeyRef" in ref:
                env[e["name"]] = config[ref["configMapKeyRef"]["key"]]
            elif "secretKeyRef" in ref:
                env[e["name"]] = secret[ref["secretKeyRef"]["key"]]
            else:
                env[e["name"]] = e["value"]
        # In-cluster hostnames stand for the loopback servers of this test.
        assert env["STET_REDIS_URL"] == "redis://:stet-dev-redis@stet-redis:6379"
        env["STET_REDIS_URL"] = redis.url
        assert "@stet-postgres:5432/" in env["STET_POSTGRES_URL"]
        env["STET_POSTGRES_URL"] = f"dbname={database}"
        for k in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD"):
            if k in os.environ:
                env[k] = os.environ[k]
        log = open(os.path.join(data, "pod.log"), "w+")
        proc = subprocess.Popen([BINARY, *c["args"][:1], *args], cwd=data, stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        try:
            def probe(name):
                h = c[name]["httpGet"]
                return get(f"http://127.0.0.1:{local[h['port']]}{h['path']}")[0]

            startup = c["startupProbe"]
            deadline = time.time() + startup["periodSeconds"] * startup["failureThreshold"]
            while probe("startupProbe") != 200:
                assert proc.poll() is None, open(log.name).read()
                assert time.time() < deadline, "startup probe never passed"
                time.sleep(0.2)
            deadline = time.time() + 15
            while probe("readinessProbe") != 200:
                assert time.time() < deadline, "never ready: " + get(
                    f"http://127.0.0.1:{local['metrics']}/readyz")[1]
                time.sleep(0.2)
            assert probe("livenessProbe") == 200
            status, text = get(f"http://127.0.0.1:{local['metrics']}/metrics")
            assert status == 200 and re.search(r"^stet_cluster_nodes 1$", text, re.M)
            lines = [json.loads(l) for l in open(log.name).read().splitlines() if l.startswith("{")]
            assert {l.get("node") for l in lines} == {"stet-0"}

            # The client Service's port: register, log in, edit over /ws.
            http = f"http://127.0.0.1:{local['http']}"
            req = urllib.request.Request(http + "/api/register", method="POST", data=json.dumps(
                {"username": "kube", "password": "correct horse battery"}).encode(),
                headers={"Content-Type": "application/json"})
            assert urllib.request.urlopen(req).status == 201
            req = urllib.request.Request(http + "/api/login", method="POST", data=json.dumps(
                {"username": "kube", "password": "correct horse battery"}).encode(),
                headers={"Content-Type": "application/json"})
            token = json.loads(urllib.request.urlopen(req).read())["token"]

            async def edit():
                client = await Client(f"ws://127.0.0.1:{local['http']}/ws", "kube").connect(token=token)
                await client.join("k8s-doc")
                await client.edit("k8s-doc", 1, [{"insert": "scaled"}])
                await client.wait_for(lambda: client.acks)
                await client.close()
            asyncio.run(edit())

            # kubelet's SIGTERM: the node leaves and exits within the grace period.
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
            assert proc.returncode == 0, open(log.name).read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            shutil.rmtree(data, ignore_errors=True)


def test_dockerfile_runtime_packages_cover_the_binary():
    with open(os.path.join(REPO, "scripts", "install-deps.sh")) as f:
        script = f.read()
    runtime = re.search(r"runtime_pkgs=\(([^)]*)\)", script).group(1).split()
    with open(os.path.join(REPO, "Dockerfile")) as f:
        dockerfile = f.read()
    assert "install-deps.sh --runtime" in dockerfile and "scripts/install-deps.sh &&" in dockerfile
    for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert os.path.exists(os.path.join(REPO, src)), src
    # Everything those packages pull in, plus what debian:12-slim has.
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                        "--no-breaks", "--no-replaces", "--no-enhances", *runtime], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    available = set(re.findall(r"^(?:  \S*Depends: )?<?([a-z0-9][a-z0-9.+-]+)", r.stdout, re.M))
    available |= {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
    ldd = subprocess.run(["ldd", BINARY], capture_output=True, text=True).stdout
    needed = set()
    for path in re.findall(r"=> (/\S+)", ldd):
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        assert owner.returncode == 0, f"no package owns {path}"
        needed.add(owner.stdout.split(":")[0])
    assert needed <= available, f"the image would lack {needed - available}"
