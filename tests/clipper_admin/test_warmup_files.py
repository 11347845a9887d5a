"""The client's side of warm-up batches: checked inputs, a copy of the model directory with the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from clipper_admin import ClipperException
from clipper_admin._warmup import checked_warmup, with_warmup_file
from clipper_admin.deployers.sklearn import default_warmup_inputs
from clipper_protocol.warmup import WARMUP_INPUTS_FILENAME


def test_none_and_an_empty_list_mean_no_warmup(tmp_path: Path) -> None:
    assert checked_warmup("doubles", None) is None
    assert checked_warmup("doubles", []) is None
    with with_warmup_file(str(tmp_path), None) as path:
        assert path == str(tmp_path)


def test_bad_inputs_raise_a_clipper_exception_naming_the_input() -> None:
    with pytest.raises(ClipperException, match=r"warmup_inputs\[1\] is not a valid integers input.*query's JSON"):
        checked_warmup("integers", [[1, 2], [1.5]])


def test_the_file_goes_into_a_copy_and_the_users_directory_is_untouched(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "func.pkl").write_bytes(b"pickle")
    (model / "sub" / "weights.bin").write_bytes(b"w")
    (model / WARMUP_INPUTS_FILENAME).write_text("the user's own, stale")
    batch = checked_warmup("doubles", [[1.0, 2.0]])
    with with_warmup_file(str(model), batch) as copy:
        copied = Path(copy)
        assert copied != model
        assert (copied / "func.pkl").read_bytes() == b"pickle"
        assert (copied / "sub" / "weights.bin").read_bytes() == b"w"
        assert json.loads((copied / WARMUP_INPUTS_FILENAME).read_text()) == {
            "input_type": "doubles", "inputs": [[1.0, 2.0]]}
    assert not copied.exists()
    assert (model / WARMUP_INPUTS_FILENAME).read_text() == "the user's own, stale"


def test_a_model_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClipperException, match="is not a directory"):
        with with_warmup_file(str(tmp_path / "missing"), checked_warmup("doubles", [[1.0]])):
            pass


def test_sklearn_warms_up_with_a_row_of_zeros_of_the_estimators_width() -> None:
    model = LogisticRegression().fit([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]], [0, 1])
    assert default_warmup_inputs("doubles", model) == [[0.0, 0.0, 0.0]]
    assert default_warmup_inputs("ints", model) == [[0, 0, 0]]
    assert default_warmup_inputs("strings", model) is None
    assert default_warmup_inputs("doubles", LogisticRegression()) is None  # not fitted: width unknown
