"""Rules for names and versions of models and applications.

Model names, versions and labels follow the original. Application names are
ours to check (the original accepted any string): they become URL paths
(``/<app>/predict``), Redis keys and metric names, so they follow the same
DNS-1123 rule as deployed model names.
"""

from __future__ import annotations

import re

# The admin library validates deployed model names and versions with this
# (DNS-1123 label) pattern; ``re.match`` anchors the start, ``\Z`` the end.
DEPLOY_REGEX_STR = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z"
_DEPLOY_REGEX = re.compile(DEPLOY_REGEX_STR)

# Characters the Redis layout uses as separators: never allowed in a model
# name, version or label (the management frontend rejects them).
FORBIDDEN_ITEM_CHARS = (",", ":")

APPLICATION_NAME_RULE = (
    "it must consist of lower case alphanumeric characters or '-', and must start and end with an "
    f"alphanumeric character (regex used for validation is '{DEPLOY_REGEX_STR}')"
)


def is_valid_deploy_name(value: str) -> bool:
    """True if ``value`` may name a deployed model or version."""
    return _DEPLOY_REGEX.match(value) is not None


def contains_forbidden_chars(value: str) -> bool:
    """True if ``value`` holds ``,`` or ``:``."""
    return any(c in value for c in FORBIDDEN_ITEM_CHARS)


def application_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a new application's name, or None if nothing.

    The rule of deployed model names (:data:`DEPLOY_REGEX_STR`), applied by
    the management frontend to ``add_app`` and by the admin library to
    ``register_application``. Applications already in Redis under other
    names can still be read and deleted.
    """
    if isinstance(name, str) and is_valid_deploy_name(name):
        return None
    return f"{name!r} is not a valid application name: {APPLICATION_NAME_RULE}"
