"""hubseg's configuration, resolved in ONE place for every step (extract, sync, nightly).

Sources, highest priority first:

1. explicit overrides (command-line options such as `--base-url`, `--tier`);
2. the hubseg environment variables: `HUBSPOT_BASE_URL`, `HUBSPOT_ACCESS_TOKEN`,
   `HUBSPOT_API_VERSION`, `HUBSPOT_TIER`, `HUBSEG_WAREHOUSE`, `HUBSEG_DESTINATION`,
   `HUBSEG_DLT_DIR`, `HUBSEG_DBT_MEMORY_LIMIT`;
3. dlt's own providers, read from the working directory: dlt-style environment variables
   (`SOURCES__HUBSPOT__TIER`), `.dlt/secrets.toml` (git-ignored; the token) and
   `.dlt/config.toml` (committed; everything else), under `[sources.hubspot]` and `[hubseg]`;
4. the defaults below.

The access token is read through `dlt.secrets`, which dlt records as `<secret>` in its traces,
and is held in a `Secret` that never prints its value: it reaches nothing but the
`Authorization` header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_WAREHOUSE = Path(".hubseg/warehouse/hubseg.duckdb")
DEFAULT_DLT_DIR = Path(".hubseg/dlt")
SOURCE_SECTION = "sources.hubspot"
HUBSEG_SECTION = "hubseg"
SYNC_SECTION = "hubseg.sync"
TIERS = ("starter", "pro", "enterprise", "custom", "unlimited")
OBJECT_TYPES = ("contacts", "companies", "deals")
_API_VERSION = re.compile(r"^(v3|\d{4}-\d{2})$")
# What DuckDB's `memory_limit` accepts: a positive amount in bytes' units, or a share of RAM.
_MEMORY_LIMIT = re.compile(r"^\s*\d*\.?\d+\s*(%|b|bytes|[kmgt]i?b?)\s*$", re.IGNORECASE)
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message says what to set and where."""


class Secret:
    """A value that must never be printed, logged or pickled into a trace in clear text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling (e.g. into a dlt trace) keeps only a redacted copy
        return (Secret, ("***",))

    # Copies stay usable (copy and deepcopy would otherwise go through __reduce__): the value
    # is immutable, so a copy may simply be the same object.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


@dataclass(frozen=True)
class HubSpotSettings:
    """How to reach HubSpot and how hard we may use it (shared by extract and sync)."""

    base_url: str = DEFAULT_BASE_URL
    access_token: Secret = field(default_factory=lambda: Secret(""))
    api_version: str = "v3"  # classic numbered paths, or a date version such as 2026-03
    tier: str = "pro"  # starter | pro | enterprise | custom | unlimited (sandbox only)
    per_ten_seconds: int | None = None  # explicit numbers override the tier's
    search_per_second: int | None = None
    per_day: int | None = None
    safety_margin: float = 0.05  # a search counts this share past 1 s after its answer (budget.py)
    request_timeout: float = 60.0
    max_attempts: int = 8  # per request, first try included
    backoff_initial: float = 0.5  # seconds; doubles per retry (with jitter)
    backoff_max: float = 30.0


@dataclass(frozen=True)
class ExtractSettings:
    """What `hubseg extract` reads and how (page sizes, URL budget, incremental margin)."""

    index_lag_seconds: float = 60.0  # windows end this long before the server's clock
    list_page_size: int = 100
    search_page_size: int = 200
    events_page_size: int = 1000
    campaigns_page_size: int = 500
    association_batch_size: int = 1000  # v4 batch/read inputs (HubSpot's limit since 2025-02)
    max_url_chars: int = 7000  # HubSpot refuses request lines over ~8 KB with 414
    # Per object type: the properties to extract; absent means every property HubSpot has.
    properties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the raw data lands: the DuckDB file dbt reads (or any dlt destination)."""

    destination: str = "duckdb"
    path: Path = DEFAULT_WAREHOUSE  # the DuckDB file; other destinations use dlt's credentials
    dlt_dir: Path = DEFAULT_DLT_DIR  # dlt's pipeline working state (git-ignored)
    dataset_name: str = "hubspot"  # = the dbt source schema
    # DuckDB's memory cap while dbt builds (profiles.yml reads HUBSEG_DBT_MEMORY_LIMIT, which
    # the nightly sets from here): "" keeps DuckDB's default, 80% of RAM. A `large` portal's
    # full build peaks near 11 GB uncapped; capped, its big joins spill to disk instead.
    dbt_memory_limit: str = ""


