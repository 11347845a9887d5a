"""What the CLI reports when a command fails: one line of shell advice.

The admin library's messages are written for Python callers (they suggest
``ClipperConnection.connect()``, ``wait=False``, ``LocalContainerManager(...)``)
and some carry many lines (log tails, pip output). :func:`shell_message`
turns them into one line a shell user can act on: Python advice becomes the
matching ``clipper`` command, a log tail becomes the log's path.
"""

from __future__ import annotations

import re

from clipper_admin.exceptions import UnconnectedException
from clipper_protocol.errors import ClipperError

DEFAULT_CLUSTER = "default-cluster"


class CliError(ClipperError):
    """An expected failure: printed as one ``clipper: error:`` line, exit status 1."""


def cluster_flag(cluster_name: str) -> str:
    """`` --cluster-name X`` for a cluster other than the default one, else ''."""
    return "" if cluster_name == DEFAULT_CLUSTER else f" --cluster-name {cluster_name}"


# (pattern, replacement); {flag} is the cluster's --cluster-name option, if any.
_ADVICE: tuple[tuple[str, str], ...] = (
    (r"^Received error status code: \d+ and message: ", ""),
    (r"Start one with ClipperConnection\.start_clipper\(\) or `clipper start`\.",
     "Start one with `clipper start{flag}`."),
    (r"Please use ClipperConnection\.connect\(\) to connect to it\.",
     "Use it as it is, or stop it first with `clipper stop{flag}`."),
    (r"Stop it with ClipperConnection\.stop_all\(\) \(or `clipper stop`\) and start it again\.",
     "Stop it with `clipper stop{flag}` and start it again."),
    (r"Is the cluster running\? Start one with ClipperConnection\.start_clipper\(\) or attach to a running one "
     r"with ClipperConnection\.connect\(\)\.", "Is the cluster running? `clipper status{flag}` says."),
    (r"\(ClipperConnection\.get_clipper_logs\(\), or `clipper logs`\)", "(`clipper logs{flag}` says where they are)"),
    (r";? ?deploy with wait=False not to wait\.", "."),
    (r", or pass admin_token= to ClipperConnection or to the container manager", ""),
)

# Sentences still naming the Python API after the substitutions are dropped.
_PYTHON_ONLY = re.compile(r"ClipperConnection|LocalContainerManager\(|wait=False|admin_token=")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")
_LOG_TAIL = re.compile(r"Last lines of (\S+?):$")


def shell_message(error: BaseException, cluster_name: str) -> tuple[str, str]:
    """``(one line, full text)`` of ``error``, with Python advice turned into shell advice."""
    if isinstance(error, UnconnectedException):
        line = f"no cluster named {cluster_name} is running: start one with `clipper start{cluster_flag(cluster_name)}`"
        return line, line
    text = str(error).strip() or type(error).__name__
    flag = cluster_flag(cluster_name)
    for pattern, replacement in _ADVICE:
        text = re.sub(pattern, replacement.format(flag=flag), text, flags=re.MULTILINE)
    lines = [_LOG_TAIL.sub(r"Its log: \1", ln.strip()) for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(error).__name__
    sentences = [s for s in _SENTENCE_END.split(first) if not _PYTHON_ONLY.search(s)]
    line = " ".join(sentences) or first
    if len(lines) > 1:
        # The detail lines are a log's or pip's tail: its last error line usually says it all.
        errors = [ln for ln in lines[1:] if ln.startswith("ERROR")]
        last = (errors or lines[1:])[-1][:300]
        if line.endswith(":"):
            line = f"{line} {last}"
        else:
            line = f"{line}; it ends with: {last}"
        line += " (-v shows the details)"
    return line, text
