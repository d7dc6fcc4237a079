"""The shell advances the slower life cycles on a real database (both backends): automatic
composition at a dataset's slot (once, also across a restart), scheduled derived-data
wagons, a wagon waiting for a pull request's tag, long-train decisions, trains with issues,
and the e-mails they cause, delivered as ``.eml`` files with the right recipients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.factories import introspection, make_world, pr_introspection
from tests.story_cause import BY_TEST

from hyperloop.core import analyses, datasets, enabling, pull_requests, tags, trains, wagons
from hyperloop.core.errors import ValidationError
from hyperloop.core.full_config import build_full_config
from hyperloop.core.jobs import JobSpec, add_jobs, set_job_state
from hyperloop.db.models import (
    Job,
    Notification,
    PackageTag,
    TrainRun,
    WagonDataset,
    WagonTest,
)
from hyperloop.enums import EmailPolicy, JobState, TestStatus, TrainState, TrainType
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig

MONDAY_0900 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def make_shell(sessions, tmp_path: Path) -> SchedulerShell:
    """A shell without an engine: no test starts (max_running_tests=0), nothing is cleaned."""
    config = ShellConfig(
        work_dir=tmp_path / "work",
        targets={"2core": Target("2core")},
        test_target="2core",
        core=decide.SchedulerConfig(max_running_tests=0),
    )
    shell = SchedulerShell(sessions, engine=None, config=config)  # type: ignore[arg-type]
    shell.last_stale_clean = datetime(2100, 1, 1, tzinfo=UTC)
    return shell


def mails(tmp_path: Path) -> list:
    folder = tmp_path / "work" / "mail"
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def usernames(s, kind: str) -> list[str]:
    from hyperloop.db.models import User

    rows = s.execute(
        select(User.username)
        .join(Notification, Notification.user_id == User.id)
        .where(Notification.kind == kind)
    )
    return sorted(r for (r,) in rows)


def clean_wagon(w, name, **kw):
    wagon = wagons.create_wagon(
        w.s,
        w.actor(w.alice),
        w.lf.id,
        name=name,
        workflow=kw.pop("workflow", "spectra-charged"),
        **kw,
    )
    enabling.enable_wagon(w.s, w.actor(w.alice), wagon.id, w.dataset.id)
    test = enabling.current_test(w.s, wagon.id, w.dataset.id)
    enabling.finish_test(w.s, test.id, TestStatus.DONE, metrics={"pss_avg_bytes": 1e9})
    return wagon


# ---------------------------------------------------------------- automatic composition


def test_the_slot_composes_clean_and_scheduled_derived_wagons_once_even_after_a_restart(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        datasets.edit_dataset(
            s,
            w.actor(w.operator),
            w.dataset.id,
            expected_version=w.dataset.version,
            auto_compose=True,
            auto_compose_type="scheduled",
            auto_compose_days=[0],
            auto_compose_times=["08:30"],
        )
        plain = clean_wagon(w, "spectra").id
        derived = clean_wagon(w, "trees", workflow="tree-maker", derived_tables=["MyTracks"]).id
        clean_wagon(w, "unscheduled", workflow="tree-maker", derived_tables=["MyTracks"])
        enabling.schedule_wagon(s, w.actor(w.operator), derived, w.dataset.id)
        ds_id = w.dataset.id
    shell = make_shell(db_sessionmaker, tmp_path)
    assert shell.tick(MONDAY_0900 - timedelta(hours=1)).instructions == []  # before the slot
    tick = shell.tick(MONDAY_0900)
    assert tick.unperformed == []
    composed = [i for i in tick.instructions if isinstance(i, decide.ComposeTrain)]
    assert [(i.wagon_ids, i.train_type) for i in composed] == [
        ((plain,), TrainType.ANALYSIS),
        ((derived,), TrainType.STANDARD_DERIVED),
    ]
    with db_sessionmaker() as s:
        made = s.scalars(select(TrainRun).order_by(TrainRun.id)).all()
        assert [(t.train_type, t.auto_submit, t.composed_by_id) for t in made] == [
            (TrainType.ANALYSIS, True, None),
            (TrainType.STANDARD_DERIVED, False, None),  # the operator did not ask for it
        ]
        row = s.scalars(select(WagonDataset).where(WagonDataset.wagon_id == derived)).one()
        assert row.scheduled is False  # the slot took it
        # the analysis members hear about it
        assert usernames(s, "train_composed") == ["alice", "alice", "carol", "carol"]
    # the same slot never fires again, in this process or in a restarted one
    later = shell.tick(MONDAY_0900 + timedelta(minutes=5))
    assert not [i for i in later.instructions if isinstance(i, decide.ComposeTrain)]
    restarted = make_shell(db_sessionmaker, tmp_path)
    again = restarted.tick(MONDAY_0900 + timedelta(minutes=10))
    assert not [
        i
        for i in again.instructions
        if isinstance(i, decide.ComposeTrain | decide.RecordComposeSlot)
    ]
    with db_sessionmaker() as s:
        assert len(s.scalars(select(TrainRun).where(TrainRun.dataset_id == ds_id)).all()) == 2


def test_scheduled_linked_wagons_run_alone_and_standard_ones_share_the_chosen_settings(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        datasets.edit_dataset(
            s,
            w.actor(w.operator),
            w.dataset.id,
            expected_version=w.dataset.version,
            auto_compose=True,
            auto_compose_type="scheduled",
            auto_compose_days=[0],
            auto_compose_times=["08:30"],
        )
        op = w.actor(w.operator)
        made = {}
        for name in ("trees_a", "trees_b", "linked_c", "linked_d"):
            wagon = clean_wagon(w, name, workflow="tree-maker", derived_tables=["MyTracks"])
            made[name] = wagon.id
        for name in ("trees_a", "trees_b"):
            enabling.schedule_wagon(s, op, made[name], w.dataset.id, slow=True, auto_submit=True)
        for name in ("linked_c", "linked_d"):
            enabling.schedule_wagon(s, op, made[name], w.dataset.id, train_type="linked_derived")
    shell = make_shell(db_sessionmaker, tmp_path)
    tick = shell.tick(MONDAY_0900)
    assert tick.unperformed == []
    with db_sessionmaker() as s:
        got = [
            (sorted(x["wagon_id"] for x in t.wagons_snapshot), t.train_type, t.slow, t.auto_submit)
            for t in s.scalars(select(TrainRun).order_by(TrainRun.id))
        ]
    assert got == [
        (sorted([made["trees_a"], made["trees_b"]]), TrainType.STANDARD_DERIVED, True, True),
        ([made["linked_c"]], TrainType.LINKED_DERIVED, False, False),
        ([made["linked_d"]], TrainType.LINKED_DERIVED, False, False),
    ]


def test_a_train_full_dataset_composes_when_the_wagons_fill_the_target(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        datasets.edit_dataset(
            s,
            w.actor(w.operator),
            w.dataset.id,
            expected_version=w.dataset.version,
            auto_compose=True,
            auto_compose_type="train_full",
        )
        clean_wagon(w, "small")
    shell = make_shell(db_sessionmaker, tmp_path)
    assert not [
        i for i in shell.tick(MONDAY_0900).instructions if isinstance(i, decide.ComposeTrain)
    ]
    with db_sessionmaker.begin() as s:
        w.s = s
        w.alice, w.lf, w.dataset = (s.merge(x) for x in (w.alice, w.lf, w.dataset))
        big = clean_wagon(w, "big")
        test = enabling.current_test(s, big.id, w.dataset.id)
        test.metrics = {"pss_avg_bytes": 5.5e9}  # 6.5 of 8 GB: >= 75 %
    tick = shell.tick(MONDAY_0900 + timedelta(hours=1))
    [compose] = [i for i in tick.instructions if isinstance(i, decide.ComposeTrain)]
    assert compose.why == "train full" and len(compose.wagon_ids) == 2


# ---------------------------------------------------------------- pull-request tags


def test_a_wagon_waiting_for_a_pull_request_is_tested_with_the_first_tag_containing_it(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        analyses.set_email_policy(s, w.actor(w.alice), w.lf.id, EmailPolicy.ENABLER)
        wagon = wagons.create_wagon(
            s, w.actor(w.alice), w.lf.id, name="pr", workflow="spectra-charged"
        )
        enabling.enable_wagon(
            s, w.actor(w.alice), wagon.id, w.dataset.id, policy="pull_request", pull_request="4711"
        )
        test_id = enabling.current_test(s, wagon.id, w.dataset.id).id
    shell = make_shell(db_sessionmaker, tmp_path)
    shell.config.core = decide.SchedulerConfig(max_running_tests=4)
    assert shell.tick(MONDAY_0900).instructions == []  # held: no tag contains the PR yet
    with db_sessionmaker.begin() as s:
        tag = tags.register_tag(
            s, None, introspection("0.3.0"), artifact="/tags/t2", pull_requests=["4711"]
        )
        tag_id = tag.id
    tick = shell.tick(MONDAY_0900 + timedelta(minutes=1))
    assert tick.instructions[:2] == [
        decide.AssignTestTag(test_id, tag_id, "4711"),
        decide.Notify(
            "pull_request_available",
            f"pull request 4711 is in a released package tag: wagon test {test_id} starts",
            "wagon_test",
            test_id,
        ),
    ]
    # it starts at once (the demo dataset has no files here, so it fails for that reason)
    assert decide.StartWagonTest(test_id) in tick.instructions
    with db_sessionmaker() as s:
        test = s.get(WagonTest, test_id)
        assert test.tag_id == tag_id
        assert usernames(s, "pull_request_available") == ["alice", "carol"]
    shell.tick(MONDAY_0900 + timedelta(minutes=2))  # delivers the queued e-mails
    # analysis policy "enabler": only alice, who enabled the wagon, gets e-mails
    got = [(m["To"], m["Subject"]) for m in mails(tmp_path)]
    assert (
        "alice@example.org",
        f"[Hyperloop] pull request 4711 is in a released package tag: wagon test {test_id} starts",
    ) in got
    assert {to for to, _ in got} == {"alice@example.org"}


def test_a_wagon_on_a_pull_requests_workflow_is_tested_once_a_tag_contains_it(
    db_sessionmaker, tmp_path
):
    """The workflow exists only in pull request 812 (its built introspection): the wagon is
    created and configured on it, its test waits for a tag listing 812, then starts with
    it and runs the configured workflow; a sync moves the wagon onto that tag."""
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        alice = w.actor(w.alice)
        pr = pull_requests.register_pull_request(
            s,
            None,
            number=812,
            title="Add flow harmonics",
            state="open",
            introspection=pr_introspection("0.3.0-pr812"),
        )
        wagon = wagons.create_wagon(
            s,
            alice,
            w.lf.id,
            name="flow",
            workflow="flow-harmonics",
            pull_request_id=pr.id,
            base_config={"flow-task": {"harmonic": "3"}},
        )
        assert wagon.tag_id == w.tag.id and wagon.pull_request_id == pr.id
        wagons.edit_wagon(
            s,
            alice,
            wagon.id,
            expected_version=wagon.version,
            base_config={"flow-task": {"harmonic": "3", "etaGap": "0.8"}},
        )
        enabling.enable_wagon(
            s, alice, wagon.id, w.dataset.id, policy="pull_request", pull_request="812"
        )
        test_id = enabling.current_test(s, wagon.id, w.dataset.id).id
        wagon_id = wagon.id
    shell = make_shell(db_sessionmaker, tmp_path)
    shell.config.core = decide.SchedulerConfig(max_running_tests=4)
    assert shell.tick(MONDAY_0900).instructions == []  # no tag contains the PR yet
    with db_sessionmaker.begin() as s:
        tag_id = tags.register_tag(
            s, None, pr_introspection("0.3.0"), artifact="/tags/t3", pull_requests=["812"]
        ).id
    tick = shell.tick(MONDAY_0900 + timedelta(minutes=1))
    assert tick.instructions[0] == decide.AssignTestTag(test_id, tag_id, "812")
    assert decide.StartWagonTest(test_id) in tick.instructions
    with db_sessionmaker.begin() as s:
        test = s.get(WagonTest, test_id)
        spec = build_full_config(test, s.get(PackageTag, tag_id))
        assert [(e.workflow_name, e.configuration) for e in spec.workflows] == [
            ("flow-harmonics", {"flow-task": {"harmonic": "3", "etaGap": "0.8"}})
        ]
        synced, _ = wagons.sync_wagon(s, w.actor(w.alice), wagon_id, tag_id=tag_id)
        assert synced.tag_id == tag_id and synced.pull_request_id is None
        assert synced.base_config == {"flow-task": {"harmonic": "3", "etaGap": "0.8"}}


def test_a_pull_request_wagon_is_enabled_only_with_the_future_tag_policy(db_sessionmaker):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        pr = pull_requests.register_pull_request(
            s, None, number=813, title="Flow", state="open", introspection=pr_introspection()
        )
        wagon = wagons.create_wagon(
            s,
            w.actor(w.alice),
            w.lf.id,
            name="flow",
            workflow="flow-harmonics",
            pull_request_id=pr.id,
        )
        with pytest.raises(ValidationError, match="configured on pull request #813"):
            enabling.enable_wagon(s, w.actor(w.alice), wagon.id, w.dataset.id, policy="latest")
        with pytest.raises(ValidationError, match="has no workflow 'flow-harmonics' yet"):
            wagons.sync_wagon(s, w.actor(w.alice), wagon.id)  # the latest tag lacks it
        with pytest.raises(ValidationError, match="does not exist in package tag"):
            wagons.create_wagon(  # without the pull request, no tag has the workflow
                s, w.actor(w.alice), w.lf.id, name="flow2", workflow="flow-harmonics"
            )


# ---------------------------------------------------------------- long trains


def long_train_world(s):
    """A train done on a short dataset and the long train alice requested from it."""
    w = make_world(s)
    short = datasets.add_short_dataset(s, w.actor(w.operator), w.dataset.id, "LHC23_short")
    snapshot = [{"wagon_id": 1, "analysis_id": w.lf.id, "pwg": "PWG-LF", "workflow": "x"}]
    done = TrainRun(
        dataset_id=short.id,
        tag_id=w.tag.id,
        target_id=w.target.id,
        state=TrainState.DONE,
        wagons_snapshot=snapshot,
        test_warnings=[{"code": "memory"}],
    )
    s.add(done)
    s.flush()
    return w, trains.request_long_train(s, w.actor(w.alice), done.id).id


def test_an_undecided_long_train_expires_and_the_requester_is_mailed(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        _w, long_id = long_train_world(s)
    shell = make_shell(db_sessionmaker, tmp_path)
    now = datetime.now(UTC)
    assert shell.tick(now).instructions == []
    tick = shell.tick(now + timedelta(days=15))
    assert (
        decide.ExpireLongTrain(long_id, "long train request expired: not approved within 14 days")
        in tick.instructions
    )
    with db_sessionmaker() as s:
        assert s.get(TrainRun, long_id).state is TrainState.CLOSED
        assert usernames(s, "long_train_expired") == ["alice", "carol"]  # requester and LF
    shell.tick(now + timedelta(days=15, minutes=1))
    assert [m["To"] for m in mails(tmp_path)] == ["alice@example.org"]  # the requester only
    # told once
    assert shell.tick(now + timedelta(days=16)).instructions == []


def test_rejection_and_approval_of_long_trains_are_told_once(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        w, rejected = long_train_world(s)
        trains.reject_long_train(s, w.actor(w.convener), rejected, "CPU time too high")
        second = trains.request_long_train(s, w.actor(w.alice), s.get(TrainRun, rejected).parent_id)
        # the short train's test had a memory warning: approval waits for an operator
        trains.approve_long_train(s, w.actor(w.convener), second.id)
        approved = second.id
    shell = make_shell(db_sessionmaker, tmp_path)
    now = datetime.now(UTC)
    tick = shell.tick(now)
    told = [i for i in tick.instructions if isinstance(i, decide.Notify)]
    assert [(n.kind, n.object_id) for n in told] == [
        ("long_train_rejected", rejected),
        ("long_train_approved", approved),
    ]
    assert told[0].message == f"train {rejected}: long train rejected: CPU time too high"
    with db_sessionmaker() as s:
        assert s.get(TrainRun, approved).state is TrainState.LONG_TRAIN_APPROVED
        # operators must act on an approved train waiting for them
        assert "operator" in usernames(s, "long_train_approved")
    shell.tick(now + timedelta(minutes=1))
    subjects = sorted((m["To"], m["Subject"]) for m in mails(tmp_path))
    assert subjects == [
        (
            "alice@example.org",
            f"[Hyperloop] long train {approved} approved; it waits for an operator to submit it (memory warning or CPU time above the dataset limit)",
        ),
        (
            "alice@example.org",
            f"[Hyperloop] train {rejected}: long train rejected: CPU time too high",
        ),
    ]
    assert not [
        i
        for i in make_shell(db_sessionmaker, tmp_path).tick(now).instructions
        if isinstance(i, decide.Notify)
    ]


# ---------------------------------------------------------------- trains with issues


def test_a_train_with_issues_is_flagged_once_and_the_policy_decides_who_gets_mail(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        analyses.set_email_policy(s, w.actor(w.admin), w.hf.id, EmailPolicy.NONE)
        snapshot = [
            {"wagon_id": 1, "analysis_id": w.lf.id, "pwg": "PWG-LF"},
            {"wagon_id": 2, "analysis_id": w.hf.id, "pwg": "PWG-HF"},
        ]
        train = TrainRun(
            dataset_id=w.dataset.id,
            tag_id=w.tag.id,
            target_id=w.target.id,
            state=TrainState.RUNNING,
            wagons_snapshot=snapshot,
        )
        s.add(train)
        s.flush()
        add_jobs(s, train.id, [JobSpec(544013, (f"f{i}.root",)) for i in range(4)], cause=BY_TEST)
        for n, job in enumerate(s.scalars(select(Job).order_by(Job.id))):
            set_job_state(s, job.id, JobState.RUNNING, cause=BY_TEST)
            # three failed after their last attempt, one done: 3 of 4 > 30 %
            set_job_state(
                s, job.id, JobState.DONE if n == 0 else JobState.EXECUTION_ERROR, cause=BY_TEST
            )
            job.attempts = 3
        w.operator.email = "ops@example.org"
        train_id = train.id
    shell = make_shell(db_sessionmaker, tmp_path)
    why = "3 of 4 jobs failed"
    tick = shell.tick(MONDAY_0900)
    assert decide.FlagTrainWithIssues(train_id, why) in tick.instructions
    with db_sessionmaker() as s:
        # members of both analyses and the operators see it
        assert usernames(s, "train_issues") == ["alice", "bob", "carol", "operator"]
    shell.tick(MONDAY_0900 + timedelta(minutes=1))
    # e-mails: LF (policy all) members and the operators; HF chose none: bob gets none
    # (carol is in both: LF's policy mails her)
    assert sorted(m["To"] for m in mails(tmp_path)) == [
        "alice@example.org",
        "carol@example.org",
        "ops@example.org",
    ]
    assert {m["Subject"] for m in mails(tmp_path)} == {f"[Hyperloop] train {train_id}: {why}"}
    body = mails(tmp_path)[0].get_content()
    assert f"train {train_id}: {why}." in body and "What to do: Operators decide" in body
    assert body.endswith(f"Open: http://127.0.0.1:8000/train-run/{train_id}\n")
    # a restarted scheduler does not flag it again
    again = make_shell(db_sessionmaker, tmp_path).tick(MONDAY_0900 + timedelta(minutes=2))
    assert not [i for i in again.instructions if isinstance(i, decide.FlagTrainWithIssues)]


def test_a_done_train_mails_only_the_enablers_when_the_analysis_says_so(db_sessionmaker, tmp_path):
    from hyperloop.core import mail
    from hyperloop.scheduler.notices import perform_notify

    with db_sessionmaker.begin() as s:
        w = make_world(s)
        analyses.set_email_policy(s, w.actor(w.alice), w.lf.id, EmailPolicy.ENABLER)
        wagon = clean_wagon(w, "spectra")  # enabled by alice; carol is a member too
        train = trains.compose_train(
            s, w.actor(w.operator), w.dataset.id, [wagon.id], target_id=w.target.id
        )
        notice = decide.Notify("train_done", f"train {train.id} is done", "train_run", train.id)
        perform_notify(s, notice, public_url="https://hyperloop.example")
        assert usernames(s, "train_done") == ["alice", "carol"]
        sender = mail.FolderSender(tmp_path / "work" / "mail")
        assert mail.deliver_outbox(s, sender).sent == 1
    [m] = mails(tmp_path)
    assert (m["To"], m["Subject"]) == ("alice@example.org", f"[Hyperloop] train {train.id} is done")
    assert f"https://hyperloop.example/train-run/{train.id}" in m.get_content()
