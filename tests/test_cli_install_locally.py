"""``clipper deploy --install-locally``: the package a model file imports is installed here, then deployed.

Runs the CLI in a virtualenv of its own that sees this one's packages, so
installing into it leaves the test environment untouched.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.cli_cluster import CLUSTER, Cluster, cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(180)


def make_wheel(dest: Path, dist: str, module: str, source: str) -> Path:
    """A minimal pure-Python wheel, so pip installs it offline."""
    version, name = "0.1", dist.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    files = {
        f"{module}.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = dest / f"{name}-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            z.writestr(arc, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(text.encode())}")
        z.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return path


def scratch_python(where: Path) -> Path:
    """A virtualenv that sees this one's packages and installs into its own (so this one stays untouched)."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    own = subprocess.run([python, "-c", purelib], capture_output=True, text=True, check=True).stdout.strip()
    parent = subprocess.run([sys.executable, "-c", purelib], capture_output=True, text=True, check=True).stdout.strip()
    (Path(own) / "_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def test_install_locally_installs_the_pkg_here_then_deploys(cluster: Cluster, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    wheel = make_wheel(tmp_path, "clipper-cli-triple", "clipper_cli_triple", "def triple(x):\n    return 3 * x\n")
    model = tmp_path / "uses_pkg.py"
    model.write_text("import clipper_cli_triple\n\ndef predict(xs):\n"
                     "    return [str(clipper_cli_triple.triple(sum(x))) for x in xs]\n")  # fmt: skip
    python = scratch_python(tmp_path / "client-venv")
    deploy = [str(python), "-m", "clipper_admin.cli", "deploy", f"{model}:predict", "--name", "tripled",
              "--version", "1", "--input-type", "doubles", "--pkg", str(wheel), "--app", "tripled",
              "--cluster-name", CLUSTER]  # fmt: skip

    refused = subprocess.run(deploy, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"clipper: error: {model} imports clipper_cli_triple, which is not installed here; the CLI loads {model} "
        f"to find predict: pip install {wheel} here (or pass --install-locally to let clipper do it), or import "
        "clipper_cli_triple inside predict\n"
    )

    done = subprocess.run([*deploy, "--install-locally"], capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"Installing {wheel} into {tmp_path / 'client-venv'} (--install-locally)\n"
    assert done.stdout == "Deployed tripled:1 and linked it to application tripled\n"
    answer, _ = cluster.first_answer(capsys, "tripled", "[1.0, 2.0]")
    assert answer["output"] == 9.0
    assert subprocess.run([sys.executable, "-c", "import clipper_cli_triple"], capture_output=True).returncode == 1
