"""Every shell command the README and docs/ show is run by a test, or allow-listed with the reason and a check.

The commands are those of ``tests/docs/shell_blocks.py`` (every ``bash``,
``sh``, ``shell``, ``console`` or untagged block) and the examples of the
README's ``clipper`` command table. Each is covered one of three ways:

* it lies in a section of :data:`RUN_SECTIONS`: the section's blocks, Python
  and shell, run in their order on one local cluster the test starts (the
  Python as a user would paste it, with ``local_ports/sitecustomize.py`` giving
  ``LocalContainerManager()`` ports the OS picks; the shell through ``bash``
  with the cluster's real ports in place of the documented 1337/1338), and a
  command's output is compared with the one the docs show below it (JSON as
  JSON, ``query_id`` aside);
* it is an example of the ``clipper`` table: the CLI scenario runs every one,
  as written, on that same cluster (``CLIPPER_CLUSTER_NAME=dev``, the name the
  table's ``status`` example uses), checking what each did;
* it is in :data:`ALLOWED`: a command that cannot run here (a whole test
  suite, a download, a Kubernetes cluster), with the reason, and a check of
  what can be checked without running it (the flags, extras, targets and
  paths it names, and what its remark says).

A command in none of these fails :func:`test_every_command_is_run_or_allow_listed`,
so a new block in the docs needs a runnable home or a reviewed entry.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest

from tests.docs.shell_blocks import ROOT, Block, Command, all_blocks, all_commands, blocks, commands_of
from tests.kubernetes.kustomize_render import kubectl, render
from tests.test_cli import pid_gone

README = ROOT / "README.md"
PORTS_DIR = Path(__file__).resolve().parent / "local_ports"
BIN = Path(sys.executable).parent  # .venv/bin: python, clipper, pip
COMMANDS = all_commands()

#: ``(document, section)`` whose blocks run in order on one cluster, and the test that runs them.
RUN_SECTIONS = {
    ("README.md", "Quickstart from Python"): "test_quickstart_then_every_clipper_example",
    ("docs/frameworks.md", "PyTorch"): "test_frameworks_pytorch_then_its_curl",
}


# --------------------------------------------------------------- the docs' parts


def section_blocks(doc: str, section: str) -> list[Block]:
    found = [b for b in blocks(ROOT / doc) if b.section == section]
    assert found, f"{doc} has no section {section!r} any more: update RUN_SECTIONS"
    return found


def clipper_table_examples() -> list[str]:
    """The ``example`` column of the README's ``clipper`` command table."""
    text = README.read_text()
    section = text[text.index("## The `clipper` command"):]
    section = section[:section.index("\n## ", 3)]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "the README's clipper table has no rows"
    examples = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 3 and re.fullmatch(r"`[^`]+`", cells[2]), f"unexpected row: {row}"
        examples.append(cells[2].strip("`"))
    return examples


def clipper_table_rows() -> list[tuple[list[str], str]]:
    """``([command, ...], does)`` of each row of that table."""
    text = README.read_text()
    section = text[text.index("## The `clipper` command"):]
    section = section[:section.index("\n## ", 3)]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((re.findall(r"`([a-z-]+)`", cells[0]), cells[1]))
    return rows


CLI_EXAMPLES = clipper_table_examples()


# --------------------------------------------------------------- running commands


