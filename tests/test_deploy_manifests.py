"""The deployment files stay in step with the code: Dockerfile, docker-compose.yml, the Helm chart.

- docker-compose.yml: valid against the compose-spec schema (vendored by check-jsonschema, so
  offline); every Loopline container runs real services (`loopline.runtime.registry`), sets only
  real settings with values the settings accept, and has a /readyz healthcheck; only the gateway
  publishes a port.
- Helm chart: `helm lint` and `helm template`, every manifest validated (strict) against the
  Kubernetes OpenAPI schemas shipped in the kubernetes-validate wheel; the same service and
  setting checks on the Deployments and the ConfigMap. Needs `helm` (PATH or ~/go/bin): skipped
  without it, except with CI=true, where it is installed with `go install` (bounded) or fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from loopline.common.metrics import PATH as METRICS_PATH
from loopline.common.settings import Settings, load_settings
from loopline.ingest.settings import IngestSettings

from loopline.runtime.registry import ALL_SERVICES, known_env_names

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CHART = ROOT / "deploy" / "helm" / "loopline"
CHART_TEST_VALUES = CHART / "ci" / "test-values.yaml"

HELM_MODULE = "helm.sh/helm/v3/cmd/helm"
HELM_VERSION = "v3.22.0"
HELM_INSTALL_TIMEOUT_S = 900
KUBE_VERSION = "1.34.0"  # what `helm template` targets and the manifests are validated against

# every LOOPLINE_* variable a setting reads (shared Settings and the services' sections)
SETTING_VARS = known_env_names()
# LOOPLINE_* variables read outside Settings (settings.py, cli/dlq.py)
NON_FIELD_VARS = {"LOOPLINE_CONFIG", "LOOPLINE_API_KEY"}
# Loopline services that answer HTTP routes through the gateway (everything but the writer)
GATEWAY_TARGETS = set(ALL_SERVICES) - {"gateway", "writer"}

pytestmark = pytest.mark.timeout(HELM_INSTALL_TIMEOUT_S + 120)  # only a CI helm install is slow


def assert_real_settings(env_names: list[str], where: str) -> None:
    unknown = [
        n
        for n in env_names
        if n.startswith("LOOPLINE_") and n not in NON_FIELD_VARS and n.upper() not in SETTING_VARS
    ]
    assert not unknown, f"{where} sets LOOPLINE_* variables that are not settings: {unknown}"


def settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Load Settings exactly as a container with this environment would."""
    for var in list(os.environ):
        if var.startswith("LOOPLINE_"):
            monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    return load_settings()


# ---------------------------------------------------------------- docker-compose.yml

_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def interpolate(value: str) -> str:
    """Compose variable interpolation with no variables set: defaults, or a dummy for `:?`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op in (":-", "-"):
            return interpolate(arg or "")
        if op in (":?", "?"):
            return f"test-{name.lower()}"
        return ""

    return _INTERPOLATION.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


def loopline_containers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Containers of the Loopline image (built from this repo); each must run `serve <services>`."""
    out = {}
    for name, svc in compose["services"].items():
        if svc.get("build") or "loopline" in interpolate(str(svc.get("image", ""))):
            cmd = svc.get("command")
            assert isinstance(cmd, list) and cmd and cmd[0] == "serve", (
                f"{name}: a Loopline container's command should be [serve, <service>], got {cmd!r}"
            )
            out[name] = svc
    return out


def container_env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): interpolate("" if v is None else str(v)) for k, v in env.items()}


def test_compose_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    import importlib.resources

    import jsonschema

    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "docker-compose.yml does not match the compose spec:\n" + "\n".join(errors)


def test_compose_runs_every_loopline_service_once(compose: dict[str, Any]) -> None:
    containers = loopline_containers(compose)
    assert containers, "no Loopline containers (command: [serve, <service>]) in docker-compose.yml"
    seen: list[str] = []
    for name, svc in containers.items():
        cmd = svc["command"]
        assert len(cmd) == 2, f"{name}: command should be [serve, <service>[,<service>]], got {cmd}"
        names = [s.strip() for s in cmd[1].split(",")]
        unknown = [s for s in names if s not in ALL_SERVICES]
        assert not unknown, f"{name}: {unknown} not in loopline.runtime.registry.ALL_SERVICES {ALL_SERVICES}"
        seen.extend(names)
    assert sorted(seen) == sorted(ALL_SERVICES), f"each service should run exactly once; ran {sorted(seen)}"


