"""``test_predict_function``: input conversion, type checks and the cloudpickle round trip."""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np
import pytest

from clipper_admin import ClipperConnection, ClipperException


def echo_types(xs: list[Any]) -> list[str]:
    return [f"{type(x).__name__}:{x}" for x in xs]


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


def test_single_and_batch_doubles(conn: ClipperConnection) -> None:
    assert conn.test_predict_function({"input": [1.1, 2.2, 3.3]}, feature_sum, "doubles") == [str(sum([1.1, 2.2, 3.3]))]
    out = conn.test_predict_function({"input_batch": [[1.0, 2.0], [3.0, 4.5]]}, feature_sum, "doubles")
    assert out == ["3.0", "7.5"]


def test_numeric_types_become_numpy_arrays(conn: ClipperConnection) -> None:
    def dtypes(xs: list[Any]) -> list[Any]:
        assert all(isinstance(x, np.ndarray) for x in xs)
        return [x.dtype for x in xs]

    assert conn.test_predict_function({"input": [1, 2]}, dtypes, "integers") == [np.dtype(np.int32)]
    assert conn.test_predict_function({"input": [1.0]}, dtypes, "floats") == [np.dtype(np.float32)]
    assert conn.test_predict_function({"input_batch": [[1.0], [2.0]]}, dtypes, "doubles") == [np.dtype(np.float64)] * 2
    # Integers the type holds exactly, as the query frontend accepts them.
    assert conn.test_predict_function({"input": [1, 2.5]}, dtypes, "doubles") == [np.dtype(np.float64)]
    assert conn.test_predict_function({"input": [3]}, dtypes, "floats") == [np.dtype(np.float32)]
    # Aliases, as the server accepts them.
    assert conn.test_predict_function({"input": [1, 2]}, dtypes, "ints") == [np.dtype(np.int32)]


@pytest.mark.parametrize(
    ("query", "input_type"),
    [
        ({"input": [1.0, 2.0]}, "integers"),
        ({"input": [2**53 + 1]}, "doubles"),
        ({"input": [2**24 + 1]}, "floats"),
        ({"input": [True]}, "integers"),
        ({"input": ["a"]}, "doubles"),
        ({"input": [1, 2]}, "strings"),
        ({"input": [1, 2]}, "bytes"),
        ({"input": "not base64!"}, "bytes"),
        ({"input": [1.0]}, "tensors"),
    ],
)
def test_wrong_element_type_is_reported(conn: ClipperConnection, query: dict[str, Any], input_type: str) -> None:
    assert conn.test_predict_function(query, feature_sum, input_type) == "Invalid input type"


@pytest.mark.parametrize("query", [{"input": 5}, {"input_batch": [1.0, 2.0]}, {}])
def test_non_list_input_is_reported(conn: ClipperConnection, query: dict[str, Any]) -> None:
    assert conn.test_predict_function(query, feature_sum, "doubles") == "Invalid input type or JSON key"


@pytest.mark.parametrize("input_type", ["string", "strings", "str"])
def test_strings_singular_and_plural(conn: ClipperConnection, input_type: str) -> None:
    out = conn.test_predict_function({"input_batch": ["hello", "hi"]}, lambda xs: [len(x) for x in xs], input_type)
    assert out == [5, 2]
    assert conn.test_predict_function({"input": "abc"}, echo_types, input_type) == ["str_:abc"]


def test_bytes_from_base64_text_or_raw_bytes(conn: ClipperConnection) -> None:
    def unpack(xs: list[Any]) -> list[str]:
        return [f"{x.dtype}:{x.tobytes()!r}" for x in xs]

    encoded = base64.b64encode(b"\x01\xffab").decode()
    assert conn.test_predict_function({"input": encoded}, unpack, "bytes") == ["int8:b'\\x01\\xffab'"]
    assert conn.test_predict_function({"input_batch": [b"ab", b"c"]}, unpack, "bytes") == ["int8:b'ab'", "int8:b'c'"]


def test_function_goes_through_a_pickle_round_trip(conn: ClipperConnection) -> None:
    offset = 10.0
    calls: list[Any] = []

    def add_offset(xs: list[Any]) -> list[str]:
        calls.append(xs)  # appends to the reloaded copy's list, not ours
        return [str(float(x[0]) + offset) for x in xs]

    assert conn.test_predict_function({"input": [1.0]}, add_offset, "doubles") == ["11.0"]
    assert calls == []


def test_unpicklable_function_is_a_clipper_exception(conn: ClipperConnection) -> None:
    lock = threading.Lock()

    def locked(xs: list[Any]) -> list[str]:
        with lock:
            return ["x"] * len(xs)

    with pytest.raises(ClipperException, match="Could not serialize the prediction function"):
        conn.test_predict_function({"input": [1.0]}, locked, "doubles")


def test_outputs_a_deploy_would_fail_are_reported(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    batch = {"input_batch": [[1.0], [2.0], [3.0]]}
    with pytest.raises(ClipperException, match=r"returned 1 output\(s\) for 3 input\(s\): a deployed model would "
                                               r"answer every query of the batch with the default output"):
        conn.test_predict_function(batch, lambda xs: ["only one"], "doubles")
    with pytest.raises(ClipperException, match=r"returned float, not a list of outputs"):
        conn.test_predict_function(batch, lambda xs: 1.0, "doubles")
    with caplog.at_level("WARNING", logger="clipper.admin"):
        assert conn.test_predict_function(batch, lambda xs: [float(x[0]) for x in xs], "doubles") == [1.0, 2.0, 3.0]
    assert "3 of 3 output(s) are not str (float): a deployed model sends str() of each, here ['1.0', '2.0', '3.0']" \
        in caplog.text
