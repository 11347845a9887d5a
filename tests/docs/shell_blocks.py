"""The shell commands the README and docs/ show, as a reader would type them.

A shell block is a fenced block tagged ``bash``, ``sh``, ``shell`` or
``console``, or untagged (every untagged block of these docs is a command
line; a block of anything else says what it is, ``text``, ``promql``, ...).
In a block, a line ending in ``\\`` goes on on the next line, a ``# ...``
after a command (on its line, outside quotes) is a remark, and ``# ...``
lines right below a command are its output as the docs show it (in a
``console`` block, commands start with ``$ `` and the other lines are
output). Each command knows its document, line, section (the nearest ``##``
or ``###`` heading above it) and block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The documents whose commands are checked.
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "k8s" / "README.md",
        ROOT / "tests" / "seeds" / "README.md"]
SHELL_TAGS = {"bash", "sh", "shell", "console", ""}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
HEADING = re.compile(r"^(#{2,3}) (.+)$", re.M)


@dataclass(frozen=True)
class Block:
    doc: str  #: path relative to the repository, e.g. ``README.md``
    line: int  #: line of the opening fence
    tag: str  #: ``python``, ``bash``, ``""``, ...
    section: str  #: the nearest ``##``/``###`` heading above the block, without the hashes
    text: str

    @property
    def is_shell(self) -> bool:
        return self.tag in SHELL_TAGS


@dataclass(frozen=True)
class Command:
    doc: str
    line: int  #: the command's first line in ``doc``
    section: str
    block_line: int
    text: str  #: continuation lines joined, the trailing remark removed
    remark: str  #: the ``# ...`` after the command on its line ("" when none)
    output: str  #: the output the docs show below it ("" when none), without the ``# `` prefix

    @property
    def key(self) -> str:
        """The command with runs of spaces as one: what an allow-list names."""
        return " ".join(self.text.split())

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    headings = [(m.start(), m.group(2).strip()) for m in HEADING.finditer(text)]
    found = []
    for m in FENCE.finditer(text):
        section = ""
        for start, title in headings:
            if start < m.start():
                section = title
        found.append(Block(str(doc.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1, m.group(1).strip(),
                           section, m.group(2)))
    return found


def split_remark(line: str) -> tuple[str, str]:
    """``(command, remark)``: the remark is a ``#`` after blanks, outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                continue
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def commands_of(block: Block) -> list[Command]:
    lines = block.text.splitlines()
    found: list[Command] = []
    pending: tuple[int, str, str] | None = None  # (line, text, remark) of the command being read
    output: list[str] = []

    def flush() -> None:
        nonlocal pending, output
        if pending is not None:
            found.append(Command(block.doc, block.line + pending[0],
                                 block.section, block.line, pending[1], pending[2], "\n".join(output)))
        pending, output = None, []

    i = 0
    while i < len(lines):
        raw = lines[i]
        number = i + 1
        stripped = raw.strip()
        if block.tag == "console":
            if not stripped.startswith("$ "):
                if pending is not None and stripped:
                    output.append(raw)
                i += 1
                continue
            raw = stripped[2:]
        elif stripped.startswith("#") or not stripped:
            if pending is not None and stripped.startswith("#"):
                output.append(stripped[1:].strip())
            elif pending is not None and not stripped:
                flush()
            i += 1
            continue
        flush()
        parts = [raw.rstrip()]
        while parts[-1].endswith("\\") and i + 1 < len(lines):
            parts[-1] = parts[-1][:-1].rstrip()
            i += 1
            parts.append(lines[i].strip())
        text, remark = split_remark(" ".join(p for p in parts if p).strip())
        pending = (number, text, remark)
        i += 1
    flush()
    return found


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in blocks(doc)]


def all_commands() -> list[Command]:
    return [c for b in all_blocks() if b.is_shell for c in commands_of(b)]