def test_compose_env_vars_are_real_settings_with_valid_values(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    containers = loopline_containers(compose)
    for name, svc in containers.items():
        env = container_env(svc)
        assert_real_settings(list(env), f"docker-compose service {name!r}")
        s = settings_from_env(monkeypatch, env)  # raises SettingsError on a bad value
        assert s.host == "0.0.0.0", f"{name}: bind 0.0.0.0 in a container (LOOPLINE_HOST)"
        assert s.bus_url.startswith("kafka://"), f"{name}: distributed mode needs LOOPLINE_BUS_URL=kafka://"
        for hostport in s.bus_url.removeprefix("kafka://").split(","):
            assert hostport.split(":")[0] in services, f"{name}: Kafka host {hostport} is no compose service"
        dsn = urlparse(s.store_dsn)
        assert dsn.scheme in ("http", "https") and dsn.hostname in services, (
            f"{name}: LOOPLINE_STORE_DSN should name the ClickHouse service, got {s.store_dsn!r}"
        )
        assert s.internal_token, f"{name}: LOOPLINE_INTERNAL_TOKEN must be set"
        if "ingest" in svc["command"][1].split(","):
            assert s.section(IngestSettings).blob_url.startswith("s3://"), (
                f"{name}: ingest needs an S3 LOOPLINE_BLOB_URL"
            )
            endpoint = (
                urlparse(s.section(IngestSettings).blob_url).query.split("endpoint=", 1)[-1].split("&")[0]
            )
            assert urlparse(endpoint).hostname in services, f"{name}: blob endpoint {endpoint} unknown"
        if "gateway" in svc["command"][1].split(","):
            runs = {
                svc_name: other for other, o in containers.items() for svc_name in o["command"][1].split(",")
            }
            assert set(s.service_urls) == GATEWAY_TARGETS, (
                f"gateway LOOPLINE_SERVICE_URLS should cover {sorted(GATEWAY_TARGETS)}, "
                f"got {sorted(s.service_urls)}"
            )
            for target, url in s.service_urls.items():
                u = urlparse(url)
                assert u.hostname == runs[target], (
                    f"gateway routes {target} to {url}, but {runs[target]} runs it"
                )
                assert u.port == int(container_env(containers[runs[target]])["LOOPLINE_PORT"])


def test_compose_healthchecks(compose: dict[str, Any]) -> None:
    containers = loopline_containers(compose)
    for name, svc in compose["services"].items():
        if svc.get("restart") == "no":  # one-shot jobs
            continue
        hc = svc.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), f"{name}: no healthcheck"
        if name in containers:
            test = " ".join(hc["test"]) if isinstance(hc["test"], list) else hc["test"]
            port = container_env(svc)["LOOPLINE_PORT"]
            assert f":{port}/readyz" in test, f"{name}: healthcheck should probe /readyz on port {port}"


def test_compose_depends_on_uses_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on should be a map with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = (spec or {}).get("condition")
            assert cond in ("service_healthy", "service_completed_successfully"), (
                f"{name} → {dep}: use condition service_healthy (or service_completed_successfully)"
            )
            if cond == "service_healthy":
                assert services[dep].get("healthcheck"), (
                    f"{name} waits for {dep} healthy; it has no healthcheck"
                )
            else:
                assert services[dep].get("restart") == "no", f"{dep} is a one-shot job: restart: 'no'"
    for name in loopline_containers(compose):
        deps = services[name].get("depends_on") or {}
        for infra in ("kafka", "clickhouse"):
            assert infra in deps, f"{name} should wait for {infra}"