@dataclasses.dataclass
class Shell:
    """Runs commands as a reader would, in ``cwd``, with .venv/bin first on PATH."""

    cwd: Path
    env: dict[str, str]
    ports: dict[int, int] = dataclasses.field(default_factory=dict)  #: documented port -> the cluster's

    def localized(self, text: str) -> str:
        for documented, real in self.ports.items():
            text = re.sub(rf"\b(localhost|127\.0\.0\.1):{documented}\b", rf"\g<1>:{real}", text)
        return text

    def run(self, text: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = self.localized(text)
        done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check:
            assert done.returncode == 0, (f"`{command}` exited with {done.returncode}\n--- stdout\n"
                                          f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
        return done

    def clipper_json(self, *argv: str, check: bool = True) -> Any:
        return json.loads(self.run(shlex.join(["clipper", *argv, "--json"]), check=check).stdout)

    def learn_ports(self, cluster: str) -> dict[str, Any]:
        """The ports ``cluster`` got, put in place of the documented ones; its status."""
        status: dict[str, Any] = self.clipper_json("status", "--cluster-name", cluster)
        assert status["state"] == "running", status
        self.ports = {1337: int(status["query_address"].rsplit(":", 1)[1]),
                      1338: int(status["management_address"].rsplit(":", 1)[1])}
        return status

    def run_python_block(self, block: Block, cluster: str) -> None:
        """The block in a Python of its own, as pasted; the cluster it starts keeps running."""
        env = {**self.env, "CLIPPER_EXAMPLE_CLUSTER": cluster,
               "PYTHONPATH": os.pathsep.join([str(PORTS_DIR), str(ROOT)])}
        done = subprocess.run([sys.executable, "-c", block.text], cwd=self.cwd, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (f"{block.doc}:{block.line} failed:\n{done.stdout[-3000:]}\n"
                                      f"{done.stderr[-6000:]}")

    def run_documented(self, command: Command) -> subprocess.CompletedProcess[str]:
        done = self.run(command.text)
        if command.output:
            assert_same_output(command, done.stdout)
        return done


def without_query_id(value: Any) -> Any:
    return {k: v for k, v in value.items() if k != "query_id"} if isinstance(value, dict) else value


def assert_same_output(command: Command, stdout: str) -> None:
    """The output the docs show below ``command`` (JSON compared as JSON, ``query_id`` aside)."""
    try:
        expected = json.loads(command.output)
    except ValueError:
        assert stdout.strip() == command.output.strip(), f"{command.where}: the docs show {command.output!r}"
        return
    try:
        actual = json.loads(stdout)
    except ValueError:
        raise AssertionError(f"{command.where}: the docs show JSON {command.output}, the command printed "
                             f"{stdout!r}") from None
    assert without_query_id(actual) == without_query_id(expected), \
        f"{command.where}: the docs show {command.output}, the command printed {stdout.strip()}"


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 30) -> Any:
    """``probe()`` once it is truthy; fails after ``timeout_s`` with the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last: {value!r}"
        time.sleep(0.1)


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPPER_", "PYTHONPATH"))}
    env.update(PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), CLIPPER_HOME=str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    return Shell(work, env)


@pytest.fixture
def stopped_afterwards(shell: Shell) -> Iterator[list[str]]:
    """Cluster names to stop (``clipper stop --purge``) when the test ends, however it ends."""
    names: list[str] = []
    yield names
    for name in names:
        shell.run(f"clipper stop --cluster-name {name} --purge", timeout=60)
        assert shell.clipper_json("status", "--cluster-name", name, check=False)["state"] != "running"


def run_section(shell: Shell, doc: str, section: str, cluster: str) -> None:
    """Every block of the section in order: Python blocks start and fill ``cluster``, shell blocks query it."""
    for block in section_blocks(doc, section):
        if block.tag == "python":
            shell.run_python_block(block, cluster)
            shell.learn_ports(cluster)
        elif block.is_shell:
            for command in commands_of(block):
                shell.run_documented(command)
        else:
            raise AssertionError(f"{block.doc}:{block.line}: no runner for a {block.tag!r} block")


# --------------------------------------------------------------- the CLI scenario


@dataclasses.dataclass
class CliScenario:
    """The README's ``clipper`` examples, each run as written; what each did is checked with ``--json``."""

    shell: Shell
    ran: set[str] = dataclasses.field(default_factory=set)

    def example(self, text: str) -> str:
        assert text in CLI_EXAMPLES, f"`{text}` is not an example of the README's clipper table (any more)"
        self.ran.add(text)
        return self.shell.run(text).stdout

    def predict(self) -> Any:
        return json.loads(self.shell.run("clipper predict hello-world '[1.1, 2.2, 3.3]'").stdout)

    def answer_becomes(self, output: float, default: bool = False) -> None:
        def probe() -> Any:
            answer = self.predict()
            return answer if (answer["output"], answer["default"]) == (output, default) else None

        wait_for(f"hello-world to answer {output} (default: {default})", probe)

    def current_version(self) -> str:
        models = self.shell.clipper_json("models")
        current = [m["model_version"] for m in models if m["model_name"] == "sum-model" and m["is_current_version"]]
        assert len(current) == 1, models
        return str(current[0])


#: Every README example the scenario runs (the coverage test compares it with the table).
CLI_SCENARIO_EXAMPLES = frozenset({
    "clipper status --cluster-name dev",
    "clipper clusters",
    "clipper predict hello-world '[1.1, 2.2, 3.3]'",
    "clipper models",
    "clipper metrics hello-world",
    "clipper quality hello-world",
    "clipper logs --model sum-model --tail 30",
    "clipper unlink hello-world sum-model",
    "clipper delete-app hello-world",
    "clipper stop-model sum-model --version 1",
    "clipper register-app hello-world --input-type doubles --default-output -1.0 --slo-micros 100000",
    "clipper deploy model.py:feature_sum --name sum-model --version 1 --input-type doubles --app hello-world",
    "clipper rollback sum-model",
    "clipper set-version sum-model 2",
    "clipper scale sum-model 3",
    "clipper stop",
    "clipper start --free-ports",
})

#: Version 2 of sum-model in the scenario (not a README example: the table shows no deploy of a 2nd version).
NEGATED_SUM = '''

def negated_sum(xs):
    return [str(-sum(x)) for x in xs]
'''


def quickstart_function(name: str) -> str:
    """The source of function ``name`` in the README's quickstart Python block."""
    (block,) = [b for b in section_blocks("README.md", "Quickstart from Python") if b.tag == "python"]
    for node in ast.parse(block.text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            source = ast.get_source_segment(block.text, node)
            assert source is not None
            return source
    raise AssertionError(f"the README's quickstart defines no {name}()")


def run_cli_scenario(cli: CliScenario) -> None:
    sh = cli.shell
    # model.py, as the table's deploy example names it: the quickstart's feature_sum.
    (sh.cwd / "model.py").write_text(quickstart_function("feature_sum") + "\n" + NEGATED_SUM)

    status = cli.example("clipper status --cluster-name dev")
    info = sh.clipper_json("status", "--cluster-name", "dev")
    assert re.search(rf"query frontend:\s+http://{re.escape(info['query_address'])}\b", status), status
    assert re.search(r"^sum-model_1-1\s+\d+\s+alive\b", status, re.M), status
    pids = [p["pid"] for p in info["processes"]]

    clusters = cli.example("clipper clusters")
    assert re.search(r"^dev\s+running\s", clusters, re.M), clusters

    answer = json.loads(cli.example("clipper predict hello-world '[1.1, 2.2, 3.3]'"))
    assert (answer["output"], answer["default"]) == (6.6, False), answer

    models = cli.example("clipper models")
    assert re.search(r"^sum-model\s+1\s+yes\s+doubles\s+1\s", models, re.M), models

    metrics = cli.example("clipper metrics hello-world")
    assert re.search(r"^APP\s+QUERIES\s+DEFAULTS\s", metrics, re.M), metrics
    assert re.search(r"^hello-world\s+\d+\s", metrics, re.M) and re.search(r"^sum-model\s+1\s", metrics, re.M), \
        metrics
    wait_for("the curl's and the predict's queries in the metrics", lambda: [
        a for a in sh.clipper_json("metrics", "hello-world")["apps"]
        if a["app"] == "hello-world" and a["num_predictions"] >= 2])

    quality = cli.example("clipper quality hello-world")
    assert re.search(r"^FEATURE\s+PSI\s+KS\s", quality, re.M) and re.search(r"^sum-model\s+1\s", quality, re.M), \
        quality

    logs = cli.example("clipper logs --model sum-model --tail 30")
    headers = re.findall(r"^==> (\S+) \((sum-model_1-1), alive\) <==$", logs, re.M)
    assert len(headers) == 1, logs
    tail = [line for line in logs.splitlines() if line and not line.startswith("==> ")]
    lines = [line for line in Path(headers[0][0]).read_text().splitlines() if line]  # it may have grown since
    starts = [i for i in range(len(lines)) if lines[i:i + len(tail)] == tail]
    assert 1 <= len(tail) <= 30 and starts, f"not the end of {headers[0][0]}:\n{logs}"
    assert len(tail) == 30 or starts[0] == 0, f"fewer than 30 lines but not the whole log:\n{logs}"

    cli.example("clipper unlink hello-world sum-model")
    assert [a["linked_models"] for a in sh.clipper_json("apps") if a["name"] == "hello-world"] == [[]]
    cli.answer_becomes(-1.0, default=True)

    cli.example("clipper delete-app hello-world")
    assert sh.clipper_json("apps") == []
    cli.example("clipper stop-model sum-model --version 1")
    assert sh.clipper_json("models") == []
    wait_for("sum-model's replica to leave", lambda: sh.clipper_json("replicas") == [])

    cli.example("clipper register-app hello-world --input-type doubles --default-output -1.0 --slo-micros 100000")
    (app,) = sh.clipper_json("apps")
    assert (app["name"], app["input_type"], app["default_output"], app["latency_slo_micros"]) == \
        ("hello-world", "doubles", "-1.0", 100000), app
    cli.example("clipper deploy model.py:feature_sum --name sum-model --version 1 --input-type doubles "
                "--app hello-world")
    cli.answer_becomes(6.6)

    sh.run("clipper deploy model.py:negated_sum --name sum-model --version 2 --input-type doubles")
    assert cli.current_version() == "2"
    cli.answer_becomes(-6.6)
    cli.example("clipper rollback sum-model")
    assert cli.current_version() == "1"
    cli.answer_becomes(6.6)
    cli.example("clipper set-version sum-model 2")
    assert cli.current_version() == "2"
    cli.answer_becomes(-6.6)

    cli.example("clipper scale sum-model 3")  # the current version: 2
    wait_for("3 replicas of sum-model:2",
             lambda: sorted(r["model_version"] for r in sh.clipper_json("replicas")) == ["1", "2", "2", "2"])
    cli.example("clipper stop-model sum-model --version 1")
    assert [m["model_version"] for m in sh.clipper_json("models")] == ["2"]
    cli.answer_becomes(-6.6)

    info = sh.clipper_json("status", "--cluster-name", "dev")
    pids += [p["pid"] for p in info["processes"]]
    cli.example("clipper stop")
    assert sh.clipper_json("status", "--cluster-name", "dev", check=False)["state"] == "stopped"
    wait_for("every process of the cluster to exit", lambda: all(pid_gone(pid) for pid in pids))

    started = cli.example("clipper start --free-ports")
    assert "Clipper cluster dev is running" in started, started
    assert sh.clipper_json("status", "--cluster-name", "dev")["state"] == "running"
    assert sh.clipper_json("apps") == []  # a new cluster: the old one's state went with its files

    assert cli.ran == CLI_SCENARIO_EXAMPLES, CLI_SCENARIO_EXAMPLES - cli.ran


# --------------------------------------------------------------- the clusters


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quickstart_then_every_clipper_example(shell: Shell, stopped_afterwards: list[str]) -> None:
    """The quickstart's Python and curl, then every example of the ``clipper`` table, on one cluster."""
    shell.env["CLIPPER_CLUSTER_NAME"] = "dev"  # `clipper` without --cluster-name means dev, as the README says
    stopped_afterwards.append("dev")
    assert (BIN / "clipper").is_file(), "the `clipper` command is not next to this Python"
    run_section(shell, "README.md", "Quickstart from Python", "dev")
    run_cli_scenario(CliScenario(shell))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_frameworks_pytorch_then_its_curl(shell: Shell, stopped_afterwards: list[str]) -> None:
    """docs/frameworks.md's PyTorch deploy, then its curl line (the answer for digit 0 is 0)."""
    stopped_afterwards.append("frameworks")
    run_section(shell, "docs/frameworks.md", "PyTorch", "frameworks")


# --------------------------------------------------------------- the allow-list


@dataclasses.dataclass(frozen=True)
class Allowed:
    reason: str  #: why the command does not run in a test
    check: Callable[[Command], None]  #: what is checked instead


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def extra(name: str) -> list[str]:
    extras: dict[str, list[str]] = pyproject()["project"]["optional-dependencies"]
    assert name in extras, f"pyproject.toml has no extra {name!r}"
    return extras[name]


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def pip_target(command: Command) -> str:
    """The ``.`` or ``.[extra]`` a ``pip install`` names."""
    words = shlex.split(command.text)
    targets = [w for w in words if w == "." or w.startswith(".[")]
    assert len(targets) == 1, command.text
    return targets[0]


def check_pip_install(extra_name: str | None, must_have: AbstractSet[str],
                      must_not_have: AbstractSet[str] = frozenset(),
                      pins: AbstractSet[str] = frozenset()) -> Callable[[Command], None]:
    def check(command: Command) -> None:
        target = pip_target(command)
        assert target == (f".[{extra_name}]" if extra_name else "."), command.text
        project = pyproject()["project"]
        requirements = extra(extra_name) if extra_name else project["dependencies"]
        names = requirement_names(requirements)
        assert must_have <= names, f"{command.where}: {sorted(must_have - names)} not in {target}"
        assert not (must_not_have & names), f"{command.where}: {target} has {sorted(must_not_have & names)}"
        assert pins <= set(requirements), f"{command.where}: {target} does not pin {sorted(pins - set(requirements))}"

    return check


def check_install_all(command: Command) -> None:
    """``pip install .``: the library, both frontends, the model runtime and the ``clipper`` command."""
    assert pip_target(command) == "."
    config = pyproject()
    assert config["project"]["name"] == "clipper-serving"  # the README's "The distribution is clipper-serving"
    assert config["project"]["scripts"]["clipper"] == "clipper_admin.cli:main"
    packages = config["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("clipper_admin*", "query_frontend*", "management_frontend*", "model_containers*"):
        assert package in packages, f"`pip install .` does not install {package}"


def make_dry_run(argv: list[str]) -> str:
    """What ``make ARGV`` would run, stamps or not (``make -n -B``: nothing runs); fails for a missing target."""
    done = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"make {' '.join(argv)}: {done.stderr}"
    return done.stdout


def check_make(*in_recipe: str) -> Callable[[Command], None]:
    def check(command: Command) -> None:
        words = shlex.split(command.text)
        assert words[0] == "make", command.text
        recipe = make_dry_run(words[1:])
        for text in in_recipe:
            assert text in recipe, f"`{command.text}` does not run {text!r}:\n{recipe}"

    return check


def next_python_block(command: Command) -> str:
    """The first Python block after ``command`` in its document and section."""
    later = [b for b in blocks(ROOT / command.doc) if b.line > command.line and b.tag == "python"
             and b.section == command.section]
    assert later, f"{command.where}: no Python block follows"
    return later[0].text


def check_kubectl_proxy(command: Command) -> None:
    """The proxy's port is the one the Python below gives ``KubernetesContainerManager``."""
    port = re.fullmatch(r"kubectl proxy --port (\d+) &", command.key)
    assert port, command.text
    assert f'kubernetes_proxy_addr="127.0.0.1:{port.group(1)}"' in next_python_block(command)
    from clipper_admin import KubernetesContainerManager

    assert "kubernetes_proxy_addr" in inspect.signature(KubernetesContainerManager).parameters


def dry_run_kubectl(command: Command) -> dict[str, Any] | None:
    """The object ``kubectl create ...`` would create (``--dry-run=client``, offline), or None without kubectl."""
    exe = kubectl()
    if exe is None:
        return None
    words = shlex.split(command.text.replace("$(openssl rand -hex 32)", "0123456789abcdef"))
    done = subprocess.run([exe, *words[1:], "--dry-run=client", "-o", "json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"{command.where}: {done.stderr}"
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def check_pull_secret(command: Command) -> None:
    """The secret the Python below names, created offline where kubectl is installed."""
    name = shlex.split(command.text)[4]
    assert f'image_pull_secrets=["{name}"]' in next_python_block(command)
    from clipper_admin import KubernetesContainerManager

    assert "image_pull_secrets" in inspect.signature(KubernetesContainerManager).parameters
    secret = dry_run_kubectl(command)
    if secret is not None:
        assert (secret["kind"], secret["metadata"]["name"], secret["type"]) == \
            ("Secret", name, "kubernetes.io/dockerconfigjson")


def rendered(command: Command) -> list[dict[str, Any]]:
    """What ``kubectl apply -k DIR`` would send (``kubectl kustomize``, or the tests' renderer)."""
    words = shlex.split(command.text)
    assert words[:3] == ["kubectl", "apply", "-k"] and len(words) == 4, command.text
    directory = ROOT / words[3]
    assert (directory / "kustomization.yaml").is_file(), f"{command.where}: {words[3]} is no kustomization"
    return render(directory)


def deployments(objects: list[dict[str, Any]]) -> dict[str, str]:
    """``{deployment name: its first container's image}``."""
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
            for o in objects if o["kind"] == "Deployment"}


def check_apply_base(command: Command) -> None:
    """``# Redis (with a PVC), frontends, Prometheus``."""
    objects = rendered(command)
    images = deployments(objects)
    assert any(o["kind"] == "PersistentVolumeClaim" and "redis" in o["metadata"]["name"] for o in objects)
    for image in ("redis", "clipper/management_frontend", "clipper/query_frontend", "prometheus"):
        assert any(i.startswith(image + ":") or f"/{image}:" in i for i in images.values()), \
            f"no {image} Deployment in {images}"


def check_apply_external_redis(command: Command) -> None:
    """``# an existing Redis: edit redis-address.yaml first``: no Redis of its own, the file exists."""
    objects = rendered(command)
    assert not [image for image in deployments(objects).values() if "redis" in image]
    assert (ROOT / shlex.split(command.text)[3] / "redis-address.yaml").is_file()


def check_apply_scale_frontends(command: Command) -> None:
    """``# three query frontends``."""
    images = deployments(rendered(command))
    assert len([i for i in images.values() if i.startswith("clipper/query_frontend:")]) == 3, images


def secret_refs() -> set[tuple[str, str]]:
    """``(secret, key)`` pairs the manifests of ``k8s/`` read."""
    text = json.dumps(render(ROOT / "k8s"))
    return set(re.findall(r'"secretKeyRef": \{[^}]*?"name": "([^"]+)", "key": "([^"]+)"', text)) | \
        {(n, k) for k, n in re.findall(r'"secretKeyRef": \{[^}]*?"key": "([^"]+)", "name": "([^"]+)"', text)}


def check_k8s_secret(command: Command) -> None:
    """The Secret and keys the manifests read, created offline where kubectl is installed."""
    words = shlex.split(command.text)
    name = words[4]
    keys = {w.split("=", 2)[1] for w in words if w.startswith("--from-literal=")}
    assert {(name, key) for key in keys} == secret_refs(), (keys, secret_refs())
    secret = dry_run_kubectl(command)
    if secret is not None:
        assert secret["metadata"]["name"] == name and set(secret["data"]) == keys, secret


def check_k8s_label(command: Command) -> None:
    """The label every object of ``k8s/`` carries, so ``stop_all()`` and ``kubectl delete`` find the Secret too."""
    words = shlex.split(command.text)
    assert words[:3] == ["kubectl", "label", "secret"] and len(words) == 5, command.text
    assert words[3] in {name for name, _ in secret_refs()}
    key, value = words[4].split("=")
    for obj in render(ROOT / "k8s"):
        assert obj["metadata"]["labels"][key] == value, obj["metadata"]["name"]


def help_defaults(module: str) -> dict[str, str]:
    """``{"--flag": default}`` from ``python -m MODULE --help``."""
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    option = r"--[a-z_]+ [A-Z_]+[ ,]"
    options = re.findall(rf"(--[a-z_]+) [A-Z_]+(?:, --[a-z-]+ [A-Z_]+)? (?:(?!{option}).)*?default ('[^']*'|[^)]*)\)",
                         text)
    return {flag: default.strip("'") for flag, default in options}


def check_synopsis(command: Command) -> None:
    """A process's command line: every flag exists, and each ``[--flag VALUE]`` or literal value is its default."""
    words = shlex.split(command.text.replace("[", " ").replace("]", " "))
    assert words[:2] == ["python", "-m"], command.text
    defaults = help_defaults(words[2])
    pairs: list[tuple[str, str]] = []
    rest = words[3:]
    while rest:
        word = rest.pop(0)
        if "=" in word:
            flag, value = word.split("=", 1)
        else:
            flag, value = word, rest.pop(0)
        pairs.append((flag, value))
    assert pairs, command.text
    for flag, value in pairs:
        assert flag in defaults, f"{command.where}: `python -m {words[2]}` has no {flag}"
        if not value.isupper():  # HOST, PORT: placeholders
            assert defaults[flag] == value, f"{command.where}: {flag} defaults to {defaults[flag]}, not {value}"


def pytest_collects(argv: list[str]) -> int:
    """How many tests ``pytest ARGV`` would run (collected only)."""
    done = subprocess.run([sys.executable, "-m", "pytest", *argv, "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"pytest {' '.join(argv)} --collect-only:\n{done.stdout[-3000:]}{done.stderr}"
    found = re.search(r"^(\d+)(?:/\d+)? tests? collected", done.stdout, re.M)
    assert found, done.stdout[-2000:]
    return int(found.group(1))


def check_reliability_suite(command: Command) -> None:
    """The suite's tests collect, and they print the ``FIGURES`` lines ``-s`` shows."""
    words = shlex.split(command.text)
    assert words[:3] == [".venv/bin/python", "-m", "pytest"], command.text
    assert pytest_collects([w for w in words[3:] if w not in {"-q", "-s"}]) >= 10
    assert "FIGURES" in "".join(p.read_text() for p in (ROOT / "tests" / "reliability").glob("test_*.py"))


def check_fault_marker(command: Command) -> None:
    """``-m fault`` is a declared marker, and fault-injecting tests carry it."""
    words = shlex.split(command.text)
    assert words[3:5] == ["-m", "fault"], command.text
    assert any(m.startswith("fault:") for m in pyproject()["tool"]["pytest"]["ini_options"]["markers"])
    assert pytest_collects(["tests/reliability", "-m", "fault"]) >= 5


def check_mxnet_venv(command: Command) -> None:
    """What ``make mxnet-venv`` does for the tests too (a venv, then the mxnet extra)."""
    recipe = make_dry_run(["mxnet-venv"])
    assert "-m venv" in recipe and '-e ".[mxnet]"' in recipe, recipe


ALLOWED: dict[str, Allowed] = {
    "pip install .": Allowed("installs into the Python running the tests (CI installs it: `make test`)",
                             check_install_all),
    "pip install '.[test]'": Allowed(
        "installs from PyPI into the Python running the tests",
        check_pip_install("test", {"pytest", "mypy", "torch", "onnxruntime", "tensorflow-cpu", "keras", "pyspark",
                                   "xgboost-cpu"}, must_not_have={"mxnet"})),
    "pip install '.[mxnet]'": Allowed("needs a virtualenv of its own and PyPI",
                                      check_pip_install("mxnet", {"mxnet"}, pins={"numpy<1.24"})),
    "make demo": Allowed("binds 1337/1338 when free; tests/docs/test_demo.py runs examples/demo.py, its recipe",
                         check_make("-m venv .venv", "-c constraints.txt -e .", "examples/demo.py")),
    "make test": Allowed("the whole suite this test is part of",
                         check_make('-c constraints.txt -e ".[test]"', "mypy --strict", "-m pytest")),
    "make images": Allowed("builds every image (minutes); CI runs it before `make test`, tests/docker uses them",
                           check_make("dockerfiles/build_images.sh")),
    "kubectl proxy --port 8080 &": Allowed("no Kubernetes cluster here", check_kubectl_proxy),
    "kubectl create secret docker-registry myregistrykey --docker-server=yourdomain.io --docker-username=... "
    "--docker-password=...": Allowed("no Kubernetes cluster here (run with --dry-run=client where kubectl is)",
                                     check_pull_secret),
    "kubectl apply -k k8s/": Allowed("no Kubernetes cluster here (rendered instead)", check_apply_base),
    "kubectl apply -k k8s/overlays/external-redis": Allowed("no Kubernetes cluster here (rendered instead)",
                                                            check_apply_external_redis),
    "kubectl apply -k k8s/overlays/scale-frontends": Allowed("no Kubernetes cluster here (rendered instead)",
                                                             check_apply_scale_frontends),
    "python -m management_frontend --redis_ip=HOST --redis_port=PORT [--host 0.0.0.0] [--port 1338]": Allowed(
        "a synopsis with placeholders (the frontend runs in every cluster test)", check_synopsis),
    "python -m query_frontend --redis_ip=HOST --redis_port=PORT --rpc_service_port=7000 "
    "--prediction_cache_size=33554432 --thread_pool_size=1 --timeout_request=5 --timeout_content=300 "
    "[--host 0.0.0.0] [--query_port 1337] [--workers 1]": Allowed(
        "a synopsis with placeholders and fixed ports (the frontend runs in every cluster test)", check_synopsis),
    "python3 -m venv mxnet-client": Allowed("the first half of an install from PyPI", check_mxnet_venv),
    "mxnet-client/bin/pip install -e '.[mxnet]'": Allowed(
        "installs from PyPI (`make mxnet-venv` does, for tests/frameworks/test_mxnet.py)",
        check_pip_install("mxnet", {"mxnet"}, pins={"mxnet==1.9.1", "numpy<1.24"})),
    ".venv/bin/python -m pytest tests/reliability -q -s": Allowed("the reliability suite itself (minutes of load)",
                                                                  check_reliability_suite),
    ".venv/bin/python -m pytest -m fault -q": Allowed("every fault-injecting test (minutes of load)",
                                                      check_fault_marker),
    "kubectl create secret generic clipper-secrets-at-default-cluster --from-literal=admin-token=\"$(openssl rand "
    "-hex 32)\" --from-literal=redis-password=\"$(openssl rand -hex 32)\" --from-literal=rpc-secret=\"$(openssl rand "
    "-hex 32)\"": Allowed(
        "no Kubernetes cluster here (run with --dry-run=client where kubectl is)", check_k8s_secret),
    "kubectl label secret clipper-secrets-at-default-cluster ai.clipper.container.label=default-cluster": Allowed(
        "no Kubernetes cluster here", check_k8s_label),
}


# --------------------------------------------------------------- coverage


def test_every_command_is_run_or_allow_listed() -> None:
    uncovered = [f"{c.where}: {c.key}" for c in COMMANDS
                 if (c.doc, c.section) not in RUN_SECTIONS and c.key not in ALLOWED]
    assert not uncovered, ("commands in the docs that no test runs: run them (RUN_SECTIONS, the CLI scenario) "
                           "or allow-list them (ALLOWED) with the reason and a check:\n" + "\n".join(uncovered))
    missing = sorted(set(CLI_EXAMPLES) - CLI_SCENARIO_EXAMPLES)
    assert not missing, f"examples of the README's clipper table the CLI scenario does not run: {missing}"


def test_the_allow_list_names_only_commands_of_the_docs() -> None:
    keys = {c.key for c in COMMANDS}
    assert not set(ALLOWED) - keys, f"allow-listed but in no doc any more: {sorted(set(ALLOWED) - keys)}"
    assert not CLI_SCENARIO_EXAMPLES - set(CLI_EXAMPLES), sorted(CLI_SCENARIO_EXAMPLES - set(CLI_EXAMPLES))
    assert not [c for c in COMMANDS if (c.doc, c.section) in RUN_SECTIONS and c.key in ALLOWED]
    for doc, section in RUN_SECTIONS:
        assert any(b.is_shell for b in section_blocks(doc, section)), (doc, section)


def test_the_reader_finds_commands_and_their_output() -> None:
    assert len(COMMANDS) >= 20 and len(CLI_EXAMPLES) >= 15
    (curl,) = [c for c in COMMANDS if c.doc == "README.md" and c.key.startswith("curl ")]
    assert curl.text.endswith("' http://localhost:1337/hello-world/predict")  # the continuation, joined
    assert json.loads(curl.output)["output"] == 6.6
    (pip,) = [c for c in COMMANDS if c.key == "pip install ."]
    assert pip.remark.startswith("the library") and pip.output == ""
    assert not [b for b in all_blocks() if b.is_shell and not commands_of(b)]
    example = Block("x.md", 1, "console", "s", "$ echo hi  # greet\nhi\n")
    (echo,) = commands_of(example)
    assert (echo.text, echo.remark, echo.output) == ("echo hi", "greet", "hi")


@pytest.mark.parametrize("key", sorted(ALLOWED))
def test_allow_listed_command(key: str) -> None:
    allowed = ALLOWED[key]
    assert allowed.reason
    found = [c for c in COMMANDS if c.key == key]
    assert found, f"`{key}` is in no doc any more: remove it from ALLOWED"
    allowed.check(found[0])


def test_the_clipper_table_names_real_commands_and_flags() -> None:
    """Each row's commands exist, and each ``--flag`` its "does" column names is in ``clipper CMD --help``."""
    for names, does in clipper_table_rows():
        assert names, does
        for name in names:
            done = subprocess.run([str(BIN / "clipper"), name, "--help"], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"clipper {name} --help: {done.stderr}"
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", does):
                assert re.search(rf"(?<![\w-]){flag}\b", done.stdout), f"clipper {name} has no {flag}"


INLINE_MAKE = re.compile(r"`(make [^`]+)`")


def test_make_commands_in_the_prose_are_targets() -> None:
    """``make X`` the README and docs/ mention between backticks runs a real target (``make -n``)."""
    mentions = {m for doc in (README, *sorted((ROOT / "docs").glob("*.md")))
                for m in INLINE_MAKE.findall(doc.read_text())}
    assert {"make install", "make demo-stop", "make bench BENCH_ARGS=--quick"} <= mentions, mentions
    for mention in sorted(mentions):
        make_dry_run(shlex.split(mention)[1:])


def test_reliability_table_commands_collect() -> None:
    """Each command of docs/reliability.md's table names tests that exist (and a ``-k`` that selects some)."""
    text = (ROOT / "docs" / "reliability.md").read_text()
    commands = re.findall(r"\| `(\.venv/bin/python -m pytest [^`]+)` \|$", text, re.M)
    assert len(commands) >= 15, commands
    plain: list[str] = []
    for command in commands:
        argv = [w for w in shlex.split(command)[3:] if w != "-s"]
        if "-k" in argv:
            assert pytest_collects(argv) >= 1, command
        else:
            plain += argv
    assert pytest_collects(sorted(set(plain))) >= 1  # a path or test that does not exist fails the collection
