"""Every tunable of the sandbox in one place.

HubSpot facts marked [inferred] in the API reference are configurable here rather than
hard-coded in handlers, so a test can switch them when a live portal proves otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PartialFailureMode = Literal["207", "400"]


@dataclass(frozen=True)
class RateLimitPreset:
    """Requests allowed per rolling 10 s window and per day, per token."""

    name: str
    per_ten_seconds: int | None
    per_day: int | None
    search_per_second: int | None = 5


RATE_LIMIT_PRESETS: dict[str, RateLimitPreset] = {
    "off": RateLimitPreset("off", None, None, None),
    "starter": RateLimitPreset("starter", 100, 250_000),
    "pro": RateLimitPreset("pro", 190, 625_000),
    "enterprise": RateLimitPreset("enterprise", 190, 1_000_000),
}


@dataclass
class ApiLimits:
    """Request-shape limits HubSpot enforces (see hubspot-api.md §3 and §11)."""

    list_default: int = 10
    list_max: int = 100
    list_max_with_history: int = 50
    search_default: int = 10
    search_max: int = 200
    search_result_cap: int = 10_000
    search_max_filter_groups: int = 5  # [inferred]
    search_max_filters_per_group: int = 6  # [inferred]
    search_max_filters_total: int = 18  # [inferred]
    search_query_max_chars: int = 3_000
    batch_max: int = 100
    batch_max_with_history: int = 50
    association_default: int = 500
    association_max: int = 500
    association_batch_max: int = 1_000  # [inferred] inputs per v4 batch/read
    inline_associations_max: int = 100  # ids per type inlined in a v3 record, then paging
    # [observed: HubSpot/hubspot-api-nodejs #29, paging "when there are more than 100"]
    events_default: int = 10
    events_max: int = 1_000
    campaigns_default: int = 250  # [inferred]
    campaigns_max: int = 1_000  # [inferred]
    max_url_chars: int = 8_192  # longer request lines get 414 URI Too Long [observed ~8 KB]
    # v1 offsets (events, campaigns) are "meant to be short-lived": refused this many ms after
    # they were issued. 0: never. [inferred: HubSpot gives no figure]
    offset_ttl_ms: int = 0


@dataclass
class FaultRule:
    """Share of requests on matching routes answered with each fault kind.

    kinds: "429", "500", "502", "503", "drop" (connection closed mid-response), "slow".
    route: a route template such as "/crm/v3/objects/{object_type}" or "*" for all.
    """

    route: str = "*"
    kinds: dict[str, float] = field(default_factory=dict)
    slow_seconds: float = 2.0


@dataclass
class SandboxSettings:
    rate_limit: str = "off"
    per_ten_seconds: int | None = None  # explicit numbers override the preset
    per_day: int | None = None
    search_per_second: int | None = None
    retry_after_header: bool = False  # HubSpot does not send Retry-After [observed]
    # Batch writes naming a missing record without objectWriteTraceIds: a whole-batch 400 by
    # default (reference §13.7), or per-input 207 errors. [inferred]
    partial_failure_mode: PartialFailureMode = "400"
    # That error's text and whether its context names the ids: HubSpot's exact answer is an
    # open item of the reference, so clients must not depend on either. "" → our default text.
    missing_objects_message: str = ""
    missing_objects_ids: bool = True
    # A 403 names the scopes it wants in errors[].context.requiredGranularScopes. [inferred]
    missing_scopes_detail: bool = True
    # Campaign list items carry lastUpdatedTime. [inferred]
    campaigns_last_updated: bool = True
    search_index_lag_ms: int = 0  # new/updated rows appear in search after this delay
    fault_seed: int = 0
    faults: list[FaultRule] = field(default_factory=list)
    limits: ApiLimits = field(default_factory=ApiLimits)

    def preset(self) -> RateLimitPreset:
        base = RATE_LIMIT_PRESETS[self.rate_limit]
        return RateLimitPreset(
            name=base.name,
            per_ten_seconds=self.per_ten_seconds or base.per_ten_seconds,
            per_day=self.per_day or base.per_day,
            search_per_second=self.search_per_second or base.search_per_second,
        )