@dataclass(frozen=True)
class SyncSettings:
    """What `hubseg sync` writes back to HubSpot, and the guardrails around it ([hubseg.sync]).

    The group and both properties must start with `property_prefix`: the sync writes nothing
    else, and the prefix tells HubSpot users which properties a machine owns.
    """

    sync_model: str = "marts.sync_hubspot__contact_segments"  # one row per contact
    segments_model: str = "marts.segments"  # segment keys, labels, descriptions, priorities
    property_prefix: str = "hubseg_"
    group_name: str = "hubseg_segments"
    segments_property: str = "hubseg_segments"  # multi-checkbox: every segment key
    primary_property: str = "hubseg_primary_segment"  # single select: the primary segment
    batch_size: int = 100  # contacts per batch update (HubSpot's maximum)
    parallel_batches: int = 8  # batch requests in flight at once (the budget still caps rate)
    max_attempts: int = 5  # failed sends of one contact before it is dead-lettered
    max_change_share: float = 0.20  # abort when more contacts than this would change
    max_clear_share: float = 0.10  # abort when more contacts than this would be cleared
    max_row_drop_share: float = 0.20  # abort when the model shrank more than this
    max_reject_share: float = 0.05  # fail the run when HubSpot refused more rows than this
    force: bool = False  # proceed despite the guardrails (like `--force`)
    sample_rows: int = 5  # rows shown by `--dry-run`


@dataclass(frozen=True)
class HubsegConfig:
    hubspot: HubSpotSettings
    extract: ExtractSettings
    warehouse: WarehouseSettings
    sync: SyncSettings = field(default_factory=SyncSettings)


# -- resolution ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    """Where one setting may come from: its hubseg env var and its dlt key."""

    env: str | None
    dlt_key: str
    secret: bool = False


_HUBSPOT_SOURCES: dict[str, _Source] = {
    "base_url": _Source("HUBSPOT_BASE_URL", f"{SOURCE_SECTION}.base_url"),
    "access_token": _Source("HUBSPOT_ACCESS_TOKEN", f"{SOURCE_SECTION}.access_token", True),
    "api_version": _Source("HUBSPOT_API_VERSION", f"{SOURCE_SECTION}.api_version"),
    "tier": _Source("HUBSPOT_TIER", f"{SOURCE_SECTION}.tier"),
}
_WAREHOUSE_SOURCES: dict[str, _Source] = {
    "destination": _Source("HUBSEG_DESTINATION", f"{HUBSEG_SECTION}.destination"),
    "path": _Source("HUBSEG_WAREHOUSE", f"{HUBSEG_SECTION}.warehouse"),
    "dlt_dir": _Source("HUBSEG_DLT_DIR", f"{HUBSEG_SECTION}.dlt_dir"),
    "dbt_memory_limit": _Source("HUBSEG_DBT_MEMORY_LIMIT", f"{HUBSEG_SECTION}.dbt_memory_limit"),
}


def _lookup(name: str, source: _Source | None, section: str) -> Any:
    """The first value found: hubseg env var, then dlt's providers; None when unset."""
    if source is not None and source.env and os.environ.get(source.env):
        return os.environ[source.env]
    key = source.dlt_key if source is not None else f"{section}.{name}"
    return _dlt_value(key, secret=source is not None and source.secret)


def _dlt_value(key: str, *, secret: bool = False) -> Any:
    """A value from dlt's providers (env, .dlt/secrets.toml, .dlt/config.toml).

    dlt is imported here, not at module level: it takes seconds to import, and every `hubseg`
    command imports this module.
    """
    import dlt

    return (dlt.secrets if secret else dlt.config).get(key)


def _convert(name: str, raw: Any, target: Callable[[Any], Any]) -> Any:
    try:
        return target(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"configuration value {name}={raw!r} is not a valid "
                          f"{getattr(target, '__name__', target)}") from None


def _optional_int(raw: Any) -> int | None:
    return None if raw in (None, "") else int(raw)


def _bool(raw: Any) -> bool:
    """A TOML boolean, or an environment variable's text (true/false, 1/0, yes/no)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(text)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": str, "int": int, "float": float, "Path": Path, "Secret": lambda v: Secret(str(v)),
    "int | None": _optional_int, "bool": _bool,
}


def _resolve(cls: type, sources: Mapping[str, _Source], section: str,
             overrides: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ("properties", "dataset_name"):
            continue  # structured or fixed: resolved separately
        raw = overrides.get(f.name)
        if raw is None:
            raw = _lookup(f.name, sources.get(f.name), section)
        if raw is not None:
            values[f.name] = _convert(f.name, raw, _CONVERTERS[str(f.type)])
    return cls(**values)


def _properties(raw: Any) -> dict[str, tuple[str, ...]]:
    """`[sources.hubspot.properties] contacts = ["email", …]` → per-type tuples."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("[sources.hubspot.properties] must map an object type to a list of "
                          "property names, e.g. contacts = [\"email\", \"firstname\"]")
    out: dict[str, tuple[str, ...]] = {}
    for object_type, names in raw.items():
        if object_type not in OBJECT_TYPES:
            raise ConfigError(f"[sources.hubspot.properties] has unknown object type "
                              f"{object_type!r}; use one of {', '.join(OBJECT_TYPES)}")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        out[object_type] = tuple(str(n) for n in names if str(n))
    return out


