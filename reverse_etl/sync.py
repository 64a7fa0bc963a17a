"""One `hubseg sync` run: inspect properties, plan, guard, write options, send, record.

Order matters, and is what makes the run safe:

1. read the owned property definitions (2 GETs) and count the sync model's rows while diffing
   it against the state (as if the properties existed; redone on a first run, when not);
2. plan (`plan.py`): from that diff, reading from HubSpot only the contacts
   the state does not know and the writes an interrupted run left in flight;
3. guardrails (`guardrails.py`): abort before the first write — options included;
4. create the group and properties if missing, bring their options in step with the mart;
5. send batches of ≤ 100, `parallel_batches` at a time: each batch is journaled as in flight
   (committed) before it is sent, and its outcomes (accepted / refused / not found) right
   after, so a run killed anywhere loses nothing and resends nothing HubSpot accepted. While
   the API budget holds batches back, the warehouse work no batch waits for is done then:
   marking contacts gone from the model, folding the journals so far;
6. judge the refused share, fold the journals into `contact_state` (also done first thing by
   the next run, should this one be killed) and close the run's row in `sync_runs`.

A dry run does 1–3 (reads only; the warehouse is opened read-only) and reports the plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from time import monotonic
from typing import TypeVar

import duckdb

from hubseg.api import DailyLimitReached, HubSpotClient
from hubseg.config import HubsegConfig, require_token
from hubseg.redact import Redactor
from reverse_etl import warehouse
from reverse_etl.contacts_api import ContactsApi
from reverse_etl.guardrails import (
    Violation,
    abort_message,
    after_sending,
    before_sending,
    blocking,
)
from reverse_etl.owned_properties import OwnedProperties, PropertyChanges
from reverse_etl.plan import Candidate, Change, Plan, load_candidates, make_plan, observe
from reverse_etl.sender import RowOutcome, RowResult, Sender
from reverse_etl.state import (
    ChangeLog,
    Outcome,
    RunRecord,
    RunStatus,
    Sending,
    SyncState,
    utc_now,
)
from reverse_etl.values import EMPTY, OwnedNames, OwnedValues
from reverse_etl.warehouse import ModelProfile, SegmentDefinition

ProgressFn = Callable[[str, int], None]  # (phase, rows just done), like the extractor's
WRITE_RESOURCE = "sync: batch update"

IDLE_POLL_S = 0.05
# While the budget holds batches back, the journal is folded into `contact_state` at most this
# often, so that the end of a run has little left to fold (its time counts; the hold's does not).
FOLD_EVERY_S = 2.0

Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass
class SyncReport:
    """What a run did (or a dry run would do), for the terminal and the exit code."""

    run: RunRecord
    dry_run: bool
    batch_size: int
    sample_rows: int = 5
    property_changes: PropertyChanges | None = None
    plan: Plan | None = None
    violations: list[Violation] = field(default_factory=list)  # every rule broken
    blocked: list[Violation] = field(default_factory=list)  # those that stopped the run
    rejected: Violation | None = None
    stopped_by: DailyLimitReached | None = None
    contacts_read: int = 0
    left_model: int = 0
    duration_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    # Wall seconds per phase: "diff" (warehouse query and plan), "read" (HubSpot reads of
    # contacts new to the sync), "send" (batch updates with their state commits), "held" (the
    # part of "send" spent on warehouse work while the budget held batches back), "fold" (the
    # journal folded at the end of the run).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def write_calls(self) -> int:
        return self.calls.get(WRITE_RESOURCE, 0)


def new_run_id() -> str:
    return f"{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def pipelined(jobs: Iterable[Job], work: Callable[[Job], Result],
              settle: Callable[[Job, Result], None], *, width: int,
              before: Callable[[Job], None] | None = None,
              commit: Callable[[], AbstractContextManager[object]] = nullcontext,
              idle: Callable[[], None] | None = None) -> None:
    """Run `work` in up to `width` threads; `before`, `settle` and `idle` run in this thread.

    Only this thread touches the warehouse. Each round settles the jobs that finished and
    prepares (`before`) the ones that start next inside one `commit` scope (one transaction:
    one commit per round), and a job starts only after that scope has closed, so what `before`
    recorded is durable before `work` runs. On a failure no new job starts; jobs in flight
    finish and are settled, then the first failure is raised. A job whose `work` failed is
    never settled (its `before` record stays, for the next run to resolve). While no job has
    finished, `idle` is called every `IDLE_POLL_S` (outside any `commit` scope).
    """
    pending = iter(jobs)
    in_flight: dict[Future[Result], Job] = {}
    done: set[Future[Result]] = set()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="hubseg-sync") as pool:
        while True:
            starting: list[Job] = []
            with commit():
                for future in done:
                    job = in_flight.pop(future)
                    error = future.exception()
                    if error is not None:
                        failure = failure or error
                    else:
                        settle(job, future.result())
                while failure is None and len(in_flight) + len(starting) < width:
                    job = next(pending, None)
                    if job is None:
                        break
                    if before is not None:
                        before(job)
                    starting.append(job)
            for job in starting:
                in_flight[pool.submit(work, job)] = job
            if not in_flight:
                break
            done = _first_finished(set(in_flight), idle)
    if failure is not None:
        raise failure


def _first_finished(futures: set[Future[Result]], idle: Callable[[], None] | None
                    ) -> set[Future[Result]]:
    while True:
        done, _ = wait(futures, timeout=None if idle is None else IDLE_POLL_S,
                       return_when=FIRST_COMPLETED)
        if done or idle is None:
            return done
        idle()


def settle_change(change: Change, result: RowResult, max_attempts: int) -> ChangeLog:
    """The `sync_changes` entry for a change after HubSpot's (or the plan's) verdict; a
    refusal counts one attempt, and the last allowed attempt dead-letters the contact."""
    cid, old, new = change.contact_id, change.old, change.new
    if result.outcome == RowOutcome.ACCEPTED:
        return ChangeLog(cid, old, new, Outcome.ACCEPTED)
    if result.outcome == RowOutcome.NOT_FOUND:
        return ChangeLog(cid, old, new, Outcome.DELETED, result.error, change.attempts)
    attempts = change.attempts + 1
    outcome = Outcome.DEAD_LETTERED if attempts >= max_attempts else Outcome.FAILED
    return ChangeLog(cid, old, new, outcome, result.error, attempts)


class SyncRun:
    """One run against one warehouse connection and one HubSpot client."""

    def __init__(self, con: duckdb.DuckDBPyConnection, client: HubSpotClient,
                 config: HubsegConfig, *, dry_run: bool, force: bool,
                 progress: ProgressFn | None) -> None:
        self.con = con
        self.client = client
        self.settings = config.sync
        self.names = OwnedNames.from_settings(self.settings)
        self.state = SyncState(con)
        self.api = ContactsApi(client, self.names)
        self.properties = OwnedProperties(client, self.names)
        self.dry_run = dry_run
        self.force = force
        self.progress = progress or (lambda phase, rows: None)
        self.run = RunRecord(new_run_id(), utc_now(), force)
        self._membership_refreshed = False
        self._folded_at = monotonic()
        self.report = SyncReport(self.run, dry_run, self.settings.batch_size,
                                 self.settings.sample_rows)

    # -- the run --------------------------------------------------------------------------------
    def execute(self) -> SyncReport:
        started = monotonic()
        model = self.settings.sync_model
        definitions = warehouse.segment_definitions(self.con, self.settings.segments_model)
        warehouse.require_sync_model(self.con, model)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hubseg-inspect") as pool:
            # Every tenth of a second before the first batch of a day's run delays the last
            # one: HubSpot answers the property reads, and DuckDB counts the model's rows in a
            # second connection, while this one diffs the model against the state.
            inspecting = pool.submit(self.properties.inspect, definitions)
            if not self.dry_run:
                self.state.ensure()
                self.state.fold()  # what an interrupted run journaled but never folded
                self.state.close_interrupted_runs()
                self.state.save_run(self.run)
            profiling = pool.submit(self._profile, warehouse.reader(self.con), model)
            return self._execute_guarded(started, profiling, definitions, inspecting)

    @staticmethod
    def _profile(con: duckdb.DuckDBPyConnection, model: str) -> ModelProfile:
        try:
            return warehouse.model_profile(con, model)
        finally:
            con.close()

    def _execute_guarded(self, started: float, profiling: Future[ModelProfile],
                         definitions: list[SegmentDefinition],
                         inspecting: Future[PropertyChanges]) -> SyncReport:
        try:
            self._execute(profiling, definitions, inspecting)
        except DailyLimitReached as exc:  # a clean stop: what was accepted is recorded
            self.run.status = RunStatus.STOPPED_DAILY_LIMIT
            self.report.stopped_by = exc
        except KeyboardInterrupt:
            self.run.status = RunStatus.INTERRUPTED
            raise
        except BaseException as exc:
            self.run.status = RunStatus.FAILED
            self.run.abort_reason = Redactor()(str(exc))  # kept in the warehouse
            raise
        finally:
            self._close(started)
        return self.report

    def _execute(self, profiling: Future[ModelProfile], definitions: list[SegmentDefinition],
                 inspecting: Future[PropertyChanges]) -> None:
        candidates = self._diff()
        changes = inspecting.result()
        profile = profiling.result()
        self.run.model_rows = profile.rows
        self.report.property_changes = changes
        plan = self._plan(profile, definitions, changes, candidates)
        previous = self.state.previous_run()
        self.run.first_run = previous is None or self.names.segments in changes.missing
        self.report.violations = before_sending(profile, plan, previous, self.run.first_run,
                                                self.settings)
        self.report.blocked = blocking(self.report.violations, self.force)
        if self.report.blocked:
            self.run.status = RunStatus.ABORTED
            self.run.abort_reason = abort_message(self.report.blocked)
            return
        self.run.passed_guardrails = True
        if self.dry_run:
            self.run.status = RunStatus.SUCCEEDED
            return
        if changes.any:
            self.properties.apply(changes, definitions)
        self._refuse_unsendable(plan)
        self._send(plan)
        self._refresh_membership()  # unless done while the budget held the batches back
        self._judge(plan)

    def _refresh_membership(self) -> None:
        """Contacts gone from the model are never written: their state says so (no batch of
        this run contains one, so it may be done at any point of the run)."""
        if not self._membership_refreshed:
            self.report.left_model = self.state.refresh_model_membership(
                self.run.run_id, self.settings.sync_model)
            self._membership_refreshed = True

    def _while_held(self) -> None:
        """Warehouse work no batch waits for, done while the API budget holds batches back
        (they would wait anyway) rather than after the last one."""
        if not self.client.budget.holding():
            return
        if not self._membership_refreshed:
            with self._timed("held"):
                self._refresh_membership()
        elif monotonic() - self._folded_at >= FOLD_EVERY_S:
            with self._timed("held"):
                self.state.fold()
            self._folded_at = monotonic()

    def _close(self, started: float) -> None:
        self.run.ended_at = utc_now()
        self.run.api_calls = self.client.stats.total_calls()
        self.report.calls = dict(self.client.stats.calls)
        self.report.retries = dict(self.client.stats.retries)
        self.report.duration_s = monotonic() - started
        if not self.dry_run:
            with self._timed("fold"):
                self.state.fold()
            self.state.save_run(self.run)

    # -- planning -------------------------------------------------------------------------------
    def _diff(self, *, forget_segments: bool = False, forget_primary: bool = False
              ) -> list[Candidate]:
        with self._timed("diff"):
            return load_candidates(self.con, self.settings.sync_model, self.state.relation(),
                                   forget_segments=forget_segments, forget_primary=forget_primary)

    def _plan(self, profile: ModelProfile, definitions: list[SegmentDefinition],
              changes: PropertyChanges, candidates: list[Candidate]) -> Plan:
        """`candidates` were diffed as if both properties existed in HubSpot, as they do on
        every run but the first: if one is missing, it holds nothing, so the diff is redone
        with the state's accepted values for it forgotten."""
        forget_segments = self.names.segments in changes.missing
        forget_primary = self.names.primary in changes.missing
        if forget_segments or forget_primary:
            if not self.dry_run:
                self.state.forget_accepted(segments=forget_segments, primary=forget_primary)
            candidates = self._diff(forget_segments=forget_segments,
                                    forget_primary=forget_primary)
        with self._timed("read"):
            candidates = self._observe(candidates)
        with self._timed("diff"):
            plan = make_plan(profile.rows, candidates, frozenset(d.key for d in definitions),
                             self.settings.segments_model)
        self.report.plan = plan
        self.run.planned = plan.changing
        return plan

    def _observe(self, candidates: list[Candidate]) -> list[Candidate]:
        """Read from HubSpot the candidates the state cannot vouch for; record what it holds."""
        known = [c for c in candidates if not c.needs_read]
        unknown = [c for c in candidates if c.needs_read]
        size = self.settings.batch_size

        def read(chunk: list[Candidate]) -> dict[str, OwnedValues | None]:
            return self.api.read([c.contact_id for c in chunk])

        def settle(chunk: list[Candidate], current: dict[str, OwnedValues | None]) -> None:
            seen = observe(chunk, current)
            if not self.dry_run:
                self.state.save_observed(self.run.run_id, seen.new_rows, known=False)
                self.state.save_observed(self.run.run_id, seen.known_rows, known=True,
                                         confirmed=seen.confirmed)
            self.run.confirmed += len(seen.confirmed)
            known.extend(seen.candidates)
            self.progress("read from HubSpot", len(chunk))

        pipelined(_chunks(unknown, size), read, settle, width=self.settings.parallel_batches,
                  commit=nullcontext if self.dry_run else self.state.transaction)
        self.report.contacts_read = len(unknown)
        return known

    # -- sending --------------------------------------------------------------------------------
    def _refuse_unsendable(self, plan: Plan) -> None:
        """Rows the plan cannot send are recorded as refused (and count towards dead-letter)."""
        if not plan.invalid:
            return
        self._record([settle_change(change, RowResult(RowOutcome.REFUSED, why),
                                    self.settings.max_attempts)
                      for change, why in plan.invalid])

    def _send(self, plan: Plan) -> None:
        sender = Sender(self.api)

        def mark(batch: list[Change]) -> None:
            self.state.mark_in_flight(self.run.run_id, [
                Sending(c.contact_id, c.new, c.attempts) for c in batch])

        def send(batch: list[Change]) -> dict[str, RowResult]:
            return sender.send({c.contact_id: c.new for c in batch})

        def settle(batch: list[Change], results: dict[str, RowResult]) -> None:
            self.run.sent += len(batch)
            # Unsettled contacts (survivors of a merged input) stay in flight: the next run
            # reads them back. Those outside the batch are marked so now.
            self._record([settle_change(c, results[c.contact_id], self.settings.max_attempts)
                          for c in batch
                          if results[c.contact_id].outcome != RowOutcome.UNSETTLED])
            sent = {c.contact_id for c in batch}
            survivors = [i for i in results if i not in sent]
            if survivors:
                self.state.mark_in_flight(self.run.run_id,
                                          [Sending(i, EMPTY, 0) for i in survivors])
            self.progress("written to HubSpot", len(batch))

        with self._timed("send"):
            pipelined(plan.batches(self.settings.batch_size), send, settle,
                      width=self.settings.parallel_batches, before=mark,
                      commit=self.state.transaction, idle=self._while_held)

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = monotonic()
        try:
            yield
        finally:
            seconds = self.report.seconds
            seconds[phase] = seconds.get(phase, 0.0) + monotonic() - started

    def _record(self, log: Sequence[ChangeLog]) -> None:
        self.state.log(self.run.run_id, log)
        for entry in log:
            self.run.count(entry.outcome)

    def _judge(self, plan: Plan) -> None:
        refused = self.run.failed + self.run.dead_lettered
        self.report.rejected = after_sending(plan.changing, refused, self.settings)
        if self.report.rejected is None:
            self.run.status = RunStatus.SUCCEEDED
        else:
            self.run.status = RunStatus.FAILED
            self.run.abort_reason = self.report.rejected.message


def _chunks(items: list[Job], size: int) -> list[list[Job]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_sync(config: HubsegConfig, *, dry_run: bool = False, force: bool = False,
             progress: ProgressFn | None = None) -> SyncReport:
    """Run (or plan, with `dry_run`) one sync; HubSpot and config errors propagate."""
    require_token(config)
    with warehouse.connect(config.warehouse, read_only=dry_run) as con:
        client = HubSpotClient(config.hubspot)
        run = SyncRun(con, client, config, dry_run=dry_run, force=force or config.sync.force,
                      progress=progress)
        try:
            return run.execute()
        finally:
            run.api.close()
            client.close()
