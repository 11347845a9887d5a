"""``clipper`` without a cluster: version, help text, usage errors, one-line errors, loading FILE.py.

Every error here is the real one: real files that import modules which do
not exist, real library exceptions, a real (empty) ``CLIPPER_HOME``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clipper_admin import _http
from clipper_admin.cli import build_parser, main
from clipper_admin.cli._errors import shell_message
from clipper_admin.exceptions import ClipperException, UnconnectedException
from clipper_admin.version import __version__
from tests.test_cli import clipper_home, run  # noqa: F401 - clipper_home is a fixture

pytestmark = pytest.mark.timeout(60)

COMMANDS = ["start", "stop", "status", "clusters", "logs", "register-app", "apps", "link", "unlink", "delete-app",
            "predict", "metrics", "deploy", "models", "replicas", "set-version", "rollback", "scale", "stop-model",
            "quality"]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"clipper {__version__}\n"
    done = subprocess.run([sys.executable, "-m", "clipper_admin.cli", "--version"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout == f"clipper {__version__}\n" and done.stderr == ""


def test_console_script_entry_point_is_main() -> None:
    (ep,) = importlib.metadata.entry_points(group="console_scripts", name="clipper")
    assert ep.value == "clipper_admin.cli:main"
    assert ep.load() is main


def test_every_command_exists() -> None:
    assert sorted(subcommands()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_gives_every_default_and_ends_with_examples(name: str) -> None:
    p = subcommands()[name]
    formatter = p._get_formatter()
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.dest} has no help"
        text = formatter._expand_help(action)
        if action.option_strings:
            assert "(default: " in text or "(required)" in text, f"{name} {action.option_strings}: {text!r}"
        elif action.nargs == "?":
            assert "(default: " in text, f"{name} {action.dest}: {text!r}"
    help_text = p.format_help()
    assert "--cluster-name NAME" in help_text and "default-cluster" in help_text
    assert "--json" in help_text
    epilog = help_text.split("examples:\n", 1)[1]
    assert epilog.strip(), name
    assert all(line.startswith(f"  clipper {name}") for line in epilog.strip("\n").splitlines()), epilog


def test_help_shows_values_of_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["deploy", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo line wrapping
    assert "replicas to start (default: 1)" in out
    assert "-1 adapts it (default: -1)" in out
    assert "(default: 3000000)" in out
    assert "--install-locally" in out and "(default: off)" in out
    assert "import it inside FUNCTION" in out
    with pytest.raises(SystemExit):
        main(["start", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 1337)" in out and "(default: 33554432)" in out


@pytest.mark.parametrize("name", ["register-app", "deploy"])
def test_input_type_offers_its_choices(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    p = subcommands()[name]
    out = " ".join(p.format_help().split())
    assert "--input-type {bytes,integers,floats,doubles,strings}" in out
    assert "aliases accepted: byte, b, ints," in out
    argv = [name, "x.py:f" if name == "deploy" else "app", "--input-type", "double", "--default-output", "1"]
    argv += ["--slo-micros", "1"] if name == "register-app" else ["--name", "m", "--version", "1"]
    args = p.parse_args(argv[1:])
    assert args.input_type == "double"  # an alias is accepted
    with pytest.raises(SystemExit) as exited:
        main([*argv[:2], "--input-type", "tensor", *argv[4:]])
    assert exited.value.code == 2
    assert "argument --input-type: invalid choice: 'tensor'" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["scale", "sum"], ["scale", "sum", "many"], ["no-such-command"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2, argv
        assert "usage: clipper" in capsys.readouterr().err


def test_errors_are_one_line(clipper_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["models"], ["metrics"], ["rollback", "sum"], ["scale", "sum", "2"], ["unlink", "a", "m"],
                 ["delete-app", "a"], ["stop-model", "m"], ["set-version", "m", "1"], ["logs"],
                 ["apps", "-v"], ["quality", "a"], ["quality", "a", "--reset"]):  # fmt: skip
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert out == ""
        assert err == "clipper: error: no cluster named default-cluster is running: start one with `clipper start`\n"
    code, out, err = run(capsys, "status")
    assert code == 1 and out == "No cluster is running. Start one with `clipper start`.\n" and err == ""
    code, out, _ = run(capsys, "status", "--json")
    assert code == 1 and out == "[]\n"
    code, out, _ = run(capsys, "clusters")
    assert code == 0 and out == "No local clusters. Start one with `clipper start`.\n"
    code, out, err = run(capsys, "stop-model", "a", "b", "--version", "1")
    assert code == 1 and err == "clipper: error: --version needs exactly one model NAME\n"
    code, out, err = run(capsys, "start", "--no-prometheus", "--prometheus-port", "9091")
    assert code == 1 and err == "clipper: error: --no-prometheus cannot be combined with --prometheus-port\n"


def test_library_advice_becomes_shell_advice() -> None:
    line, _ = shell_message(UnconnectedException(), "dev")
    assert line == "no cluster named dev is running: start one with `clipper start --cluster-name dev`"
    unreachable = _http._unreachable("management frontend", "127.0.0.1:1", ConnectionRefusedError("refused"))
    line, _ = shell_message(unreachable, "default-cluster")
    assert "ClipperConnection" not in line
    assert line.endswith("Is the cluster running? `clipper status` says.")
    line, full = shell_message(ClipperException(
        "Received error status code: 400 and message: Application 'x' does not exist"), "dev")
    assert line == full == "Application 'x' does not exist"
    multi = ClipperException("Model replica m_1-1 (pid 7) exited with code 1. Last lines of /c/logs/m_1-1.log:\n"
                             "Traceback (most recent call last):\nValueError: boom")
    line, full = shell_message(multi, "dev")
    assert line == ("Model replica m_1-1 (pid 7) exited with code 1. Its log: /c/logs/m_1-1.log; it ends with: "
                    "ValueError: boom (-v shows the details)")
    assert "ValueError: boom" in full
    line, _ = shell_message(ClipperException(
        "Port 5 for the Redis is already in use. Pick another one with LocalContainerManager(redis_port=<port>), "
        "or let Clipper choose a free one with LocalContainerManager(redis_port=0)."), "dev")
    assert line == "Port 5 for the Redis is already in use."


# ------------------------------------------------------------------ FILE.py:FUNCTION that imports what is missing

MISSING_IMPORT = textwrap.dedent(
    """
    import numpy as np
    import clipper_cli_no_such_module

    def predict(inputs):
        return [str(clipper_cli_no_such_module.f(x)) for x in inputs]
    """
)


def test_deploy_names_a_missing_top_level_import(clipper_home: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    model = tmp_path / "needs_pkg.py"
    model.write_text(MISSING_IMPORT)
    deploy = ["deploy", f"{model}:predict", "--name", "m", "--version", "1", "--input-type", "doubles"]

    code, out, err = run(capsys, *deploy, "--pkg", "clipper-cli-no-such-module")
    assert code == 1 and out == ""
    assert err == (
        f"clipper: error: {model} imports clipper_cli_no_such_module, which is not installed here; the CLI loads "
        f"{model} to find predict: pip install clipper-cli-no-such-module here (or pass --install-locally to let "
        "clipper do it), or import clipper_cli_no_such_module inside predict\n"
    )

    code, _, err = run(capsys, *deploy)
    assert code == 1
    assert err == (
        f"clipper: error: {model} imports clipper_cli_no_such_module, which is not installed here; the CLI loads "
        f"{model} to find predict: pip install clipper_cli_no_such_module here, or import clipper_cli_no_such_module "
        "inside predict; and add --pkg clipper_cli_no_such_module so the model's replicas install it too\n"
    )
    # The error comes before any cluster is needed (none runs here), and the file can be loaded again.
    assert not any(m.startswith("_clipper_user_needs_pkg") for m in sys.modules)


def test_deploy_reports_other_load_failures_in_one_line(clipper_home: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1 / 0\n")
    code, _, err = run(capsys, "deploy", f"{broken}:f", "--name", "m", "--version", "1", "--input-type", "doubles")
    assert code == 1 and err == f"clipper: error: loading {broken} failed: ZeroDivisionError: division by zero\n"
    ok = tmp_path / "ok.py"
    ok.write_text("VALUE = 1\n")
    code, _, err = run(capsys, "deploy", f"{ok}:predict", "--name", "m", "--version", "1", "--input-type", "doubles")
    assert code == 1 and err == f"clipper: error: {ok} has no function named predict\n"
