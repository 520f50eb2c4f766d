"""infra/compose.yaml, infra/Dockerfile and infra/k8s/: parsed and checked for consistency.

`docker compose config` runs where a Docker engine with the compose plugin exists;
everywhere else (here: a docker client only) the files are parsed and checked for
what a deployment relies on: every service present, the GPU requests, endpoints
that point at real services and ports, pinned images, no secret in a file, and a
README that names the same services and files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

REPO = Path(__file__).parents[2]
INFRA = REPO / "infra"
K8S = INFRA / "k8s"
SERVICES = {
    "postgres",
    "minio",
    "buckets",
    "mlflow",
    "prefect-server",
    "worker-cpu",
    "worker-gpu",
    "serve",
}
K8S_FILES = [
    "base.yaml",
    "secrets.example.yaml",
    "mlflow.yaml",
    "worker-cpu.yaml",
    "gpu-work-pool.json",
    "prefect-worker-values.yaml",
    "serve.yaml",
]
IMAGE = "genforge:0.1.0"
VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution (${X}, ${X:-default}, ${X:?error}, $$)."""

    def one(m: re.Match) -> str:
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name} is required: {arg}")
        return arg if op == "-" else ""

    return VAR.sub(one, text).replace("$$", "$")


def example_env() -> dict[str, str]:
    lines = (INFRA / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate((INFRA / "compose.yaml").read_text(), example_env()))


def services(compose: dict) -> dict:
    return compose["services"]


def docker_compose_works() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not docker_compose_works(), reason="no docker compose plugin here")
def test_docker_compose_config_accepts_the_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text((INFRA / ".env.example").read_text())
    result = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(INFRA / "compose.yaml"),
            "--env-file",
            str(env_file),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_required_variables_are_all_in_env_example():
    text = (INFRA / "compose.yaml").read_text()
    required = {m.group(1) for m in VAR.finditer(text) if m.group(2) == "?"}
    assert required <= set(example_env()), required - set(example_env())
    with pytest.raises(KeyError, match="is required"):  # a missing secret stops compose
        interpolate(text, {})


