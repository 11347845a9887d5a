"""JSON type names as the original's error messages spell them (rapidjson's)."""

from __future__ import annotations


def json_type_name(value: object) -> str:
    """rapidjson's name for the JSON type of a decoded ``value``."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"
