"""The scheduler's pure decision core: a snapshot of the world plus events in, typed
instructions out (STYLE 3). No database, no engine, no clock: the shell reads the snapshot,
calls :func:`decide` and performs the instructions in order, so every decision is tested
by asserting the exact list of instructions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from hyperloop.core.assessment import DatasetSize, Expected, SampleFacts, Thresholds, evaluate
from hyperloop.core.sharing import compact_devices
from hyperloop.enums import JobState, NotificationKind, TestStatus, TrainState
from hyperloop.grid.targets import Target, pick_target_with_more_memory
from hyperloop.scheduler import cycles
from hyperloop.scheduler.cycles import (
    AssignTestTag,
    ComposeTrain,
    ComposeView,
    DeliverMail,
    ExpireLongTrain,
    LongTrainView,
    Notify,
    RecordComposeSlot,
    SubmitRequested,
)

TestKind = Literal["wagon", "train"]

# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class TestView:
    """A wagon test that is queued or running (finished ones are not in the snapshot)."""

    __test__ = False  # not a pytest class

    id: int
    status: TestStatus
    pull_request: str = ""  # queued without a tag, waiting for a tag containing this PR
    tagless: bool = False  # queued without a tag (no released tag fits its policy yet)


@dataclass(frozen=True, slots=True)
class JobView:
    """One job of a submitted train as the database has it; ``target`` is the target name
    its current attempt runs (or will run) on."""

    id: int
    run: int
    state: JobState
    attempts: int
    target: str


@dataclass(frozen=True)
class TrainView:
    """A train run that still needs the scheduler (not final)."""

    id: int
    state: TrainState
    target: str
    auto_submit: bool = False
    slow: bool = False  # slow trains wait for every job; express ones (default) do not
    jobs: tuple[JobView, ...] = ()
    split: bool = False  # jobs have been created
    runs_merged: frozenset[int] = frozenset()  # per-run merge finished
    runs_merging: frozenset[int] = frozenset()  # per-run merge started, not finished
    # per-run merge failed in this scheduler (an output unreadable): not started again; an
    # operator's final merge lists these runs missing
    runs_merge_failed: frozenset[int] = frozenset()
    final_merge_started: bool = False
    flagged: bool = False  # already flagged "with issues" (do not repeat)
    # an operator asked for the final merge of what succeeded (trains.request_final_merge)
    final_merge_requested: bool = False


@dataclass(frozen=True)
class Snapshot:
    """Everything the core decides on. ``engine_keys`` are the work items the engine knows
    (running or queued there): ``("job", id)``, ``("wagon_test", id)``, ``("train_test", id)``;
    anything the database says runs but the engine does not know was lost."""

    now: datetime
    tests: tuple[TestView, ...] = ()
    trains: tuple[TrainView, ...] = ()
    targets: Mapping[str, Target] = field(default_factory=dict)
    engine_keys: frozenset[tuple[str, int]] = frozenset()
    last_stale_clean: datetime | None = None
    compose: tuple[ComposeView, ...] = ()  # datasets with automatic composition on
    long_trains: tuple[LongTrainView, ...] = ()
    pr_tags: Mapping[str, int] = field(default_factory=dict)  # awaited PR -> first tag with it
    unsent_mail: int = 0  # e-mails queued and not yet sent


@dataclass(frozen=True)
class SchedulerConfig:
    """Policy knobs (from settings: ``scheduler.service.scheduler_config``; the defaults here
    equal the settings' defaults)."""

    max_attempts: int = 3
    express_fraction: float = 0.98  # express trains finish once this fraction of jobs is done
    max_running_tests: int = 4
    thresholds: Thresholds = Thresholds()
    stale_clean_every: timedelta = timedelta(days=1)
    compose_catch_up: timedelta = timedelta(hours=1)  # first run: slots this recent still fire
    long_train_expiry: timedelta = timedelta(days=14)  # undecided requests are then closed


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class TestFinished:
    """A wagon or train test ended on the engine. ``error`` set: it crashed (💣)."""

    __test__ = False

    kind: TestKind
    id: int
    error: str = ""
    summary: Mapping[str, Any] = field(default_factory=dict)  # metrics_summary.json
    facts: SampleFacts = SampleFacts()
    dataset: DatasetSize = DatasetSize(bytes=0.0, files=0)


@dataclass(frozen=True)
class JobFinished:
    """One attempt of a job ended; ``error_kind`` is one of hyperloop.grid ERROR_KINDS
    (execution, input, validation, memory, expired, lost, system) or "" when it validated."""

    job_id: int
    attempt: int
    error_kind: str = ""
    message: str = ""
    signature: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    site: str = ""
    bytes_read: int = 0  # compressed input bytes the attempt read


@dataclass(frozen=True)
class JobStarted:
    """The job's current attempt began on a worker (it was queued in the engine before)."""

    job_id: int
    site: str


@dataclass(frozen=True)
class JobNotStarted:
    """A job the database says runs, whose current attempt never began on a worker (no
    attempt folder: it was only queued in an engine that is gone, e.g. a restart)."""

    job_id: int
    reason: str


@dataclass(frozen=True)
class RunMerged:
    train_id: int
    run: int


@dataclass(frozen=True)
class FinalMerged:
    train_id: int
    error: str = ""


@dataclass(frozen=True)
class RunMergeFailed:
    """A run's merge failed (e.g. an output it reads cannot be found in the storage)."""

    train_id: int
    run: int
    error: str = ""


@dataclass(frozen=True)
class SplitFailed:
    """The train could not be split into jobs (e.g. a catalogue file outside the storage
    roots); ``error`` names the file."""

    train_id: int
    error: str


Event = (
    TestFinished
    | JobFinished
    | JobStarted
    | JobNotStarted
    | RunMerged
    | RunMergeFailed
    | FinalMerged
    | SplitFailed
)

# --------------------------------------------------------------------------- instructions

# Instructions that move a job, test or train carry the one sentence the decision was made
# for (``why``, or ``reason`` where it was there before), recorded as the cause of the moves
# (``core.story``, through ``scheduler.causes``). ``why`` is not compared: tests assert the
# decisions; the sentences are asserted in the stories.


@dataclass(frozen=True)
class StartWagonTest:
    test_id: int
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class FinishWagonTest:
    test_id: int
    status: TestStatus
    warnings: tuple[dict[str, Any], ...] = ()
    expected: Expected | None = None
    error: str = ""
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class StartTrainTest:
    train_id: int
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class FinishTrainTest:
    train_id: int
    status: TestStatus
    warnings: tuple[dict[str, Any], ...] = ()
    expected: Expected | None = None
    error: str = ""
    why: str = field(default="", compare=False)  # see above: the reason, not compared
    # the test's per-device figures (core.sharing.compact_devices): what sharing saved
    devices: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AutoSubmit:
    train_id: int
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class SplitTrain:
    train_id: int
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class SubmitJob:
    job_id: int
    target: str
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class FinishJob:
    """Record an attempt's verdict on the job (done or an error state)."""

    job_id: int
    state: JobState
    message: str = ""
    signature: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    site: str = ""
    bytes_read: int = 0
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class ResubmitJob:
    job_id: int
    target: str
    reason: str


@dataclass(frozen=True)
class MarkLost:
    """The database says running, the engine does not know it: record it as lost."""

    kind: Literal["job", "wagon_test", "train_test"]
    id: int
    reason: str


@dataclass(frozen=True)
class RequeueLost:
    kind: Literal["job", "wagon_test", "train_test"]
    id: int
    reason: str
    target: str = ""  # jobs: where the new attempt runs


@dataclass(frozen=True)
class MarkStarted:
    """Record where a running job's attempt began (``site``): running, no longer queued."""

    job_id: int
    site: str


@dataclass(frozen=True)
class ReturnToQueue:
    """Back to waiting without using an attempt: its attempt never began (JobNotStarted)."""

    job_id: int
    reason: str


@dataclass(frozen=True)
class StartRunMerge:
    train_id: int
    run: int


@dataclass(frozen=True)
class StartFinalMerge:
    train_id: int
    runs: tuple[int, ...]
    missing_runs: tuple[int, ...] = ()
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class MarkTrainDone:
    train_id: int
    why: str = field(default="", compare=False)  # see above: the reason, not compared


@dataclass(frozen=True)
class FlagTrainWithIssues:
    train_id: int
    why: str


@dataclass(frozen=True)
class CleanStaleTests:
    """Disable enablings not composed within 4 weeks (enabling.clean_stale_tests)."""

    now: datetime


Instruction = (
    StartWagonTest
    | FinishWagonTest
    | StartTrainTest
    | FinishTrainTest
    | AutoSubmit
    | SplitTrain
    | SubmitJob
    | FinishJob
    | ResubmitJob
    | MarkLost
    | RequeueLost
    | ReturnToQueue
    | MarkStarted
    | StartRunMerge
    | StartFinalMerge
    | MarkTrainDone
    | FlagTrainWithIssues
    | Notify
    | CleanStaleTests
    | ComposeTrain
    | RecordComposeSlot
    | SubmitRequested
    | AssignTestTag
    | ExpireLongTrain
    | DeliverMail
)

# --------------------------------------------------------------------------- decisions

_ERROR_STATE = {
    "execution": JobState.EXECUTION_ERROR,
    "input": JobState.EXECUTION_ERROR,
    "system": JobState.EXECUTION_ERROR,
    "memory": JobState.EXECUTION_ERROR,
    "validation": JobState.VALIDATION_ERROR,
    "expired": JobState.EXPIRED,
    "lost": JobState.LOST,
}
ISSUE_FAILED_FRACTION = 0.30
#: error kinds an automatic retry cannot cure: the same input gives the same error
NOT_RETRIED = frozenset({"input"})


def assess(event: TestFinished, t: Thresholds) -> tuple[TestStatus, tuple, Expected | None, str]:
    """Status of a finished test: failed when it crashed (or its metrics are unusable),
    warning when the assessment raises any warning, done otherwise."""
    if event.error:
        return TestStatus.FAILED, (), None, event.error
    try:
        expected, warnings = evaluate(event.summary, event.facts, event.dataset, t)
    except (ValueError, KeyError, TypeError) as exc:
        return TestStatus.FAILED, (), None, f"{event.kind} test {event.id}: {exc}"
    status = TestStatus.WARNING if warnings else TestStatus.DONE
    return status, tuple(w.to_json() for w in warnings), expected, ""


def _tests(snap: Snapshot, events: Sequence[Event], cfg: SchedulerConfig) -> list[Instruction]:
    out: list[Instruction] = []
    finished = {e.id for e in events if isinstance(e, TestFinished) and e.kind == "wagon"}
    for e in events:
        if isinstance(e, TestFinished) and e.kind == "wagon":
            status, warnings, expected, error = assess(e, cfg.thresholds)
            why = f"wagon test {status.value}" + (f": {error}" if error else "")
            out.append(FinishWagonTest(e.id, status, warnings, expected, error, why=why))
            # a failed test's notification is part of enabling.finish_test (FinishWagonTest)
            if status is TestStatus.WARNING:
                codes = ", ".join(str(w.get("code", "?")) for w in warnings)
                message = f"wagon test {e.id} ended with warnings: {codes}"
                out.append(Notify(NotificationKind.TEST_WARNING.value, message, "wagon_test", e.id))
    running = 0
    for t in snap.tests:
        if t.status is TestStatus.RUNNING and t.id not in finished:
            if ("wagon_test", t.id) not in snap.engine_keys:
                reason = f"wagon test {t.id} was running but the engine does not know it"
                out.append(RequeueLost("wagon_test", t.id, reason))
            else:
                running += 1
    waiting = [(t.id, t.pull_request) for t in snap.tests if t.tagless and t.pull_request]
    assigned = cycles.pull_request_tags(waiting, snap.pr_tags)
    out += assigned
    tagged = {i.test_id for i in assigned if isinstance(i, AssignTestTag)}
    for t in sorted(snap.tests, key=lambda t: t.id):
        if t.tagless and t.id not in tagged:
            continue  # nothing to run it with yet
        if t.status is TestStatus.QUEUED and running < cfg.max_running_tests:
            why = f"a test slot was free ({running} of {cfg.max_running_tests} running)"
            out.append(StartWagonTest(t.id, why=why))
            running += 1
    return out


def _retry(
    job: JobView, error_kind: str, attempt: int, snap: Snapshot, cfg: SchedulerConfig
) -> ResubmitJob | None:
    """Resubmit below ``max_attempts`` (a memory kill on a target with more memory); never
    for an input error (a truncated file stays truncated: an operator resubmits)."""
    if attempt >= cfg.max_attempts or error_kind in NOT_RETRIED:
        return None
    reason = f"automatic retry after {error_kind} in attempt {attempt}"
    target = job.target
    current = snap.targets.get(job.target)
    if error_kind == "memory" and current is not None:
        bigger = pick_target_with_more_memory(snap.targets, current)
        if bigger is not None:
            target = bigger.name
            reason += (
                f", on target {bigger.name} with more memory per job "
                f"({bigger.memory_limit_bytes / 1e6:.0f} MB instead of "
                f"{current.memory_limit_bytes / 1e6:.0f} MB)"
            )
        else:
            reason += f", same target {current.name} (no target has more memory per job)"
    return ResubmitJob(job.id, target, reason)


def _train_jobs(
    train: TrainView, snap: Snapshot, events: Sequence[Event], cfg: SchedulerConfig
) -> tuple[list[Instruction], dict[int, JobState]]:
    """Job verdicts, retries, reconciliation and submissions; returns the jobs' states
    after the instructions (what the merge decisions look at)."""
    out: list[Instruction] = []
    results = {e.job_id: e for e in events if isinstance(e, JobFinished)}
    unstarted = {e.job_id: e for e in events if isinstance(e, JobNotStarted)}
    began = {e.job_id: e.site for e in events if isinstance(e, JobStarted)}
    state: dict[int, JobState] = {}
    hold = train.final_merge_requested  # no new attempt once the operator merges what is done
    for job in train.jobs:
        st = job.state
        res = results.get(job.id)
        if job.id in unstarted and st is JobState.RUNNING and res is None:
            out.append(ReturnToQueue(job.id, unstarted[job.id].reason))
            st = JobState.WAITING  # submitted again at the next step
        elif job.id in began and st is JobState.RUNNING and res is None:
            out.append(MarkStarted(job.id, began[job.id]))
        elif res is not None and st is JobState.RUNNING:
            st = _ERROR_STATE[res.error_kind] if res.error_kind else JobState.DONE
            where = f" on {res.site}" if res.site else ""
            why = (
                f"attempt {res.attempt} validated{where}"
                if st is JobState.DONE
                else f"attempt {res.attempt} failed{where} ({res.error_kind}): {res.message[:300]}"
            )
            out.append(
                FinishJob(
                    job.id,
                    st,
                    res.message,
                    res.signature,
                    res.cpu_s,
                    res.wall_s,
                    res.site,
                    res.bytes_read,
                    why,
                )
            )
            if st is not JobState.DONE and not hold:
                # the database's counter: an attempt whose future raised counts too
                attempt = max(res.attempt, job.attempts)
                retry = _retry(job, res.error_kind, attempt, snap, cfg)
                if retry is not None:
                    out.append(retry)
                    st = JobState.WAITING
        elif st is JobState.RUNNING and ("job", job.id) not in snap.engine_keys:
            why = f"job {job.id} was running but the engine does not know it (restart?)"
            out.append(MarkLost("job", job.id, why))
            st = JobState.LOST
            if job.attempts < cfg.max_attempts and not hold:
                out.append(RequeueLost("job", job.id, why, job.target))
                st = JobState.WAITING
        elif st is JobState.WAITING and ("job", job.id) not in snap.engine_keys and not hold:
            why = f"waiting: attempt {job.attempts + 1} submitted on target {job.target}"
            out.append(SubmitJob(job.id, job.target, why=why))
        state[job.id] = st
    return out, state


def _merges(train: TrainView, state: Mapping[int, JobState], cfg: SchedulerConfig) -> list:
    """Per-run merges as soon as a run's jobs are all done; the final merge when every job
    is done (slow) or enough are (express), or at once when an operator requested it;
    flags trains that cannot finish by themselves.

    An operator's final merge takes the runs whose jobs are all done (after their per-run
    merges) and lists every other run as missing. Jobs still waiting are not submitted,
    failed ones not retried (``_train_jobs``); running ones are ignored: their runs are
    missing and the shell stops them when the final merge starts."""
    out: list[Instruction] = []
    runs: dict[int, list[JobState]] = {}
    for job in train.jobs:
        runs.setdefault(job.run, []).append(state[job.id])
    complete = sorted(
        r
        for r, sts in runs.items()
        if all(s is JobState.DONE for s in sts) and r not in train.runs_merge_failed
    )
    for run in complete:
        if run not in train.runs_merged and run not in train.runs_merging:
            out.append(StartRunMerge(train.id, run))
    total = len(state)
    done = sum(1 for s in state.values() if s is JobState.DONE)
    active = (JobState.DONE, JobState.WAITING, JobState.RUNNING)
    failed = sum(1 for s in state.values() if s not in active)
    all_final = all(s not in (JobState.WAITING, JobState.RUNNING) for s in state.values())
    requested = train.final_merge_requested
    finish = done == total or (not train.slow and done >= cfg.express_fraction * total)
    if (finish or requested) and not train.final_merge_started:
        if train.runs_merge_failed and not requested:
            pass  # a run's merge failed (the train is flagged): only an operator merges now
        elif requested and not complete:
            if not train.flagged:
                why = "final merge requested but no run has all its jobs done"
                out.append(FlagTrainWithIssues(train.id, why))
                out.append(
                    Notify("train_issues", f"train {train.id}: {why}", "train_run", train.id)
                )
        elif all(r in train.runs_merged for r in complete):
            missing = tuple(sorted(set(runs) - set(complete)))
            why = (
                "final merge requested by an operator"
                if requested
                else f"{done} of {total} jobs done, every complete run merged"
            )
            out.append(StartFinalMerge(train.id, tuple(complete), missing, why=why))
    elif not finish and not train.flagged and total:
        why = ""
        if failed / total > ISSUE_FAILED_FRACTION:
            why = f"{failed} of {total} jobs failed"
        elif all_final:
            why = f"{failed} of {total} jobs failed after all retries; operator final merge needed"
        if why:
            out.append(FlagTrainWithIssues(train.id, why))
            out.append(Notify("train_issues", f"train {train.id}: {why}", "train_run", train.id))
    return out


def _train(
    train: TrainView, snap: Snapshot, events: Sequence[Event], cfg: SchedulerConfig
) -> list[Instruction]:
    out: list[Instruction] = []
    st = train.state
    if st is TrainState.COMPOSED:
        return [StartTrainTest(train.id, why="train composed: its test starts")]
    if st is TrainState.TESTING:
        result = next(
            (
                e
                for e in events
                if isinstance(e, TestFinished) and e.kind == "train" and e.id == train.id
            ),
            None,
        )
        if result is None:
            if ("train_test", train.id) not in snap.engine_keys:
                why = f"train test {train.id} was running but the engine does not know it"
                return [RequeueLost("train_test", train.id, why)]
            return []
        status, warnings, expected, error = assess(result, cfg.thresholds)
        why = f"train test {status.value}" + (f": {error}" if error else "")
        devices = compact_devices(result.summary) if isinstance(result.summary, Mapping) else {}
        out.append(
            FinishTrainTest(train.id, status, warnings, expected, error, why=why, devices=devices)
        )
        if status is TestStatus.DONE and train.auto_submit:
            out.append(AutoSubmit(train.id, why="automatic submission after a done test"))
        elif status is TestStatus.FAILED:
            message = f"train {train.id}: train test failed: {error}"
            kind = NotificationKind.TRAIN_TEST_FAILED.value
            out.append(Notify(kind, message, "train_run", train.id))
        elif status is TestStatus.WARNING:
            codes = ", ".join(str(w.get("code", "?")) for w in warnings)
            message = (
                f"train {train.id}: train test ended with warnings ({codes}); an operator decides"
            )
            kind = NotificationKind.TRAIN_TEST_WARNING.value
            out.append(Notify(kind, message, "train_run", train.id))
        return out
    if st is TrainState.TEST_DONE and train.auto_submit:
        return [AutoSubmit(train.id, why="automatic submission after a done test")]
    if st in (TrainState.SUBMITTED, TrainState.RUNNING):
        if not train.split:
            failed = next(
                (e for e in events if isinstance(e, SplitFailed) and e.train_id == train.id), None
            )
            if failed is not None:
                why = f"cannot be split into jobs: {failed.error}"
                return [
                    FlagTrainWithIssues(train.id, why),
                    Notify("train_issues", f"train {train.id}: {why}", "train_run", train.id),
                ]
            if train.flagged:
                return []  # its split failed: an operator kills it, fixes the dataset
            return [SplitTrain(train.id, why="submitted: split into jobs")]
        jobs_out, state = _train_jobs(train, snap, events, cfg)
        failed = [e for e in events if isinstance(e, RunMergeFailed) and e.train_id == train.id]
        if failed and not train.flagged:  # one flag for the runs of this step, grouped
            runs = ", ".join(str(e.run) for e in failed)
            why = f"merge of run(s) {runs} failed: {failed[0].error[:300]}"
            jobs_out += [
                FlagTrainWithIssues(train.id, why),
                Notify("train_issues", f"train {train.id}: {why}", "train_run", train.id),
            ]
            train = replace(train, flagged=True)
        merged = set(train.runs_merged)
        merged |= {e.run for e in events if isinstance(e, RunMerged) and e.train_id == train.id}
        view = _replace_merged(train, merged)
        return jobs_out + _merges(view, state, cfg)
    if st is TrainState.MERGING:
        for e in events:
            if isinstance(e, FinalMerged) and e.train_id == train.id:
                if e.error:
                    why = f"final merge failed: {e.error}"
                    return [
                        FlagTrainWithIssues(train.id, why),
                        Notify("train_issues", f"train {train.id}: {why}", "train_run", train.id),
                    ]
                return [
                    MarkTrainDone(train.id, why="final merge finished"),
                    Notify("train_done", f"train {train.id} is done", "train_run", train.id),
                ]
        if train.flagged:
            return []  # the final merge failed: the operator decides
        # merging without a final-merge result: this scheduler restarted during the final
        # merge; merge the runs again (from the validated attempts) and redo it
        state = {j.id: j.state for j in train.jobs}
        return _merges(replace(train, final_merge_started=False), state, cfg)
    return out


def _replace_merged(train: TrainView, merged: Iterable[int]) -> TrainView:
    m = frozenset(merged)
    return replace(train, runs_merged=m, runs_merging=train.runs_merging - m)


def decide(
    snap: Snapshot, events: Sequence[Event] = (), cfg: SchedulerConfig = SchedulerConfig()
) -> list[Instruction]:
    """Every instruction that advances the world one step, in the order to perform them."""
    out = _tests(snap, events, cfg)
    for train in sorted(snap.trains, key=lambda t: t.id):
        out += _train(train, snap, events, cfg)
    out += cycles.compose(snap.compose, snap.now, cfg.compose_catch_up)
    out += cycles.long_trains(snap.long_trains, snap.now, cfg.long_train_expiry)
    last = snap.last_stale_clean
    if last is None or snap.now - last >= cfg.stale_clean_every:
        out.append(CleanStaleTests(snap.now))
    if snap.unsent_mail:
        out.append(DeliverMail())
    return out
