"""The deploy/ files, checked without Docker or a cluster (neither runs in CI).

Every file in deploy/ is parsed (YAML, the Dockerfile, its .dockerignore, SQL, Markdown) and what it
references must exist in the project: images are the project's image or pinned third-party tags, commands
and their flags exist in the locked environment, modules and COPY'd paths exist, and environment variables
agree with .env.example in both directions. Paths a colleague is still creating are listed in PENDING:
their own check skips with the reason, nothing else does.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
ENV_EXAMPLE = REPO / ".env.example"
VENV_BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
IMAGE_NAME, VERSION = PYPROJECT["name"], PYPROJECT["version"]

# Top-level folders the deploy files reference that a colleague is still creating: a missing path under one
# skips its own check with the reason (nothing else skips). Empty once they exist (feature_repo/ does now).
PENDING: dict[str, str] = {}
# Read by the code but set by the code itself (for its subprocesses), the OS or Python's own interpreter
# switches (the feature server's re-exec drops PYTHONDONTWRITEBYTECODE): not configuration.
INTERNAL_VARIABLES = {"LAKEHOUSE_DAGSTER_RUN_ID", "PATH", "XDG_RUNTIME_DIR", "PYTHONDONTWRITEBYTECODE"}
# Lakehouse services in compose (third-party ones: postgres, minio, minio-init, redis).
LAKEHOUSE_SERVICES = {"lakehouse-init", "code-server", "webserver", "daemon", "mlflow", "feast-apply", "feature-server"}
ONE_SHOT = {"minio-init", "lakehouse-init", "feast-apply"}
DAGSTER_HOME_IN_IMAGE = "/opt/dagster/dagster_home"
# `python -m finance_assets.features <feast command>`: the feast CLI on the profile's feature_store YAML.
FEAST_WRAPPER = "finance_assets.features"
VAR = r"[A-Z][A-Z0-9_]*"


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@cache
def yaml_docs(path: Path) -> tuple[Any, ...]:
    return tuple(d for d in yaml.safe_load_all(path.read_text()) if d is not None)


def compose() -> dict[str, Any]:
    return yaml_docs(DEPLOY / "docker-compose.yml")[0]


def helm() -> dict[str, Any]:
    return yaml_docs(DEPLOY / "helm" / "values.yaml")[0]


def k8s_docs() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml_docs(path)]


def env_example() -> dict[str, bool]:
    """Variables of .env.example -> set (True) or documented but commented out (False)."""
    found: dict[str, bool] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if m := re.match(rf"^(#\s*)?({VAR})=", line):
            found[m.group(2)] = found.get(m.group(2), False) or not m.group(1)
    return found


# ---- the Dockerfile --------------------------------------------------------------------------------

DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+)=(\S+)", self.args))

    def operands(self) -> list[str]:
        return [w for w in shlex.split(self.args) if not w.startswith("--")]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions (continuations joined, comments dropped) and the stages they form."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        start = start or number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, pending = pending + line, ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        start = 0
    assert not pending, "the Dockerfile ends inside a line continuation"
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.operands()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


@cache
def dockerfile() -> tuple[list[Instruction], list[Stage]]:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def test_every_deploy_file_parses() -> None:
    """Each file has a parser here; a new kind of file needs one (that is the point)."""
    files = deploy_files()
    assert files, "deploy/ is empty"
    for path in files:
        name = path.relative_to(REPO)
        if path.suffix in {".yaml", ".yml"}:
            docs = yaml_docs(path)
            assert docs and all(isinstance(d, dict) for d in docs), f"{name}: expected YAML mappings"
        elif path.name == "Dockerfile":
            instructions, stages = parse_dockerfile(path.read_text())
            assert instructions and stages
        elif path.name.endswith(".dockerignore"):
            assert path.name == "Dockerfile.dockerignore", f"{name}: BuildKit reads <Dockerfile>.dockerignore"
            assert [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        elif path.suffix == ".sql":
            statements = [s.strip() for s in re.sub(r"--[^\n]*", "", path.read_text()).split(";") if s.strip()]
            assert statements and all(s.upper().startswith("CREATE DATABASE ") for s in statements), name
        elif path.suffix == ".md":
            for ref in re.findall(r"`((?:deploy/|tests/)?[\w./-]+\.(?:ya?ml|py|sql|toml))`", path.read_text()):
                candidates = [REPO / ref, DEPLOY / ref]
                assert any(c.exists() for c in candidates), f"{name} mentions {ref}, which does not exist"
        else:
            pytest.fail(f"{name}: no checker for this kind of file in tests/test_deploy_files.py")


def test_dockerfile_is_a_valid_multi_stage_uv_build() -> None:
    instructions, stages = dockerfile()
    assert all(ins.keyword in DOCKER_INSTRUCTIONS for ins in instructions), [
        (i.line, i.keyword) for i in instructions if i.keyword not in DOCKER_INSTRUCTIONS
    ]
    # ARGs used in FROM lines are declared before the first FROM
    global_args = set()
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            global_args.add(ins.args.split("=", 1)[0])
    for stage in stages:
        assert set(re.findall(r"\$\{(\w+)\}", stage.image)) <= global_args, stage.image
        assert ":" in stage.image and not stage.image.endswith(":latest"), f"unpinned base image {stage.image}"
    names = [s.name for s in stages]
    assert len(set(names)) == len(names), "duplicate stage names"
    for i, stage in enumerate(stages):
        for ins in stage.instructions:
            source = ins.flags().get("from")
            if ins.keyword == "COPY" and source is not None:
                assert source in names[:i], f"line {ins.line}: COPY --from={source} is not an earlier stage"
    builder = next(s for s in stages if s.name == "builder")
    runs = " ".join(i.args for i in builder.instructions if i.keyword == "RUN")
    envs = " ".join(i.args for i in builder.instructions if i.keyword == "ENV")
    assert "uv sync --frozen --no-dev" in runs and "UV_COMPILE_BYTECODE=1" in envs
    assert re.search(r"dbt parse --project-dir dbt_project --profiles-dir dbt_project", runs)
    runtime = stages[-1]
    copies_from_builder = [i.operands()[0] for i in runtime.instructions if i.flags().get("from") == "builder"]
    assert "/app/.venv" in copies_from_builder and "/app/finance_assets" in copies_from_builder
    users = [i.args for i in runtime.instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the runtime stage must not run as root"
    # the uv image tag is a released uv; the Python version is the one pyproject.toml allows
    args = dict(i.args.split("=", 1) for i in instructions if i.keyword == "ARG" and "=" in i.args)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["UV_VERSION"])
    assert args["PYTHON_VERSION"] in PYPROJECT["requires-python"], PYPROJECT["requires-python"]
    # the image's code server serves the project's code location
    cmd = [i for i in runtime.instructions if i.keyword == "CMD"][-1]
    assert "finance_assets.definitions" in cmd.args


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = {line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()}
    assert {".venv", ".git", ".env", ".lakehouse", "dbt_project/target"} <= patterns


# ---- what the deploy files reference ----------------------------------------------------------------


def dockerfile_copy_sources() -> set[str]:
    _, stages = dockerfile()
    sources = set()
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword in {"COPY", "ADD"} and "from" not in ins.flags():
                sources.update(ins.operands()[:-1])
    return sources


def commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of every lakehouse process the deploy files start."""
    for name, service in compose()["services"].items():
        if name in LAKEHOUSE_SERVICES:
            yield f"compose:{name}", [str(a) for a in service["command"]]
    for doc in k8s_docs():
        if doc["kind"] in {"Deployment", "Job"}:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                argv = [str(a) for a in container.get("command", []) + container.get("args", [])]
                yield f"k8s:{doc['metadata']['name']}", argv
    for deployment in helm()["dagster-user-deployments"]["deployments"]:
        yield f"helm:{deployment['name']}", ["dagster", "api", "grpc", *deployment["dagsterApiGrpcArgs"]]
    _, stages = dockerfile()
    cmd = [i for i in stages[-1].instructions if i.keyword == "CMD"][-1]
    yield "Dockerfile:CMD", yaml.safe_load(cmd.args)