def test_only_the_gateway_publishes_a_port(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    gateway = {n for n, s in loopline_containers(compose).items() if "gateway" in s["command"][1].split(",")}
    assert published == gateway, f"only the gateway may publish ports; published: {sorted(published)}"
    for name, svc in compose["services"].items():
        assert svc.get("network_mode") != "host", f"{name}: network_mode host publishes every port"


def test_compose_volumes_are_named_or_repo_files(compose: dict[str, Any]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, svc in compose["services"].items():
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} does not exist in the repo"
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared under volumes:"
    for name in loopline_containers(compose):
        targets = [
            m.split(":")[1] for m in compose["services"][name].get("volumes") or [] if isinstance(m, str)
        ]
        data_dir = container_env(compose["services"][name])["LOOPLINE_DATA_DIR"]
        assert data_dir in targets, f"{name}: LOOPLINE_DATA_DIR {data_dir} should be a volume"


def test_compose_prometheus_scrapes_every_loopline_container(compose: dict[str, Any]) -> None:
    containers = loopline_containers(compose)
    for name, svc in containers.items():
        labels = svc.get("labels") or {}
        assert labels.get("prometheus.io/scrape") == "true", f"{name}: no prometheus.io/scrape label"
        assert labels.get("prometheus.io/path") == METRICS_PATH, name
        assert labels.get("prometheus.io/port") == container_env(svc)["LOOPLINE_PORT"], name
    prom = compose["services"]["prometheus"]
    assert prom.get("profiles") == ["metrics"], "the Prometheus of the compose file is optional (a profile)"
    config_mount = next(m for m in prom["volumes"] if m.endswith("/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((ROOT / config_mount.split(":", 1)[0]).read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == METRICS_PATH
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{n}:{container_env(s)['LOOPLINE_PORT']}" for n, s in containers.items()}


# ---------------------------------------------------------------- Dockerfile


def workspace_members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members.extend(p for p in sorted(ROOT.glob(pattern)) if (p / "pyproject.toml").exists())
    assert members
    return members


def test_dockerfile_installs_the_locked_workspace() -> None:
    text = DOCKERFILE.read_text()
    copies = " ".join(line for line in text.splitlines() if line.startswith("COPY "))
    missing = [
        str(m.relative_to(ROOT) / "pyproject.toml")
        for m in workspace_members()
        if str(m.relative_to(ROOT) / "pyproject.toml") not in copies
    ]
    assert not missing, f"Dockerfile's dependency layer does not COPY {missing}"
    assert "uv sync --frozen --all-packages --no-dev" in text
    assert re.search(r"^FROM python:3\.11-slim|^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert 'ENTRYPOINT ["loopline"]' in text
    assert 'CMD ["serve", "gateway"]' in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the runtime stage must not run as root"
    env_vars = re.findall(r"\b(LOOPLINE_[A-Z0-9_]+)=", text)
    assert_real_settings(env_vars, "Dockerfile")


def test_dockerfile_builds_the_web_app_where_the_gateway_finds_it() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM \S+ AS web$", text, re.M), "the web app needs its own build stage"
    assert "COPY web/package.json web/package-lock.json ./" in text and "npm ci" in text
    assert "COPY --from=web /web/dist /opt/loopline/share/loopline/web" in text  # gateway/web.py looks there
    ignored = DOCKERIGNORE.read_text().splitlines()
    assert "web/node_modules" in ignored and "web/dist" in ignored and "web" not in ignored


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("pyproject.toml", "uv.lock", "src", "libs", "services"):
        assert needed not in patterns, f".dockerignore excludes {needed}, which the image build needs"
    for unwanted in (".git", ".venv", ".loopline"):
        assert unwanted in patterns, f".dockerignore should exclude {unwanted}"


# ---------------------------------------------------------------- Helm chart


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _gopath_bin() -> Path:
    go = shutil.which("go")
    if go is None:
        return Path.home() / "go" / "bin"
    out = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, timeout=30)
    return Path(out.stdout.strip().split(os.pathsep)[0] or Path.home() / "go") / "bin"


def find_helm() -> str | None:
    for candidate in (shutil.which("helm"), str(_gopath_bin() / "helm"), str(Path.home() / "go/bin/helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def helm() -> str:
    found = find_helm()
    if found:
        return found
    if not _ci():
        pytest.skip(
            f"helm not found on PATH or in ~/go/bin; install it with `go install {HELM_MODULE}@{HELM_VERSION}`"
        )
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"CI=true: helm is needed but neither helm nor go is installed ({HELM_MODULE})")
    try:
        proc = subprocess.run(
            [go, "install", f"{HELM_MODULE}@{HELM_VERSION}"],
            capture_output=True,
            text=True,
            timeout=HELM_INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"CI=true: `go install {HELM_MODULE}@{HELM_VERSION}` took over {HELM_INSTALL_TIMEOUT_S}s")
    found = find_helm()
    if proc.returncode != 0 or found is None:
        pytest.fail(f"CI=true: `go install {HELM_MODULE}@{HELM_VERSION}` failed:\n{proc.stderr[-3000:]}")
    return found


def run_helm(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def render(helm: str, *values_args: str) -> list[dict[str, Any]]:
    proc = run_helm(
        helm, "template", "ll", str(CHART), "--namespace", "obs", "--kube-version", KUBE_VERSION, *values_args
    )
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module")
def manifests(helm: str) -> list[dict[str, Any]]:
    return render(helm, "-f", str(CHART_TEST_VALUES))


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def component(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def test_helm_lint(helm: str) -> None:
    proc = run_helm(
        helm, "lint", str(CHART), "--strict", "-f", str(CHART_TEST_VALUES), "--kube-version", KUBE_VERSION
    )
    assert "0 chart(s) failed" in proc.stdout


def test_chart_manifests_are_valid_kubernetes_objects(manifests: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    kinds = {d["kind"] for d in manifests}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Ingress"} <= kinds
    errors = []
    for doc in manifests:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD of the Prometheus Operator: no built-in schema (checked in test_chart_metrics_*)
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {str(exc).splitlines()[0]}")
    assert not errors, "rendered manifests fail the Kubernetes schema:\n" + "\n".join(errors)


def test_chart_values_list_every_service() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert sorted(values["services"]) == sorted(ALL_SERVICES), (
        "deploy/helm/loopline/values.yaml `services` should list exactly loopline.runtime.registry.ALL_SERVICES"
    )


def test_chart_deploys_every_service_with_probes(manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(manifests, "Deployment")
    services = by_kind(manifests, "Service")
    served = []
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        args = container["args"]
        assert args[0] == "serve" and len(args) == 2, f"{name}: args should be [serve, <service>], got {args}"
        unknown = [s for s in args[1].split(",") if s not in ALL_SERVICES]
        assert not unknown, f"{name}: {unknown} not in ALL_SERVICES"
        served.extend(args[1].split(","))
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items(), name
        svc = services.get(name)
        assert svc is not None, f"no Service for Deployment {name}"
        assert svc["spec"]["selector"] == selector, f"Service {name} does not select its Deployment's pods"
    assert sorted(served) == sorted(ALL_SERVICES)


def test_chart_pdbs_cover_gateway_ingest_writer(manifests: list[dict[str, Any]]) -> None:
    deployments = {component(d): d for d in by_kind(manifests, "Deployment").values()}
    pdbs = {component(p): p for p in by_kind(manifests, "PodDisruptionBudget").values()}
    assert {"gateway", "ingest", "writer"} <= set(pdbs)
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]


def test_chart_env_vars_are_real_settings_with_valid_values(
    manifests: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (configmap,) = by_kind(manifests, "ConfigMap").values()
    shared = {str(k): str(v) for k, v in configmap["data"].items()}
    assert_real_settings(list(shared), "the chart's ConfigMap")
    services = {component(s): name for name, s in by_kind(manifests, "Service").items()}
    for name, dep in by_kind(manifests, "Deployment").items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        own = {
            e["name"]: e.get("value", f"from-secret-{e['name'].lower()}") for e in container.get("env", [])
        }
        assert_real_settings(list(own), f"Deployment {name}")
        env = {**shared, **own}
        env["LOOPLINE_STORE_DSN"] = "http://user:pw@clickhouse:8123"  # from the Secret
        s = settings_from_env(monkeypatch, env)  # raises SettingsError on a bad value
        assert s.bus_url.startswith("kafka://") and s.section(IngestSettings).blob_url.startswith("s3://"), (
            name
        )
        assert s.port == container["ports"][0]["containerPort"], name
    s = settings_from_env(monkeypatch, shared)
    assert set(s.service_urls) == GATEWAY_TARGETS
    for target, url in s.service_urls.items():
        assert urlparse(url).hostname == services[target], (
            f"{target} routed to {url}, Service is {services[target]}"
        )


def test_chart_secret_feeds_the_store_dsn_and_token(manifests: list[dict[str, Any]]) -> None:
    (secret,) = by_kind(manifests, "Secret").values()
    for dep in by_kind(manifests, "Deployment").values():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        for var in ("LOOPLINE_STORE_DSN", "LOOPLINE_INTERNAL_TOKEN"):
            assert refs[var]["name"] == secret["metadata"]["name"]
            assert refs[var]["key"] in secret["data"]


def test_chart_metrics_pod_annotations_and_service_monitor(manifests: list[dict[str, Any]]) -> None:
    services = by_kind(manifests, "Service")
    for name, dep in by_kind(manifests, "Deployment").items():
        pod = dep["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        notes = pod["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == METRICS_PATH, name
        assert int(notes["prometheus.io/port"]) == container["ports"][0]["containerPort"], name
    (monitor,) = by_kind(manifests, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # values' extra labels
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == METRICS_PATH
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["obs"]
    for name, svc in services.items():
        assert selector.items() <= svc["metadata"]["labels"].items(), (
            f"the ServiceMonitor misses Service {name}"
        )
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}, name


def test_chart_metrics_can_be_switched_off(helm: str) -> None:
    docs = render(
        helm,
        "-f",
        str(CHART_TEST_VALUES),
        "--set",
        "metrics.podAnnotations=false",
        "--set",
        "metrics.serviceMonitor.enabled=false",
    )
    assert not by_kind(docs, "ServiceMonitor")
    for dep in by_kind(docs, "Deployment").values():
        assert not any(
            k.startswith("prometheus.io/") for k in dep["spec"]["template"]["metadata"]["annotations"]
        )


def test_chart_with_an_existing_secret_creates_none(helm: str) -> None:
    docs = render(helm, "-f", str(CHART_TEST_VALUES), "--set", "secrets.existingSecret=ops-managed")
    assert not by_kind(docs, "Secret")
    for dep in by_kind(docs, "Deployment").values():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        names = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
        assert names == {"ops-managed"}


def test_chart_refuses_to_render_without_backends(helm: str) -> None:
    proc = run_helm(helm, "template", "ll", str(CHART), "--kube-version", KUBE_VERSION, check=False)
    assert proc.returncode != 0 and "kafka.bootstrapServers is required" in proc.stderr, proc.stderr
