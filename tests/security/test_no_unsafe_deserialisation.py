"""Row 19, static part: the source tree deserialises pickles only where it
loads the user's own model.

Every call that can run code while decoding data (pickle/cloudpickle/dill/
joblib loads, ``marshal.loads``, ``shelve.open``, ``yaml.load`` without a safe
loader, ``numpy.load(allow_pickle=True)``, ``pandas.read_pickle``) is found by
walking the AST of the project's packages, through import aliases. Only the
sites listed in ``ALLOWED`` may have one, each with the reason it is safe.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("clipper_admin", "clipper_protocol", "management_frontend", "model_containers", "query_frontend")

# (file, call) -> why it is not untrusted data.
ALLOWED: dict[tuple[str, str], str] = {
    ("model_containers/python_closure_container.py", "cloudpickle.load"):
        "loads CLIPPER_MODEL_PATH/func.pkl: the model the user deployed, inside its own container; "
        "running the user's code is the container's purpose",
    ("model_containers/pytorch_container.py", "cloudpickle.load"):
        "loads CLIPPER_MODEL_PATH/pytorch_model.pkl, the module the user deployed, inside its own "
        "container, as func.pkl is (its weights go through torch.load(weights_only=True))",
    ("clipper_admin/deployers/sklearn.py", "joblib.load"):
        "the predict closure deploy_sklearn_model ships runs inside the model container and loads "
        "the user's own fitted model from CLIPPER_MODEL_PATH (baked into the model image)",
    ("clipper_admin/_predict_check.py", "pickle.loads"):
        "ClipperConnection.test_predict_function round-trips the user's own function, serialised "
        "a line earlier in the same process, to check it survives cloudpickle as deploying needs",
}

_UNSAFE: dict[str, set[str]] = {
    "pickle": {"load", "loads", "Unpickler"},
    "_pickle": {"load", "loads", "Unpickler"},
    "cPickle": {"load", "loads", "Unpickler"},
    "cloudpickle": {"load", "loads", "Unpickler"},
    "dill": {"load", "loads", "Unpickler"},
    "joblib": {"load"},
    "marshal": {"load", "loads"},
    "shelve": {"open"},
    "pandas": {"read_pickle"},
    "yaml": {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"},
    "numpy": {"load"},
}


def _python_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _aliases(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """``{local name: module}`` for module imports, ``{local name: module.func}`` for from-imports."""
    modules: dict[str, str] = {}
    functions: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in _UNSAFE:
                    modules[alias.asname or top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            for alias in node.names:
                if top in _UNSAFE and alias.name in _UNSAFE[top]:
                    functions[alias.asname or alias.name] = f"{top}.{alias.name}"
    return modules, functions


def _is_safe_call(name: str, call: ast.Call) -> bool:
    keywords = {k.arg: k.value for k in call.keywords}
    if name == "numpy.load":
        flag = keywords.get("allow_pickle")
        # Safe only when pickles are certainly off: absent (numpy's default) or literally False.
        return flag is None or (isinstance(flag, ast.Constant) and flag.value is False)
    if name in ("yaml.load", "yaml.load_all"):
        loader = keywords.get("Loader") or (call.args[1] if len(call.args) > 1 else None)
        text = ast.unparse(loader) if loader is not None else ""
        return "SafeLoader" in text or "CSafeLoader" in text
    return False


def unsafe_calls(path: Path) -> list[tuple[str, int]]:
    """``(module.function, line)`` of every unsafe deserialising call in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules, functions = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
            module = modules[func.value.id]
            if func.attr in _UNSAFE[module]:
                name = f"{module}.{func.attr}"
        elif isinstance(func, ast.Name) and func.id in functions:
            name = functions[func.id]
        if name is not None and not _is_safe_call(name, node):
            found.append((name, node.lineno))
    return found


def test_the_scanner_finds_what_it_must(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pickle as p, yaml, numpy as np\n"
        "from cloudpickle import loads as cl\n"
        "import marshal\n"
        "p.loads(b'')\n"
        "cl(b'')\n"
        "marshal.loads(b'')\n"
        "yaml.load(s)\n"
        "yaml.load(s, Loader=yaml.SafeLoader)\n"
        "yaml.safe_load(s)\n"
        "np.load('x', allow_pickle=True)\n"
        "np.load('x')\n"
        "p.dumps(1)\n"
    )
    assert [n for n, _ in unsafe_calls(sample)] == [
        "pickle.loads", "cloudpickle.loads", "marshal.loads", "yaml.load", "numpy.load"]


def test_unpickling_only_where_the_users_own_model_is_loaded() -> None:
    found: dict[tuple[str, str], list[int]] = {}
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        for name, line in unsafe_calls(path):
            found.setdefault((rel, name), []).append(line)
    unexpected = {site: lines for site, lines in found.items() if site not in ALLOWED}
    assert not unexpected, f"deserialisation of possibly untrusted data at {unexpected}; see ALLOWED"
    # The allowed sites exist (the scan would notice them): nothing here is vacuous.
    assert set(found) == set(ALLOWED), set(ALLOWED) - set(found)


def test_services_never_import_a_pickle_module() -> None:
    """The frontends and the wire code handle only untrusted input: no pickle at all."""
    for package in ("query_frontend", "management_frontend", "clipper_protocol"):
        for path in sorted((ROOT / package).rglob("*.py")):
            modules, functions = _aliases(ast.parse(path.read_text(encoding="utf-8")))
            risky = {m for m in modules.values() if m not in ("yaml", "numpy")} | set(functions.values())
            assert not risky, f"{path.relative_to(ROOT)} imports {sorted(risky)}"
