"""Guardrails: refuse to write when the plan looks like a broken model, not like a day's changes.

Checked after the plan is made and before the first write (options included):

| rule | default | applies |
|---|---|---|
| the sync model is empty | — | always |
| model rows fell by more than `max_row_drop_share` since the last passed run | 20% | later runs |
| contacts whose values would change > `max_change_share` of the model | 20% | see below |
| contacts that would lose every segment > `max_clear_share` of the model | 10% | always |
| null or duplicate contact ids in the model | — | always, `--force` cannot override |

The change rule does not apply on a first run, nor when finishing an unfinished run. A
*first run* is one with no earlier run that passed its guardrails, or one that finds the
owned properties missing in HubSpot: everything is new then, so a large change share is
expected. The clear rule still applies: on a true first run nothing can be cleared (HubSpot
holds none of our values), so it only trips when HubSpot already holds values that a broken
model would wipe — e.g. after the state was lost.

*Finishing an unfinished run*: when the last run that passed its guardrails was interrupted,
failed or stopped at the daily limit, and this run plans no more changes than it did, this run
completes what those guardrails already let through (a first run's population, or a `--force`d
change), so the change share is not held against it again. A plan larger than that is judged
as usual.

After sending, a run fails when HubSpot refused (or the plan could not send) more than
`max_reject_share` (5%) of the rows it tried to write; everything is recorded first.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubseg.config import SyncSettings
from reverse_etl.plan import Plan
from reverse_etl.state import PreviousRun
from reverse_etl.warehouse import ModelProfile

_CONFIG_HINT = "{setting} under [hubseg.sync] in .dlt/config.toml, or HUBSEG__SYNC__{upper}"


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    overridable: bool = True


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(share: float) -> str:
    return f"{share:.1%}"


def _limit(setting: str, value: float) -> str:
    hint = _CONFIG_HINT.format(setting=setting, upper=setting.upper())
    return f"the limit is {_pct(value)} ({hint})"


def before_sending(profile: ModelProfile, plan: Plan, previous: PreviousRun | None,
                   first_run: bool, settings: SyncSettings) -> list[Violation]:
    """Every rule the plan breaks (empty when it may be sent)."""
    out: list[Violation] = []
    if profile.null_ids or profile.duplicate_ids:
        out.append(Violation("model_keys", (
            f"the sync model {settings.sync_model} has {profile.null_ids:,} rows without a "
            f"contact id and {profile.duplicate_ids:,} duplicate contact ids; it must hold one "
            "row per contact: fix the model"), overridable=False))
    rows = profile.rows
    if rows == 0:
        out.append(Violation("empty_model", (
            f"the sync model {settings.sync_model} is empty: sending it would clear the "
            "segments of every contact")))
        return out
    if previous is not None and previous.model_rows > 0:
        drop = _share(previous.model_rows - rows, previous.model_rows)
        if drop > settings.max_row_drop_share:
            out.append(Violation("row_drop", (
                f"the sync model has {rows:,} rows, {_pct(drop)} fewer than the "
                f"{previous.model_rows:,} of the last run ({previous.run_id}); "
                f"{_limit('max_row_drop_share', settings.max_row_drop_share)}")))
    change = _share(plan.changing, rows)
    finishing = (previous is not None and not previous.finished
                 and plan.changing <= previous.planned)
    if not first_run and not finishing and change > settings.max_change_share:
        out.append(Violation("change_share", (
            f"{plan.changing:,} of {rows:,} contacts ({_pct(change)}) would change their "
            f"segments; {_limit('max_change_share', settings.max_change_share)}")))
    clear = _share(plan.clears, rows)
    if clear > settings.max_clear_share:
        out.append(Violation("clear_share", (
            f"{plan.clears:,} of {rows:,} contacts ({_pct(clear)}) would lose every segment "
            f"(both properties cleared); {_limit('max_clear_share', settings.max_clear_share)}")))
    return out


def blocking(violations: list[Violation], force: bool) -> list[Violation]:
    """The violations that stop this run: all of them, or with `--force` the hard ones."""
    return [v for v in violations if not force or not v.overridable]


def abort_message(violations: list[Violation]) -> str:
    lines = ["hubseg sync stopped before writing anything to HubSpot:"]
    lines += [f"  - {v.message}" for v in violations]
    if all(v.overridable for v in violations):
        lines.append("If this is expected (a real change of the segment rules, a large import),"
                     " run `hubseg sync --force`, or raise the limit as shown.")
    return "\n".join(lines)


def after_sending(tried: int, refused: int, settings: SyncSettings) -> Violation | None:
    """The run fails when HubSpot refused too large a share of the rows it tried."""
    share = _share(refused, tried)
    if share <= settings.max_reject_share:
        return None
    return Violation("reject_share", (
        f"{refused:,} of {tried:,} rows ({_pct(share)}) were refused; "
        f"{_limit('max_reject_share', settings.max_reject_share)}. They are recorded in "
        "reverse_etl.sync_changes with HubSpot's reason and retried next run."))
