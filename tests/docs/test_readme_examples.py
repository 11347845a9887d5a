"""Every example of the README's "Framework models" section runs as written and gets a real answer.

Each runs in its own Python, as a user would paste it, with
``local_ports/sitecustomize.py`` giving ``LocalContainerManager()`` ports the
OS picks; the cluster it starts is stopped afterwards whatever happened.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PORTS_DIR = Path(__file__).resolve().parent / "local_ports"

# Runs the example, then stops whatever cluster it started (``conn``), even when it failed.
DRIVER = """
import sys
code = sys.stdin.read()
namespace = {"__name__": "__main__"}
try:
    exec(compile(code, sys.argv[1], "exec"), namespace)
finally:
    conn = namespace.get("conn")
    if conn is not None:
        conn.stop_all(graceful=False)
"""


def framework_examples() -> dict[str, str]:
    """``{"PyTorch": code, ...}``: the first python block of each ``###`` under ``## Framework models``."""
    text = README.read_text()
    section = text[text.index("## Framework models"):]
    section = section[:section.index("\n## ", 3)]
    examples = {}
    for part in section.split("\n### ")[1:]:
        title = part.splitlines()[0].strip()
        block = re.search(r"```python\n(.*?)```", part, re.S)
        assert block is not None, f"README section {title!r} has no python example"
        examples[title.split(" (")[0]] = block.group(1)
    return examples


EXAMPLES = framework_examples()


#: MXNet needs numpy<1.24: its examples run in the MXNet client's virtualenv (`make mxnet-venv`).
MXNET_PYTHON = ROOT / "build" / "mxnet-venv" / "bin" / "python"


def test_every_framework_has_an_example() -> None:
    assert {"PyTorch", "ONNX", "TensorFlow", "Keras", "PySpark", "MXNet", "XGBoost"} <= set(EXAMPLES)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("framework", sorted(EXAMPLES))
def test_readme_example_answers(framework: str, tmp_path: Path) -> None:
    code = EXAMPLES[framework]
    python = sys.executable
    if framework == "MXNet":
        if not MXNET_PYTHON.exists():
            skip_or_fail(f"{MXNET_PYTHON} is missing: run `make mxnet-venv`")
        python = str(MXNET_PYTHON)
    env = {**os.environ, "CLIPPER_EXAMPLE_CLUSTER": f"readme-{uuid.uuid4().hex[:6]}",
           "PYTHONPATH": os.pathsep.join([str(PORTS_DIR), str(ROOT)]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([python, "-c", DRIVER, f"README.md ({framework})"], input=code, text=True,
                         capture_output=True, env=env, cwd=tmp_path, timeout=380)
    assert run.returncode == 0, f"{framework} example failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    answer = ast.literal_eval(run.stdout.strip().splitlines()[-1])
    assert answer["default"] is False and str(answer["output"]) in {str(d) for d in range(10)}, \
        f"{framework}: {answer}\n{run.stderr[-6000:]}"
