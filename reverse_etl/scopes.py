"""The private-app scopes the sync needs, named in the error when one is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hubseg.api import MissingScopesError

CONTACTS_READ = "crm.objects.contacts.read"
CONTACTS_WRITE = "crm.objects.contacts.write"
SCHEMAS_WRITE = "crm.schemas.contacts.write"


@contextmanager
def needing(scope: str) -> Iterator[None]:
    """Name `scope` in a 403 that does not name a write scope itself.

    HubSpot's 403 body does not always list the scope it wants; the shared client then falls
    back to the *read* scope of the path, which would send the user after the wrong scope for
    a write. The caller knows which write it attempted.
    """
    try:
        yield
    except MissingScopesError as exc:
        if exc.scopes and not all(s.endswith(".read") for s in exc.scopes):
            raise
        raise MissingScopesError(exc.path, [scope]) from None
