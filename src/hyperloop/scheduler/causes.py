"""The cause of each move the scheduler performs: the tick that decided it (the stimulus
id ``tick-<unix time of the tick>``), a short kind named after the decision, and the
decision's own sentence (``why`` / ``reason`` of the instruction, ``scheduler.decide``)."""

from __future__ import annotations

from datetime import datetime

from hyperloop.core.story import Cause
from hyperloop.enums import JobState
from hyperloop.scheduler import decide


def stimulus(now: datetime) -> str:
    """The stimulus id of the tick at ``now``: every move it decides shares it."""
    return f"tick-{int(now.timestamp())}"


def _job_finished(ins: decide.FinishJob) -> tuple[str, str]:
    if ins.state is JobState.DONE:
        return "job-done", "attempt validated"
    return "job-failed", f"attempt failed: {ins.state.value}: {ins.message[:300]}"


def cause_of(ins: decide.Instruction, now: datetime) -> Cause:
    """The cause the moves of ``ins`` are recorded with (any instruction: those that move
    nothing get a generic one)."""
    kind, default = "decision", type(ins).__name__
    match ins:
        case decide.StartWagonTest() | decide.StartTrainTest():
            kind, default = "test-started", "test started"
        case decide.FinishWagonTest() | decide.FinishTrainTest():
            kind, default = f"test-{ins.status.value}", f"test {ins.status.value}"
        case decide.AutoSubmit():
            kind, default = "auto-submit", "automatic submission after a done test"
        case decide.SubmitRequested():
            kind, default = "scheduled-submit", "submitted at the dataset's submission time"
        case decide.SplitTrain():
            kind, default = "split", "submitted: split into jobs"
        case decide.SubmitJob():
            kind, default = "job-submitted", f"submitted on target {ins.target}"
        case decide.FinishJob():
            kind, default = _job_finished(ins)
        case decide.ResubmitJob():
            kind, default = "retry", ins.reason
        case decide.MarkLost():
            kind, default = "lost", ins.reason
        case decide.RequeueLost():
            kind, default = "lost-requeue", ins.reason
        case decide.ReturnToQueue():
            kind, default = "not-started", ins.reason
        case decide.StartFinalMerge():
            kind, default = "final-merge", "final merge started"
        case decide.MarkTrainDone():
            kind, default = "merged", "final merge finished"
        case decide.ExpireLongTrain():
            kind, default = "expired", ins.why
    why = getattr(ins, "why", "") or default
    return Cause(stimulus(now), kind, why)


#: what an instruction is about, in the order the decision line names it
_ID_FIELDS = ("train_id", "job_id", "test_id", "dataset_id", "id", "run", "target", "kind")


def decision_line(ins: decide.Instruction, cause: Cause) -> str:
    """One line per decision for the scheduler's log, ``key=value`` (values with spaces
    quoted): the tick, the decision, the ids it is about, its sentence. E.g.
    ``tick=tick-1765000000 decision=ResubmitJob job_id=12 target=small kind=retry
    why="automatic retry after lost in attempt 1"``."""
    import dataclasses
    import json

    parts = [f"tick={cause.stimulus}", f"decision={type(ins).__name__}"]
    values = {f.name: getattr(ins, f.name) for f in dataclasses.fields(ins)}  # type: ignore[arg-type]
    for name in _ID_FIELDS:
        value = values.get(name)
        if isinstance(value, bool) or value is None or value == "":
            continue
        if isinstance(value, int | str):
            text = str(value)
            parts.append(f"{name}={json.dumps(text) if ' ' in text else text}")
    runs = values.get("runs")
    if isinstance(runs, tuple) and runs:
        parts.append(f"runs={','.join(str(r) for r in runs)}")
    parts.append(f"cause={cause.kind}")
    why = cause.text if len(cause.text) <= 300 else cause.text[:300] + "..."
    parts.append(f"why={json.dumps(why)}")
    return " ".join(parts)
