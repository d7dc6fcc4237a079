"""Writing a task as an O2Physics user does: process switches, names checked at plan time,
failures reported per file (issue 19, "Defects met on the way")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperloop.analysis.plan import PlanError, build_plan, check_dataset_type
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


def _plan(*tasks: type[Task], configuration: dict | None = None):
    package = package_from_workflows([Workflow("wf", tasks)])
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [{"workflow_name": "wf", "configuration": configuration or {}}],
        }
    )
    return build_plan(spec, package)


class DataAndMc(Task):
    """process() first, then an MC switch: the O2Physics order."""

    name = "data-and-mc"

    def init(self) -> None:
        self.histos.add("hZ", "vertex;z (cm)", [(10, -20, 20)])
        if self.processMc:  # the switch's value, as O2's doprocessMc
            self.histos.add("hMcZ", "generated vertex;z (cm)", [(10, -20, 20)])

    @process(UDCollisions=["fPosZ"])
    def process(self, df) -> None:
        self.histos["hZ"].fill(df.table("UDCollisions")["fPosZ"])

    @process(McCollisions=["fPosZ"], default=False)
    def processMc(self, df) -> None:
        self.histos["hMcZ"].fill(df.table("McCollisions")["fPosZ"])


def test_process_and_a_later_process_switch_load_in_either_order():
    assert list(DataAndMc.processes()) == ["process", "processMc"]

    class SwitchFirst(Task):
        @process(McCollisions=["fPosZ"], default=False)
        def processMc(self, df) -> None:
            pass

        @process(UDCollisions=["fPosZ"])
        def process(self, df) -> None:
            pass

    assert set(SwitchFirst.processes()) == {"process", "processMc"}
    assert list(SwitchFirst.configurables()) == ["processMc"]


def test_reading_a_process_switch_gives_its_bool():
    off, on = DataAndMc(), DataAndMc({"processMc": True})
    assert off.processMc is False and off.doprocessMc is False
    assert on.processMc is True and on.doprocessMc is True
    off.init()
    on.init()
    assert off.histos.names() == ["hZ"]  # no empty MC histogram booked for real data
    assert on.histos.names() == ["hZ", "hMcZ"]
    assert [s.name for s in on.enabled_processes()] == ["process", "processMc"]


def test_a_subclass_overrides_a_process_switch_and_keeps_the_switch():
    seen = []

    class Override(DataAndMc):
        @process(McCollisions=["fPosX"])
        def processMc(self, df) -> None:
            seen.append("override")

    task = Override()
    assert task.processMc is True  # the override's default
    assert task.reads()["McCollisions"] == {"fPosX"}
    task._process_funcs["processMc"](task, None)
    assert seen == ["override"]

    class Plain(DataAndMc):  # overridden without @process: the base's declaration stays
        def processMc(self, df) -> None:
            seen.append("plain")

    plain = Plain({"processMc": True})
    assert plain.processMc is True and plain.reads()["McCollisions"] == {"fPosZ"}
    plain._process_funcs["processMc"](plain, None)
    assert seen == ["override", "plain"]


def test_a_misspelt_table_in_a_process_function_is_a_plan_error_with_a_suggestion():
    class Typo(Task):
        @process(Tracks=["pt"])
        def process(self, df) -> None:
            df.table("Trakcs")

    with pytest.raises(
        PlanError,
        match=r"task typo, process \(.*:\d+\): unknown table 'Trakcs'; "
        r"did you mean 'Tracks'\?",
    ):
        _plan(Typo)


def test_a_misspelt_column_is_a_plan_error_with_a_suggestion():
    class ColumnTypo(Task):
        @process(Tracks=["pt"])
        def process(self, df) -> None:
            tracks = df.table("Tracks")
            tracks["ptt"]

    with pytest.raises(
        PlanError, match=r"column-typo, process .*'ptt' of Tracks.*did you mean 'pt'"
    ):
        _plan(ColumnTypo)

    class DeclaredTypo(Task):
        @process(Trakcs=["pt"])
        def process(self, df) -> None:
            pass

    with pytest.raises(PlanError, match=r"declares table 'Trakcs'.*did you mean 'Tracks'"):
        _plan(DeclaredTypo)

    class Joined(Task):  # columns of joined tables and reassigned names are not flagged
        @process(Tracks=["pt"], TracksExtra=["fTPCSignal"])
        def process(self, df) -> None:
            tracks = df.table("Tracks").join("TracksExtra")
            tracks["fTPCSignal"]
            other = df.table("Tracks")
            other = other.select(np.ones(len(other), bool))
            other["anything"]

    _plan(Joined)


def test_mc_switch_on_real_data_names_task_and_switch():
    plan = _plan(DataAndMc, configuration={"data-and-mc": {"processMc": "true"}})
    with pytest.raises(PlanError) as err:
        check_dataset_type(plan, is_mc=False, what="input AO2D.root")
    message = str(err.value)
    assert "task data-and-mc" in message and "processMc" in message
    assert "McCollisions" in message and '"processMc": "false"' in message
    check_dataset_type(plan, is_mc=True, what="input AO2D.root")
    check_dataset_type(_plan(DataAndMc), is_mc=False, what="input AO2D.root")


class Fails(Task):
    name = "fails"

    @process(UDCollisions=["fPosZ"])
    def process(self, df) -> None:
        raise ValueError("negative vertex")


@pytest.mark.parametrize("cores", [1, 2])
def test_a_failed_run_marks_its_files_failed_with_the_reason(tmp_path, realdata, cores):
    plan = _plan(Fails)
    lines: list[str] = []
    ao2d = str(realdata / "AO2D_ud_rho_run3.root")
    result = run_train(plan, [ao2d], tmp_path / "out", cores=cores, progress=lines.append)
    assert result.exit_code == 3
    assert not any(line.startswith("ok ") for line in lines), lines
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    (rec,) = report["files"]
    assert rec["ok"] is False and rec["error_type"] == "TaskFailure"
    assert "task fails failed on DF_" in rec["message"] and "negative vertex" in rec["message"]
    assert "ValueError: negative vertex" in report["task_failure"]["error"]


def test_a_table_missing_at_run_time_names_the_task(tmp_path, realdata):
    plan = _plan(DataAndMc, configuration={"data-and-mc": {"processMc": "true"}})
    ao2d = str(realdata / "AO2D_ud_rho_run3.root")
    result = run_train(plan, [ao2d], tmp_path / "out")
    (rec,) = result.files
    assert not rec.ok and "has no table O2mccollision_001" in rec.message
    assert "read by task data-and-mc (processMc)" in rec.message  # names task and switch