def referenced_paths() -> set[str]:
    """Repository paths the image, compose, Helm and k8s files need."""
    paths = {p.rstrip("/") for p in dockerfile_copy_sources()}
    for _, argv in commands():
        for flag, value in itertools.pairwise(argv):
            if flag in {"-m", "--module-name"}:
                module = value.replace(".", "/")
                if (REPO / f"{module}.py").exists() or not (REPO / module).is_dir():
                    paths.add(f"{module}.py")
                else:
                    paths.add(f"{module}/{'__main__' if argv[0] == 'python' else '__init__'}.py")
        if argv[:3] == ["python", "-m", FEAST_WRAPPER]:  # the feast CLI on the profile's YAML
            paths |= {"feature_repo/feature_store.yaml", "feature_repo/feature_store.prod.yaml"}
    paths |= {"dbt_project/dbt_project.yml", "dbt_project/profiles.yml"}  # `dbt parse` in the image
    for service in compose()["services"].values():
        if build := service.get("build"):
            context = (DEPLOY / build["context"]).resolve()
            paths.add(str((context / build["dockerfile"]).relative_to(REPO)))
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                paths.add(str((DEPLOY / source).resolve().relative_to(REPO)))
    return paths


@pytest.mark.parametrize("path", sorted(referenced_paths()))
def test_referenced_project_path_exists(path: str) -> None:
    if not (REPO / path).exists():
        top = path.split("/", 1)[0]
        if top in PENDING:
            pytest.skip(f"{path} does not exist yet: {PENDING[top]}")
        pytest.fail(f"deploy files reference {path}, which is not in the repository")
    if path.endswith(".py") and path.startswith("finance_assets/"):
        module = path.removesuffix(".py").removesuffix("/__main__").removesuffix("/__init__")
        assert importlib.util.find_spec(module.replace("/", ".")) is not None


