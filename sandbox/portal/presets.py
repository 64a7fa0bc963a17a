"""Portal sizes. Every count is a target the generator reaches exactly or approximately.

Email volume is driven by `sends_per_campaign`: the share of eligible contacts a campaign goes to
is derived from it, so early campaigns (fewer contacts existed) are smaller, as in a real portal.
With roughly 4–5 events per send, `campaigns × sends_per_campaign × 4.5` ≈ the event total.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    contacts: int
    companies: int
    deals: int
    campaigns: int
    sends_per_campaign: int
    history_days: int = 730  # the portal's past: about two years before the anchor
    new_contacts_per_day: float = 1.0  # growth rate used by `advance`
    new_deals_per_day: float = 1.0  # used by `advance`
    campaigns_per_day: float = 1 / 7  # cadence used by `advance` (≥ 1 per advance call)


PRESETS: dict[str, Preset] = {
    "small": Preset("small", contacts=1_000, companies=300, deals=300, campaigns=20,
                    sends_per_campaign=450, new_contacts_per_day=2.0, new_deals_per_day=2.0,
                    campaigns_per_day=1 / 7),
    "demo": Preset("demo", contacts=10_000, companies=2_000, deals=2_000, campaigns=100,
                   sends_per_campaign=1_400, new_contacts_per_day=15.0,
                   new_deals_per_day=5.0, campaigns_per_day=1 / 7),
    "large": Preset("large", contacts=1_000_000, companies=100_000, deals=200_000,
                    campaigns=1_000, sends_per_campaign=5_500, new_contacts_per_day=1_000.0,
                    new_deals_per_day=300.0, campaigns_per_day=1.4),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None
