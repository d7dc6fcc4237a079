"""The scheduler logs one line per decision, ``key=value`` with the ids it is about (what
an operator greps for: ``job_id=12``, ``train_id=3``), the tick and the decision's sentence."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from hyperloop.scheduler import causes, decide

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(line))


def test_each_decision_is_one_line_with_its_ids_and_why():
    retry = decide.ResubmitJob(12, "small", "automatic retry after lost in attempt 1")
    line = causes.decision_line(retry, causes.cause_of(retry, NOW))
    assert "\n" not in line
    assert fields(line) == {
        "tick": f"tick-{int(NOW.timestamp())}",
        "decision": "ResubmitJob",
        "job_id": "12",
        "target": "small",
        "cause": causes.cause_of(retry, NOW).kind,
        "why": "automatic retry after lost in attempt 1",
    }

    final = decide.StartFinalMerge(3, (101, 102), (103,), why="2 of 3 jobs done")
    got = fields(causes.decision_line(final, causes.cause_of(final, NOW)))
    assert (got["decision"], got["train_id"], got["runs"]) == ("StartFinalMerge", "3", "101,102")

    merge = decide.StartRunMerge(3, 101)
    got = fields(causes.decision_line(merge, causes.cause_of(merge, NOW)))
    assert (got["train_id"], got["run"]) == ("3", "101")


def test_a_long_sentence_is_cut_so_a_line_stays_short():
    flag = decide.FlagTrainWithIssues(3, "x " * 1000)
    line = causes.decision_line(flag, causes.cause_of(flag, NOW))
    assert len(line) < 450 and fields(line)["train_id"] == "3"
