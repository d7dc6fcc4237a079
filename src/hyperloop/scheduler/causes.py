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