def _validate(config: HubsegConfig) -> None:
    hub = config.hubspot
    if not hub.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"HUBSPOT_BASE_URL must start with http:// or https://, "
                          f"not {hub.base_url!r}")
    if hub.tier not in TIERS:
        raise ConfigError(f"unknown HubSpot tier {hub.tier!r}: use one of {', '.join(TIERS)} "
                          "(tier in [sources.hubspot] or HUBSPOT_TIER)")
    if hub.tier == "custom" and not hub.per_ten_seconds:
        raise ConfigError("tier = \"custom\" needs per_ten_seconds (and optionally "
                          "search_per_second, per_day) under [sources.hubspot]")
    if not _API_VERSION.match(hub.api_version):
        raise ConfigError(f"api_version must be \"v3\" or a date version like \"2026-03\", "
                          f"not {hub.api_version!r}")
    if not 0 <= hub.safety_margin < 1:
        raise ConfigError("safety_margin must be within [0, 1)")
    if hub.max_attempts < 1:
        raise ConfigError("max_attempts must be at least 1")
    ext = config.extract
    if ext.max_url_chars < 1000:
        raise ConfigError("max_url_chars must be at least 1000")
    if ext.index_lag_seconds < 0:
        raise ConfigError("index_lag_seconds must not be negative")
    if not 1 <= ext.association_batch_size <= 1000:
        raise ConfigError("association_batch_size must be within 1..1000 (HubSpot's maximum)")
    limit = config.warehouse.dbt_memory_limit
    if limit and not _MEMORY_LIMIT.match(limit):
        raise ConfigError(f"dbt_memory_limit (HUBSEG_DBT_MEMORY_LIMIT) must be an amount such as "
                          f"\"4GB\", \"512MB\" or \"50%\" of RAM, not {limit!r}")
    _validate_sync(config.sync)


def _validate_sync(sync: SyncSettings) -> None:
    where = "under [hubseg.sync] in .dlt/config.toml"
    for key in ("group_name", "segments_property", "primary_property"):
        name = getattr(sync, key)
        if not _PROPERTY_NAME.match(name) or not name.startswith(sync.property_prefix):
            raise ConfigError(f"{key} = {name!r} {where}: use lowercase letters, digits and "
                              f"underscores, starting with the prefix {sync.property_prefix!r} "
                              "that marks what hubseg owns in HubSpot")
    if not sync.property_prefix:
        raise ConfigError(f"property_prefix {where} must not be empty")
    if sync.segments_property == sync.primary_property:
        raise ConfigError(f"segments_property and primary_property {where} must differ")
    for key in ("sync_model", "segments_model"):
        if not _RELATION.match(getattr(sync, key)):
            raise ConfigError(f"{key} {where} must be schema.table, "
                              f"not {getattr(sync, key)!r}")
    for key in ("max_change_share", "max_clear_share", "max_row_drop_share",
                "max_reject_share"):
        if not 0 <= getattr(sync, key) <= 1:
            raise ConfigError(f"{key} {where} must be a share within [0, 1]")
    if not 1 <= sync.batch_size <= 100:
        raise ConfigError(f"batch_size {where} must be within 1..100 (HubSpot's maximum)")
    if sync.parallel_batches < 1 or sync.max_attempts < 1 or sync.sample_rows < 0:
        raise ConfigError(f"parallel_batches and max_attempts {where} must be at least 1, "
                          "sample_rows at least 0")


def load_config(**overrides: Any) -> HubsegConfig:
    """Resolve the configuration; `overrides` (None values ignored) win over everything."""
    given = {k: v for k, v in overrides.items() if v is not None}
    config = HubsegConfig(
        hubspot=_resolve(HubSpotSettings, _HUBSPOT_SOURCES, SOURCE_SECTION, given),
        extract=_resolve(ExtractSettings, {}, SOURCE_SECTION, given),
        warehouse=_resolve(WarehouseSettings, _WAREHOUSE_SOURCES, HUBSEG_SECTION, given),
        sync=_resolve(SyncSettings, {}, SYNC_SECTION, {}),
    )
    props = _properties(given.get("properties") or _dlt_value(f"{SOURCE_SECTION}.properties"))
    config = HubsegConfig(
        hubspot=config.hubspot,
        extract=ExtractSettings(**{**_as_dict(config.extract), "properties": props}),
        warehouse=config.warehouse,
        sync=config.sync,
    )
    _validate(config)
    return config


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def require_token(config: HubsegConfig) -> None:
    """Steps that call HubSpot need a token; say exactly where to put one."""
    if not config.hubspot.access_token:
        raise ConfigError(
            "no HubSpot access token: create a private app in HubSpot (Settings › Integrations "
            "› Private apps) with the scopes listed in the README, then set "
            "HUBSPOT_ACCESS_TOKEN or access_token under [sources.hubspot] in .dlt/secrets.toml "
            "(template: .dlt/example.secrets.toml)")