def _click_command(executable: str) -> click.Command | None:
    entry = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == executable]
    if not entry:
        return None
    loaded = entry[0].load()
    if isinstance(loaded, click.Command):
        return loaded
    module = sys.modules[loaded.__module__]
    group = getattr(module, "cli", None)
    return group if isinstance(group, click.Command) else None


def _check_argv(where: str, argv: list[str]) -> None:
    """The executable is in the venv; subcommands and --flags exist in its click definition."""
    executable = argv[0]
    if executable == "python":
        assert argv[1] == "-m" and importlib.util.find_spec(argv[2]) is not None, where
        if argv[2] != FEAST_WRAPPER:
            return
        executable, argv = "feast", ["feast", *argv[3:]]
    assert (VENV_BIN / executable).exists(), f"{where}: {executable} is not installed by uv.lock"
    command = _click_command(executable)
    assert command is not None, f"{where}: cannot inspect {executable}"
    ctx_commands: list[click.Command] = [command]
    rest = argv[1:]
    while rest:
        token = rest[0]
        if isinstance(command, click.Group) and not token.startswith("-"):
            sub = command.get_command(click.Context(command), token)
            assert sub is not None, f"{where}: `{executable} ... {token}` is not a command"
            command = sub
            ctx_commands.append(command)
            rest = rest[1:]
            continue
        if token.startswith("-"):
            flag = token.split("=", 1)[0]
            options = {opt: p for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            assert flag in options, f"{where}: {' '.join(argv[:3])} has no option {flag}"
            takes_value = not getattr(options[flag], "is_flag", False) and not getattr(options[flag], "count", False)
            rest = rest[2:] if takes_value and "=" not in token else rest[1:]
            continue
        rest = rest[1:]  # a positional argument


def test_commands_and_their_flags_exist_in_the_locked_environment() -> None:
    import importlib

    import dagster as dg

    for where, argv in commands():
        _check_argv(where, argv)
        if argv[0].startswith("dagster") and "-a" in argv:  # the named Definitions object exists
            module = importlib.import_module(argv[argv.index("-m") + 1])
            assert isinstance(getattr(module, argv[argv.index("-a") + 1], None), dg.Definitions), where


# ---- compose -----------------------------------------------------------------------------------------


def test_compose_services_health_checks_volumes_and_dependencies() -> None:
    spec = compose()
    services = spec["services"]
    assert {"postgres", "minio", "minio-init", "redis"} | LAKEHOUSE_SERVICES <= set(services)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is a one-shot job"
        else:
            assert "healthcheck" in service, f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == expected, f"{name} -> {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in spec["volumes"], f"{name}: named volume {source} is not declared"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for name in LAKEHOUSE_SERVICES:
        service = services[name]
        image = service["image"]
        assert re.fullmatch(rf"\$\{{LAKEHOUSE_IMAGE:-{IMAGE_NAME}:[\w.-]+\}}", image), image
        assert service["env_file"] == "../.env" and service["environment"]["LAKEHOUSE_PROFILE"] == "prod"
        assert (service["build"]["context"], service["build"]["dockerfile"]) == ("..", "deploy/Dockerfile")
    for name, service in services.items():
        if name not in LAKEHOUSE_SERVICES:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    # the webserver and daemon load the gRPC workspace the image puts into DAGSTER_HOME
    copied = {p for p in dockerfile_copy_sources() if p.endswith("workspace.yaml")}
    assert copied == {"deploy/workspace.yaml"}
    for name in ("webserver", "daemon"):
        argv = services[name]["command"]
        assert argv[argv.index("-w") + 1] == f"{DAGSTER_HOME_IN_IMAGE}/workspace.yaml"
    # Feast: no worker recycling mid-traffic
    serve = services["feature-server"]["command"]
    assert serve[serve.index("--max-requests") + 1] == "0"


def test_workspace_points_at_the_compose_code_server() -> None:
    [location] = yaml_docs(DEPLOY / "workspace.yaml")[0]["load_from"]
    grpc = location["grpc_server"]
    argv = compose()["services"]["code-server"]["command"]
    assert grpc["host"] == "code-server" and str(grpc["port"]) == argv[argv.index("-p") + 1]
    assert grpc["location_name"] == argv[argv.index("--location-name") + 1] == "finance_assets"


def test_postgres_init_creates_every_database_the_env_example_names() -> None:
    created = set(re.findall(r"CREATE DATABASE (\w+);", (DEPLOY / "postgres" / "init-databases.sql").read_text()))
    named = set(re.findall(r"@postgres:5432/(\w+)", ENV_EXAMPLE.read_text()))
    assert named and named <= created, named - created


# ---- Helm and Kubernetes ---------------------------------------------------------------------------


def _project_image(image: dict[str, Any] | str) -> None:
    repository, tag = (image["repository"], str(image["tag"])) if isinstance(image, dict) else image.rsplit(":", 1)
    assert repository.rsplit("/", 1)[-1] == IMAGE_NAME, repository
    assert tag == VERSION, f"image tag {tag} != project version {VERSION} (pyproject.toml)"


def test_helm_values_for_the_official_dagster_chart() -> None:
    values = helm()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    _project_image(deployment["image"])
    _project_image(values["dagsterWebserver"]["image"])
    _project_image(values["dagsterDaemon"]["image"])
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "finance_assets.definitions", "-a", "defs"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    assert {"name": "lakehouse-env"} in deployment["envSecrets"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert {"name": "lakehouse-env"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlDatabase"] == "dagster"
    assert values["telemetry"]["enabled"] is False
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"
    # the same limits as deploy/dagster.yaml (pools are what keeps a source's rate deployment-wide)
    instance = yaml_docs(DEPLOY / "dagster.yaml")[0]["concurrency"]
    chart = values["concurrency"]
    assert chart["enabled"]
    assert chart["pools"] == {
        "defaultLimit": instance["pools"]["default_limit"],
        "granularity": instance["pools"]["granularity"],
        "opGranularityRunBuffer": instance["pools"]["op_granularity_run_buffer"],
    }
    assert chart["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]
    assert chart["runs"]["tagConcurrencyLimits"] == instance["runs"]["tag_concurrency_limits"]


def test_k8s_manifests_have_services_probes_and_resources() -> None:
    docs = k8s_docs()
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert {d["metadata"]["name"] for d in deployments} == {"mlflow", "feast-feature-server"}
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert template["spec"]["securityContext"]["runAsNonRoot"]
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items(), f"Service {name} selects no pod"
        [container] = template["spec"]["containers"]
        _project_image(container["image"])
        port_names = {p["name"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["path"] == "/health", f"{name}: {probe}"
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
        assert {"secretRef": {"name": "lakehouse-env"}} in container["envFrom"]


def test_helm_values_run_every_step_in_its_own_pod() -> None:
    """The user deployment sets DAGSTER_EXECUTOR=k8s and passes it to the run pods, which build the executor."""
    from finance_assets.core.settings import Settings
    from finance_assets.definitions import build_definitions

    values = helm()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["DAGSTER_EXECUTOR"] == "k8s"
    # the run pod re-imports the code location: without the deployment's env it would build another executor
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    executors = {
        job.executor_def.name
        for job in build_definitions(
            Settings.from_env({"DAGSTER_EXECUTOR": env["DAGSTER_EXECUTOR"]})
        ).resolve_all_job_defs()
    }
    assert executors == {"k8s"}
    # compose has no Kubernetes: its processes keep the default, and the .env both read leaves it commented out
    assert compose()["x-lakehouse"]["environment"].get("DAGSTER_EXECUTOR", "multiprocess") != "k8s"
    assert env_example()["DAGSTER_EXECUTOR"] is False


def test_prod_dagster_yaml_is_a_valid_instance_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    for name in ("DAGSTER_POSTGRES_URL", "S3_BUCKET", "S3_ENDPOINT_URL"):
        monkeypatch.setenv(name, "postgresql://u@h:5432/d" if "POSTGRES" in name else "x")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["telemetry"] == {"enabled": False}
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


# ---- environment variables ---------------------------------------------------------------------------


def deploy_variable_references() -> dict[str, set[str]]:
    """Variable -> deploy files that reference it (${VAR} in compose, env: VAR, $(VAR), secretKeyRef)."""
    refs: dict[str, set[str]] = {}

    def add(var: str, path: Path) -> None:
        refs.setdefault(var, set()).add(str(path.relative_to(REPO)))

    for path in deploy_files():
        if path.suffix not in {".yaml", ".yml"}:
            continue
        text = re.sub(r"(^|\s)#.*$", "", path.read_text(), flags=re.M)  # comments may say ${VAR}
        for m in re.finditer(rf"(?<!\$)\$\{{({VAR})(?::?-[^}}]*)?\}}", text):  # ${VAR}, not $${VAR}
            add(m.group(1), path)
        for m in re.finditer(rf"\$\(({VAR})\)", text):  # Kubernetes $(VAR)
            add(m.group(1), path)
        for m in re.finditer(rf"\benv:\s*\n?\s*({VAR})\s*$", text, re.M):  # dagster `env: VAR`
            add(m.group(1), path)
        for doc in yaml_docs(path):
            for key in _secret_keys(doc):
                add(key, path)
    return refs


def _secret_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]["key"]
        for value in node.values():
            yield from _secret_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_keys(value)


# Set inside compose/k8s for a container from variables in .env (not themselves in .env).
DERIVED_IN_DEPLOY = {"MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION", "MLFLOW_SERVER_ALLOWED_HOSTS"}


def test_every_variable_the_deploy_files_reference_is_in_env_example() -> None:
    documented = env_example()
    missing = {v: sorted(f) for v, f in deploy_variable_references().items() if v not in documented}
    assert not missing, f"add to .env.example: {missing}"
    for var in ("S3_BUCKET", "S3_ENDPOINT_URL", "DAGSTER_POSTGRES_URL"):  # dagster.yaml's env: references
        assert documented[var], f"{var} must be set (not commented out) in .env.example"


def _code_files() -> Iterator[Path]:
    for pattern in ("finance_assets/**/*.py", "dbt_project/**/*.yml", "dbt_project/**/*.sql", "feature_repo/**/*"):
        for path in REPO.glob(pattern):
            if path.is_file() and "target" not in path.parts and "__pycache__" not in path.parts:
                yield path


def variables_the_code_reads() -> dict[str, set[str]]:
    python = [
        rf"environ(?:\.get|\.setdefault|\.pop)?\(\s*[\"']({VAR})[\"']",
        rf"environ\[\s*[\"']({VAR})[\"']\s*\]",
        rf"getenv\(\s*[\"']({VAR})[\"']",
        rf"\b(?:get|_\w+)\(\s*(?:env,\s*)?[\"']({VAR})[\"']",  # settings.py's readers
    ]
    config = [  # dbt's env_var(), ${VAR} placeholders (Feast YAML); comments stripped first
        rf"env_var\(\s*[\"']({VAR})[\"']",
        rf"\$\{{({VAR})(?::?-[^}}]*)?\}}",
    ]
    reads: dict[str, set[str]] = {}
    for path in _code_files():
        text = path.read_text(errors="replace")
        if path.suffix != ".py":
            text = re.sub(r"(^|\s)(#|--).*$", "", text, flags=re.M)
        for pattern in python if path.suffix == ".py" else config:
            for m in re.finditer(pattern, text):
                reads.setdefault(m.group(1), set()).add(str(path.relative_to(REPO)))
    return reads


def test_every_variable_the_code_reads_is_in_env_example() -> None:
    documented = env_example()
    reads = variables_the_code_reads()
    assert {"LAKEHOUSE_PROFILE", "ICEBERG_CATALOG_URI", "FEAST_REDIS", "OPTUNA_STORAGE"} <= set(reads)
    missing = {v: sorted(f) for v, f in reads.items() if v not in documented and v not in INTERNAL_VARIABLES}
    assert not missing, f"the code reads these, add them to .env.example (with a comment): {missing}"


def test_every_variable_in_env_example_is_read_somewhere() -> None:
    """No dead configuration: each documented variable is read by the code, a deploy file or the Makefile."""
    haystack = "\n".join(p.read_text(errors="replace") for p in [*_code_files(), *deploy_files(), REPO / "Makefile"])
    unread = [v for v in env_example() if not re.search(rf"\b{v}\b", haystack)]
    assert not unread, f".env.example documents variables nothing reads: {unread}"


def test_env_file_with_secrets_is_git_ignored() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
