"""Scrub secrets and personal data from text a child step printed, before we store or show it.

The steps already avoid printing them; this is the second line of defence for the captured
logs and the run summary: the access token and anything shaped like an email address are
replaced, whatever prints them (a library's traceback, a dbt error quoting a row).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Any characters a mail address may hold, Unicode included (josé@münchen.de), and `@` written
# `%40` in a URL. The local part may hold a quote (o'brien@…) but not start with one, so a
# quoted address ('a@b.c', as DuckDB's errors print values) loses only the address.
_NOT_LOCAL = r"\s@\"<>(),;:\[\]{}/\\?&="
_LABEL = rf"[^{_NOT_LOCAL}'.]+"
EMAIL = re.compile(rf"[^{_NOT_LOCAL}'][^{_NOT_LOCAL}]*(?:@|%40)(?:{_LABEL}\.)+{_LABEL}")
# HubSpot private-app tokens (pat-<region>-<uuid>) and bearer headers, even unknown ones.
TOKEN = re.compile(r"\bpat-[a-z]{2,4}\d?-[0-9a-f\-]{8,}|(?i:bearer)\s+\S+")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = TOKEN.sub("***", text)
        return EMAIL.sub("<email>", text)
