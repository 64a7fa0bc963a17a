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
# PostgreSQL prints the whole offending row after a constraint error, unquoted.
ROW_DETAIL = re.compile(r"(Failing row contains|Key) ?\(.*", re.IGNORECASE)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = TOKEN.sub("***", text)
        text = "\n".join(self._values(line) for line in text.split("\n"))
        return EMAIL.sub("<email>", text)

    @staticmethod
    def _values(line: str) -> str:
        line = ROW_DETAIL.sub(lambda m: f"{m.group(1)} <values>", line)
        found = VALUE_ERROR.search(line)
        if found is None:
            return line
        head, tail = line[:found.end()], line[found.end():]
        return head + QUOTED.sub("<value>", tail)

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
