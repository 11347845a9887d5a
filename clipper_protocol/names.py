"""Rules for model names, versions and labels, as the original enforces them."""

from __future__ import annotations

import re

# The admin library validates deployed model names and versions with this
# (DNS-1123 label) pattern; ``re.match`` anchors the start, ``\Z`` the end.
DEPLOY_REGEX_STR = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z"
_DEPLOY_REGEX = re.compile(DEPLOY_REGEX_STR)

# Characters the Redis layout uses as separators: never allowed in a model
# name, version or label (the management frontend rejects them).
FORBIDDEN_ITEM_CHARS = (",", ":")


def is_valid_deploy_name(value: str) -> bool:
    """True if ``value`` may name a deployed model or version."""
    return _DEPLOY_REGEX.match(value) is not None


def contains_forbidden_chars(value: str) -> bool:
    """True if ``value`` holds ``,`` or ``:``."""
    return any(c in value for c in FORBIDDEN_ITEM_CHARS)
