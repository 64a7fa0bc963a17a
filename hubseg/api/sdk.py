"""HubSpot's own Python SDK (hubspot-api-client), built for use under `HubSpotClient.call`.

- Host: the configured base URL, so the same code talks to the sandbox or to HubSpot.
- No retries of its own: the SDK hands urllib3 a `Retry` that would re-send on connection
  errors behind our budget's back; `Retry(0)` makes every failure reach our policy at once.
- One SDK client per thread: a generated `ApiClient` keeps per-call state (`last_response`)
  and each property access of `client.crm.contacts.batch_api` builds a new one, with a new
  connection pool. Each thread builds its API objects once and keeps them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from hubspot import HubSpot
from urllib3.util.retry import Retry

from hubseg.config import HubSpotSettings

Api = TypeVar("Api")

NO_RETRIES = Retry(total=0, redirect=False, raise_on_status=False)


class SdkClients:
    """Per-thread SDK API objects for one `HubSpotSettings`; `close` drops their pools."""

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._apis: list[Any] = []
        self._lock = threading.Lock()

    def new_client(self) -> HubSpot:
        return HubSpot(access_token=self.settings.access_token.reveal(),
                       host=self.settings.base_url.rstrip("/"), retry=NO_RETRIES)

    def api(self, name: str, build: Callable[[HubSpot], Api]) -> Api:
        """This thread's API object `name`, built once by `build(HubSpot client)`."""
        apis: dict[str, Any] | None = getattr(self._local, "apis", None)
        if apis is None:
            apis = self._local.apis = {}
        if name not in apis:
            apis[name] = build(self.new_client())
            with self._lock:
                self._apis.append(apis[name])
        return apis[name]

    @property
    def timeout(self) -> float:
        """The per-request timeout to pass as `_request_timeout`."""
        return self.settings.request_timeout

    def close(self) -> None:
        with self._lock:
            for api in self._apis:
                api.api_client.rest_client.pool_manager.clear()
            self._apis.clear()
