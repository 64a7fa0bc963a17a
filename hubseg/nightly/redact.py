"""Scrub secrets and personal data from text a child step printed, before we store or show it.

The steps already avoid printing them; this is the second line of defence for the captured
logs and the run summary: the access token and anything shaped like an email address are
replaced, whatever prints them (a library's traceback, a dbt error quoting a row).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
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