def test_every_service_present_and_wired(compose):
    svc = services(compose)
    assert set(svc) == SERVICES
    for name, spec in svc.items():
        for dep in spec.get("depends_on", {}):
            assert dep in svc, f"{name} depends on unknown {dep}"
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        image = spec["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image}"
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_gpu_request_only_on_the_gpu_worker(compose):
    svc = services(compose)
    devices = svc["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "deploy" not in svc["worker-cpu"]
    for worker, pool in (("worker-gpu", "gpu"), ("worker-cpu", "cpu")):
        command = svc[worker]["command"]
        assert command[:3] == ["prefect", "worker", "start"]
        assert command[command.index("--pool") + 1] == pool
    assert svc["worker-gpu"]["volumes"] == svc["worker-cpu"]["volumes"]  # one shared checkout


def flag(command: list[str], name: str) -> str:
    for i, part in enumerate(command):
        if part.startswith(f"{name}="):
            return part.split("=", 1)[1]
        if part == name:
            return command[i + 1]
    raise AssertionError(f"{name} missing from {command}")


def test_endpoints_point_at_the_services(compose):
    svc = services(compose)
    mlflow_cmd, prefect_cmd = svc["mlflow"]["command"], svc["prefect-server"]["command"]
    assert flag(mlflow_cmd, "--workers") == "1"
    expected = {
        "AWS_ENDPOINT_URL": ("minio", "9000"),
        "MLFLOW_S3_ENDPOINT_URL": ("minio", "9000"),
        "MLFLOW_TRACKING_URI": ("mlflow", flag(mlflow_cmd, "--port")),
        "PREFECT_API_URL": ("prefect-server", flag(prefect_cmd, "--port")),
    }
    for name in ("mlflow", "prefect-server", "worker-cpu", "worker-gpu", "serve"):
        env = svc[name]["environment"]
        for var, (host, port) in expected.items():
            url = urlsplit(env[var])
            assert (url.hostname, str(url.port)) == (host, port), f"{name}: {var}={env[var]}"
            assert host in svc
        assert env["AWS_ACCESS_KEY_ID"] == example_env()["AWS_ACCESS_KEY_ID"]
    minio = svc["minio"]["environment"]
    assert minio["MINIO_ROOT_USER"] == svc["mlflow"]["environment"]["AWS_ACCESS_KEY_ID"]
    assert minio["MINIO_ROOT_PASSWORD"] == svc["mlflow"]["environment"]["AWS_SECRET_ACCESS_KEY"]
    bucket = svc["buckets"]["environment"]["S3_BUCKET"]
    assert flag(mlflow_cmd, "--artifacts-destination") == f"s3://{bucket}/mlflow"
    assert "postgres:5432/mlflow" in svc["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    db = svc["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and db.endswith("@postgres:5432/prefect")
    assert "CREATE DATABASE prefect" in (INFRA / "postgres/init.sql").read_text()


def test_no_secret_values_in_the_files():
    """Every line naming a secret takes it from a variable or is an obvious placeholder."""
    placeholders = ("${", "$$", "replace-me", "...")
    for path in [INFRA / "compose.yaml", *K8S.glob("*.yaml"), K8S / "gpu-work-pool.json"]:
        for line in path.read_text().splitlines():
            if re.search(r"(SECRET_ACCESS_KEY|PASSWORD)\S*\s*[:=]", line):
                assert any(p in line for p in placeholders), f"{path.name}: {line}"


def test_dockerfile_matches_the_project():
    text = (INFRA / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    makefile = (REPO / "Makefile").read_text()
    torch_pins = re.search(r"pip install -q (torch==\S+ torchvision==\S+)", makefile).group(1)
    assert f"pip install {torch_pins}" in text  # the same torch as `make setup`
    assert "pip install -e ." in text and "psycopg2" in text
    ignored = (INFRA / "Dockerfile.dockerignore").read_text().split()
    assert {".venv/", "infra/.env", ".stack/", ".dvc/cache/"} <= set(ignored)
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    assert compose["x-genforge"]["build"]["dockerfile"] == "infra/Dockerfile"


# ------------------------------------------------------------------------ k8s
def k8s_objects() -> list[dict]:
    docs = []
    for path in K8S.glob("*.yaml"):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and "kind" in d]
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in k8s_objects() if d["kind"] == kind}


def test_k8s_objects_are_well_formed():
    objects = k8s_objects()
    assert {d["kind"] for d in objects} >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
    }
    for d in objects:
        assert d["apiVersion"] and d["metadata"]["name"]
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "genforge", d["metadata"]["name"]
    for name, dep in by_kind("Deployment").items():
        pod = dep["spec"]["template"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            assert c["image"] == IMAGE, f"{name}/{c['name']}"


def referenced(spec) -> set[tuple[str, str]]:
    """(kind, name) of every configMapRef/secretRef/persistentVolumeClaim under `spec`."""
    found = set()
    if isinstance(spec, dict):
        for key, kind in (
            ("configMapRef", "ConfigMap"),
            ("secretRef", "Secret"),
            ("persistentVolumeClaim", "PersistentVolumeClaim"),
        ):
            if key in spec:
                found.add((kind, spec[key].get("name") or spec[key].get("claimName")))
        for value in spec.values():
            found |= referenced(value)
    elif isinstance(spec, list):
        for value in spec:
            found |= referenced(value)
    return found


def test_mlflow_deployment_and_service():
    dep, svc = by_kind("Deployment")["mlflow"], by_kind("Service")["mlflow"]
    pod = dep["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert svc["spec"]["ports"][0]["targetPort"] in port_names
    script = " ".join(container["args"])
    assert "--workers 1" in script and '--artifacts-destination "s3://$S3_BUCKET/mlflow"' in script
    endpoints = by_kind("ConfigMap")["genforge-endpoints"]["data"]
    url = urlsplit(endpoints["MLFLOW_TRACKING_URI"])
    assert url.hostname.split(".")[0] == "mlflow" and url.port == svc["spec"]["ports"][0]["port"]
    secret_keys = set(by_kind("Secret")["genforge-postgres"]["stringData"])
    assert "MLFLOW_BACKEND_STORE_URI" in secret_keys


def test_serve_follows_the_registry_on_its_published_port(compose):
    """compose and k8s run `genforge serve` on one port, ready by /ping, on the MLflow
    the flow registers into; the same image's params.yaml names the registered model."""
    serve = services(compose)["serve"]
    port = flag(serve["command"], "--port")
    assert (
        serve["command"][:2] == ["genforge", "serve"]
        and flag(serve["command"], "--host") == "0.0.0.0"
    )
    assert serve["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert serve["healthcheck"]["test"][-1] == f"http://localhost:{port}/ping"
    assert serve["volumes"] == services(compose)["worker-cpu"]["volumes"]  # the flow's checkout
    assert "mlflow" in serve["depends_on"]

    dep, svc = by_kind("Deployment")["serve"], by_kind("Service")["serve"]
    pod = dep["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["command"][:2] == ["genforge", "serve"]
    assert int(flag(container["command"], "--port")) == ports["http"]
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert ("ConfigMap", "genforge-endpoints") in referenced(container)
    assert "limits" in container["resources"]  # bounded: requests are bounded in the app too
    from genforge.config import ServeConfig

    assert int(port) == ServeConfig().port  # the documented default


def test_every_referenced_configmap_secret_and_volume_exists():
    defined = {(d["kind"], d["metadata"]["name"]) for d in k8s_objects()}
    refs = referenced(k8s_objects()) | referenced(
        json.loads((K8S / "gpu-work-pool.json").read_text())
    )
    assert refs and refs <= defined, refs - defined


def test_gpu_work_pool_template_requests_gpus():
    from prefect.server.schemas.actions import validate_base_job_template
    from prefect.utilities.templating import apply_values

    template = json.loads((K8S / "gpu-work-pool.json").read_text())
    validate_base_job_template(template)  # Prefect's own check: placeholders declared
    variables = template["variables"]
    defaults = {k: v["default"] for k, v in variables["properties"].items() if "default" in v}
    jsonschema.validate({**defaults, "gpus": 2}, variables)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"gpus": 0}, variables)
    job = apply_values(template["job_configuration"], {**defaults, "gpus": 2})["job_manifest"]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # what Prefect's Kubernetes worker requires of a job manifest
    assert container["name"] == "prefect-job" and pod["restartPolicy"] == "Never"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 2
    assert container["image"] == IMAGE
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["workspace"] == "/opt/genforge"  # the checkout worker-cpu runs the flow in
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])


def test_helm_values_match_the_pool_and_server():
    import prefect

    values = yaml.safe_load((K8S / "prefect-worker-values.yaml").read_text())["worker"]
    assert values["config"] == {"workPool": "gpu", "type": "kubernetes"}
    assert values["image"]["prefectTag"].startswith(f"{prefect.__version__}-python3.11")
    endpoints = by_kind("ConfigMap")["genforge-endpoints"]["data"]
    assert values["selfHostedServerApiConfig"]["apiUrl"] == endpoints["PREFECT_API_URL"]
    assert values["extraEnvVarsCM"] == "genforge-endpoints"
    prefect_yaml = REPO / "prefect.yaml"
    if prefect_yaml.is_file():  # the deployments use the same pool names
        pools = {
            d["work_pool"]["name"] for d in yaml.safe_load(prefect_yaml.read_text())["deployments"]
        }
        assert pools <= {"cpu", "gpu"}


# --------------------------------------------------------------------- README
def scaling_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Scaling out: embedded -> stack -> cluster")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_readme_scale_out_section_matches_the_files(compose):
    section = scaling_section()
    for name in services(compose):
        assert f"`{name}`" in section, f"README does not mention compose service {name}"
    for name in K8S_FILES:
        assert f"`{name}`" in section and (K8S / name).is_file(), name
    for path in (
        "infra/local/start.sh",
        "infra/local/stop.sh",
        "infra/local/stack.env",
        "infra/compose.yaml",
        "infra/Dockerfile",
    ):
        assert path in section and (REPO / path).is_file(), path
    assert "nvidia.com/gpu" in section and "train.nproc_per_node" in section
    inventory = (INFRA / "README.md").read_text()
    for name in K8S_FILES:
        assert f"k8s/{name}" in inventory, name
    for name in services(compose):
        assert f"`{name}`" in inventory, name
