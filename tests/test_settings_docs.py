"""docs/settings.md is generated from the settings declarations and must not go stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate_settings", DOCS / "generate_settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_doc_is_up_to_date() -> None:
    expected = _generator().render()
    assert (DOCS / "settings.md").read_text(encoding="utf-8") == expected, "run `make settings-docs`"


def test_settings_doc_lists_every_runtime_and_no_secret() -> None:
    text = _generator().render()
    for title in ("## Query frontend", "## Management frontend", "## Model container settings"):
        assert title in text
    for variable in ("CLIPPER_QF_QUERY_PORT", "CLIPPER_MGMT_REDIS_PORT", "CLIPPER_ADMIN_TOKEN", "CLIPPER_MODEL_NAME"):
        assert f"`{variable}`" in text
