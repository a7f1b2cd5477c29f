"""Map each key path of a TOML document to the line it is written on: tomllib reports positions only for syntax errors.

The scanner runs on text tomllib has already accepted, so it only has to find where
keys, table headers, array elements and inline-table entries start; it never judges
validity. Every loop advances, so even unexpected text ends the scan.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from typing import TypeAlias

from supervisor._compat import parse_toml

KeyPath: TypeAlias = "tuple[str | int, ...]"

_BARE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_ENDS = frozenset(",]}#\r\n")


def format_path(path: Sequence[str | int]) -> str:
    """Write a key path as a TOML-style dotted key: apps.api.bind[1], apps."my app".env."A.B"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{name}" if text else name
    return text


class KeyLines:
    """Lines of the keys found in one TOML text."""

    def __init__(self, lines: dict[KeyPath, int]) -> None:
        self._lines = lines

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its longest prefix written in the file (a key inherited from
        [defaults] or a missing key points at its table); None when nothing of it is written."""
        key = tuple(path)
        for end in range(len(key), 0, -1):
            found = self._lines.get(key[:end])
            if found is not None:
                return found
        return None


def index_keys(text: str) -> KeyLines:
    """Scan TOML text (already accepted by tomllib) for the line of every key path in it."""
    scanner = _Scanner(text)
    scanner.scan()
    return KeyLines(scanner.found)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}

    def scan(self) -> None:
        table: KeyPath = ()
        while self.skip_blank(newlines=True):
            start = self.pos
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)
            if self.pos == start:
                self.advance(1)

    # -- characters

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def advance(self, size: int) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + size)
        self.pos += size

    def skip_blank(self, *, newlines: bool) -> bool:
        """Skip spaces, comments and (if allowed) line ends; return whether text remains."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            elif char in " \t" or (newlines and char in "\r\n"):
                self.advance(1)
            else:
                return True
        return False

    # -- structure

    def record(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.found.setdefault(path[:end], line)

    def header(self) -> KeyPath:
        line = self.line
        is_array = self.peek(2) == "[["
        self.advance(2 if is_array else 1)
        path: KeyPath = self.key()
        self.skip_blank(newlines=False)
        self.advance(2 if is_array else 1)
        if is_array:
            index = self.array_tables.get(path, 0)
            self.array_tables[path] = index + 1
            path = (*path, index)
        self.record(path, line)
        return path

    def key_value(self, table: KeyPath) -> None:
        line = self.line
        path = table + self.key()
        self.record(path, line)
        self.skip_blank(newlines=False)
        if self.peek() == "=":
            self.advance(1)
        self.value(path)

    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in ('"', "'"):
                start = self.pos
                self.string(char)
                # A quoted key may hold escapes; let the real parser decode it.
                parts.append(str(parse_toml(f"k = {self.text[start : self.pos]}")["k"]))
            else:
                start = self.pos
                while self.peek() and self.peek() in _BARE_CHARACTERS:
                    self.advance(1)
                parts.append(self.text[start : self.pos])
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.advance(1)

    def value(self, path: KeyPath) -> None:
        self.skip_blank(newlines=False)
        char = self.peek()
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(self.peek(3))
        elif char in ('"', "'"):
            self.string(char)
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in _SCALAR_ENDS:
                self.advance(1)

    def string(self, quote: str) -> None:
        self.advance(1)
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and quote == '"':
                self.advance(2)
            elif char == "\n":
                return
            else:
                self.advance(1)
                if char == quote:
                    return

    def multiline_string(self, delimiter: str) -> None:
        self.advance(3)
        while self.pos < len(self.text):
            if self.text.startswith(delimiter, self.pos):
                self.advance(3)
                # Up to two quotes may end the content right before the closing delimiter.
                while self.peek() == delimiter[0]:
                    self.advance(1)
                return
            self.advance(2 if self.text[self.pos] == "\\" and delimiter == '"""' else 1)

    def array(self, path: KeyPath) -> None:
        self.advance(1)
        index = 0
        while self.skip_blank(newlines=True):
            start = self.pos
            char = self.peek()
            if char == "]":
                self.advance(1)
                return
            if char == ",":
                self.advance(1)
                index += 1
                continue
            self.record((*path, index), self.line)
            self.value((*path, index))
            if self.pos == start:
                self.advance(1)

    def inline_table(self, path: KeyPath) -> None:
        self.advance(1)
        while self.skip_blank(newlines=True):
            start = self.pos
            char = self.peek()
            if char == "}":
                self.advance(1)
                return
            if char == ",":
                self.advance(1)
                continue
            self.key_value(path)
            if self.pos == start:
                self.advance(1)
