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
from collections.abc import Iterable
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
# A quoted value left open on its error's line ends within this many lines, or is taken to be
# an apostrophe in the message (then only the rest of the line goes).
MAX_VALUE_LINES = 10
# PostgreSQL prints the whole offending row after a constraint error, unquoted.
ROW_DETAIL = re.compile(r"(Failing row contains|Key) ?\(.*", re.IGNORECASE)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = TOKEN.sub("***", text)
        return EMAIL.sub("<email>", "\n".join(self._values(text.split("\n"))))

    @staticmethod
    def _values(lines: list[str]) -> list[str]:
        """The lines with every value a database error quotes replaced, a value running over
        several lines (a property holding a line break) included."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = ROW_DETAIL.sub(lambda m: f"{m.group(1)} <values>", lines[i])
            found = VALUE_ERROR.search(line)
            i += 1
            if found is None:
                out.append(line)
                continue
            head, tail = line[:found.end()], line[found.end():]
            if QUOTED.search(tail):
                out.append(head + QUOTED.sub("<value>", tail))
                continue
            quotes = [(tail.find(q), q) for q in "'\"" if q in tail]
            opening = min(quotes) if quotes else None
            closing = None if opening is None else next(
                (j for j in range(i, min(i + MAX_VALUE_LINES, len(lines)))
                 if opening[1] in lines[j]), None)
            if opening is None or closing is None:
                out.append(head + (tail if opening is None else tail[:opening[0]] + "<value>"))
                continue
            rest = lines[closing][lines[closing].rfind(opening[1]) + 1:]
            out.append(head + tail[:opening[0]] + "<value>" + rest)
            i = closing + 1
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
