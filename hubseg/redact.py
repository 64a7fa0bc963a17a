"""Scrub secrets and personal data from text before we store or show it.

The commands already avoid printing them; this is the second line of defence for the
nightly's captured logs and run summary, and for the error messages `hubseg extract` and
`hubseg sync` print or record: the access token and anything shaped like an email address are
replaced, whatever prints them (a library's traceback, a dbt error quoting a row), and so is
every quoted value of a database error that quotes the data it failed on (a name, a phone
number in a property that should hold a date).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

# Any characters a mail address may hold, Unicode included (josé@münchen.de), and `@` written
# `%40` in a URL. The local part may hold a quote (o'brien@…) but not start with one, so a
# quoted address ('a@b.c', as DuckDB's errors print values) loses only the address.
_NOT_LOCAL = r"\s@\"<>(),;:\[\]{}/\\?&="
_LABEL = rf"[^{_NOT_LOCAL}'.]+"
EMAIL = re.compile(rf"[^{_NOT_LOCAL}'][^{_NOT_LOCAL}]*(?:@|%40)(?:{_LABEL}\.)+{_LABEL}")
# HubSpot private-app tokens (pat-<region>-<uuid>) and bearer headers, even unknown ones.
TOKEN = re.compile(r"\bpat-[a-z]{2,4}\d?-[0-9a-f\-]{8,}|(?i:bearer)\s+\S+")


# DuckDB's (and PostgreSQL's) errors about a value quote that value; errors about the schema
# (Catalog, Binder, Parser) quote names, which are kept for the reader.
VALUE_ERROR = re.compile(r"conversion error|invalid input error|constraint error|out of range|"
                         r"mismatch type error|could not convert|could not parse|invalid input|"
                         r"duplicate key|violates", re.IGNORECASE)
# From the first quote to the last of its kind on the line: a value may hold that quote itself
# (O'Neil), and over-redacting the text between two values loses nothing of use.
QUOTED = re.compile(r"\".*\"|'.*'")
# A value an error quotes ends at the last quote of its kind before the error's block ends: a
# blank line, DuckDB's `LINE n:` echo of the SQL, or the next timestamped log line; at most this
# many lines on. A quote never closed is an apostrophe: the rest of its line goes.
MAX_VALUE_LINES = 50
BLOCK_END = re.compile(r"^\s*$|^\s*LINE \d+:|^(?:\x1b\[[0-9;]*m)?\d\d:\d\d:\d\d")
# DuckDB repeats a value it could not parse, unquoted, on the lines before a caret line.
ECHOED = re.compile(r"could not parse string", re.IGNORECASE)
CARET = re.compile(r"^\s*\^\s*$")
# PostgreSQL prints the whole offending row after a constraint error, unquoted.
ROW_DETAIL = re.compile(r"(Failing row contains|Key) ?\(.*", re.IGNORECASE)


def _block_end(lines: list[str], start: int) -> int:
    """Where the block of an error that ends at line `start - 1` ends (exclusive)."""
    end = start
    while end < len(lines) and end - start < MAX_VALUE_LINES and not BLOCK_END.search(
            lines[end]):
        end += 1
    return end


def _opening_quote(line: str) -> tuple[int, str] | None:
    """(position, quote) of the first quote after a database error about data, or None."""
    found = VALUE_ERROR.search(line)
    if found is None:
        return None
    quotes = [(line.find(q, found.end()), q) for q in "'\"" if q in line[found.end():]]
    return min(quotes) if quotes else None


def _unclosed_row(line: str) -> bool:
    """PostgreSQL's row detail whose parenthesis is not closed on its line."""
    row = ROW_DETAIL.search(line)
    return row is not None and row.group(0).count("(") > row.group(0).count(")")


def _opens_block(line: str) -> bool:
    """The line may start a value that runs over the lines after it."""
    return _opening_quote(line) is not None or _unclosed_row(line)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = TOKEN.sub("***", text)
        return EMAIL.sub("<email>", "\n".join(self._values(text.split("\n"))))

    def lines(self, stream: Iterable[str]) -> Iterator[str]:
        """Scrubbed lines of a stream (a child's output, read as it runs): an error line that
        opens a quote is held with the lines after it, up to the end of its block, so that a
        value running over several lines is scrubbed whole."""
        held: list[str] = []
        for line in stream:
            if held:
                held.append(line)
                if BLOCK_END.search(line) or len(held) > MAX_VALUE_LINES:
                    yield from self("\n".join(held)).split("\n")
                    held = []
            elif _opens_block(line):
                held = [line]
            else:
                yield self(line)
        if held:
            yield from self("\n".join(held)).split("\n")

    @staticmethod
    def _values(lines: list[str]) -> list[str]:
        """The lines with every value a database error quotes replaced, a value running over
        several lines (a property holding a line break) included: from the first quote after
        the error to the last quote of that kind before the error's block ends; PostgreSQL's
        row detail up to its closing parenthesis; DuckDB's echo of a value it could not parse
        up to its caret line."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            line, i = lines[i], i + 1
            row = ROW_DETAIL.search(line)
            if row is not None:
                closing = (next((j for j in range(i, _block_end(lines, i)) if ")" in lines[j]),
                                None) if _unclosed_row(line) else None)
                out.append(line[:row.start()] + f"{row.group(1)} <values>")
                i = i if closing is None else closing + 1
                continue
            opening = _opening_quote(line)
            if opening is None:
                out.append(line)
                continue
            start, quote = opening
            end = _block_end(lines, i)
            closing = next((j for j in range(end - 1, i - 1, -1) if quote in lines[j]), None)
            if closing is None:  # closed on this line, or never (an apostrophe)
                tail = line[start:]
                out.append(line[:start] + (QUOTED.sub("<value>", tail)
                                           if tail.count(quote) > 1 else "<value>"))
            else:
                rest = lines[closing][lines[closing].rfind(quote) + 1:]
                out.append(line[:start] + "<value>" + QUOTED.sub("<value>", rest))
                i = closing + 1
            if ECHOED.search(line):
                caret = next((j for j in range(i, end) if CARET.match(lines[j])), None)
                if caret is not None and caret > i:
                    out.append("<value>")
                    i = caret
        return out

    def json_text(self, text: str) -> str:
        """A JSON document with every string scrubbed: JSON writers escape non-ASCII
        characters (\\u00e9), which would hide an address from the patterns."""
        try:
            document = json.loads(text)
        except ValueError:
            return self(text)
        return json.dumps(self._walk(document), ensure_ascii=False, indent=2)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value
