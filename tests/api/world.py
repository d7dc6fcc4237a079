"""The seeded world of the API tests: one user per role, analyses (one a service analysis),
a package tag declaring real O2 tasks, wagons, datasets (with a short dataset), runlists, a
target, train runs in several states, a job and notifications."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.story_cause import BY_TEST

from hyperloop.core import analyses, datasets, enabling, runlists, tags, trains, users, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.states import transition
from hyperloop.db import models as m
from hyperloop.db.models import Base
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState, NotificationKind, TagPolicy, TestStatus, TrainState

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
REALDATA = REPO_ROOT / "tests" / "data" / "realdata"

ROLES = (
    "anonymous",
    "user",
    "analyzer",
    "service_expert",
    "operator",
    "dpg_expert",
    "pwg_convener",
    "admin",
)
USERNAMES = {
    "user": "ursula",
    "analyzer": "alice",
    "service_expert": "sam",
    "operator": "oscar",
    "dpg_expert": "dora",
    "pwg_convener": "connie",
    "admin": "ada",
}
PASSWORD = "correct horse battery staple"
# Callers of the permission matrix besides one user per role: a role holder who is also a
# member of the analysis ``lf-spectra`` (the seeded role holders above are members of none,
# except the analyzer; the service expert is a member of the service analysis only).
MEMBER_CALLERS = {
    "operator_member": ("otto", ["operator"], []),
    "dpg_expert_member": ("dmitri", ["dpg_expert"], []),
    "pwg_convener_member": ("carla", ["pwg_convener"], ["PWGLF"]),
}
CALLERS = (*ROLES, *MEMBER_CALLERS)
CALLER_USERNAMES = USERNAMES | {caller: v[0] for caller, v in MEMBER_CALLERS.items()}


def _kind_of(name: str, value: Any) -> tuple[str, dict[str, Any]]:
    """Configurable kind of a real O2 value (for an introspection declaring real tasks)."""
    if isinstance(value, dict):
        if name.lower().startswith("axis") or name.lower().startswith("bins"):
            return "binning", {}
        return "variable-array", {"dtype": "float"}
    if value in ("true", "false"):
        return "bool", {}
    try:
        int(value)
        return "int", {}
    except ValueError:
        pass
    try:
        float(value)
        return "float", {}
    except ValueError:
        return "string", {}


def tasks_from_o2_config(path: Path, changed_defaults: dict[str, dict[str, Any]]) -> list[dict]:
    """Introspection tasks declaring every configurable of a real O2 configuration file.

    Defaults are the file's values except ``changed_defaults`` (so uploading the real file
    changes exactly those values)."""
    doc = json.loads(path.read_text())
    tasks = []
    for task, params in doc.items():
        if task.startswith("internal-dpl-") or not isinstance(params, dict):
            continue
        confs = []
        for name, value in params.items():
            kind, extra = _kind_of(name, value)
            default = changed_defaults.get(task, {}).get(name, value)
            confs.append({"name": name, "kind": kind, "default": default, "help": "", **extra})
        tasks.append({"name": task, "configurables": confs, "consumes": {}, "produces": []})
    return tasks


STRANGENESS_CHANGED = {
    "strangeness_tutorial": {"cutzvertex": "8", "nBins": "50", "processGenMC": "false"},
    "lambdakzero-builder": {"axisTopoVarV0Radius": {"values": ["100", "0", "100"]}},
}


def introspection(version: str = "v1") -> dict[str, Any]:
    spectra = {
        "name": "spectra-task",
        "configurables": [
            {"name": "cutZ", "kind": "float", "default": "10", "help": "vertex z cut"},
            {"name": "nBins", "kind": "int", "default": "100", "help": ""},
            {"name": "useTOF", "kind": "bool", "default": "false", "help": ""},
            {"name": "label", "kind": "string", "default": "pp", "help": ""},
            {"name": "ptBins", "kind": "binning", "default": {"values": ["20", "0", "10"]}},
            {
                "name": "etaEdges",
                "kind": "variable-array",
                "dtype": "float",
                "default": {"values": ["-0.8", "0", "0.8"]},
            },
        ],
        "consumes": {"Tracks": ["fPt"]},
        "produces": [],
    }
    evsel = {
        "name": "event-selection-task",
        "configurables": [{"name": "zMax", "kind": "float", "default": "10", "help": ""}],
        "consumes": {"Collisions": ["fPosZ"]},
        "produces": [],
    }
    maker = {
        "name": "track-skimmer",
        "configurables": [{"name": "ptMin", "kind": "float", "default": "0.15", "help": ""}],
        "consumes": {"Tracks": ["pt"]},
        "produces": [
            {
                "logical": "SkimTracks",
                "o2name": "O2skimtrack",
                "columns": {"fPt": "float32"},
                "index_columns": {},
                "extends": None,
            }
        ],
    }
    return {
        "package": {"name": "physics", "version": version},
        "workflows": [
            {"name": "skim", "doc": "derived data maker", "tasks": [maker]},
            {"name": "spectra", "doc": "charged spectra", "tasks": [spectra]},
            {"name": "event-selection", "doc": "service", "tasks": [evsel]},
            {
                "name": "strangeness",
                "doc": "real strangeness tasks",
                "tasks": tasks_from_o2_config(
                    REALDATA / "dpl-config_strangeness.json", STRANGENESS_CHANGED
                ),
            },
            {
                "name": "ud-rho",
                "doc": "real UD rho tasks",
                "tasks": tasks_from_o2_config(REALDATA / "dpl-config_ud_rho.json", {}),
            },
        ],
    }


@dataclass
class World:
    """Ids and credentials of the seeded objects."""

    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    notification_ids: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)


def seed(url: str) -> World:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    world = World(url=url)
    with make_sessionmaker(engine).begin() as s:
        people = {}
        for role, name in USERNAMES.items():
            roles = {
                "operator": ["operator"],
                "dpg_expert": ["dpg_expert"],
                "pwg_convener": ["pwg_convener"],
                "admin": ["admin"],
            }.get(role, [])
            pwgs = ["PWGLF"] if role == "pwg_convener" else []
            people[role] = users.create_user(
                s, name, roles=roles, convener_pwgs=pwgs, email=f"{name}@x"
            )
        bob = users.create_user(s, "bob")
        # One argon2 hash (salted, ~0.1-0.3 s to compute) shared by every seeded account.
        password_hash = users.hash_password(PASSWORD)
        for person in [*people.values(), bob]:
            person.password_hash = password_hash
        admin = Actor(people["admin"])
        a = analyses.create_analysis(s, admin, "lf-spectra", "PWGLF")
        service = analyses.create_analysis(s, admin, "core-services", "DPG", service=True)
        other = analyses.create_analysis(s, admin, "hf-other", "PWGHF")
        analyses.add_member(s, admin, a.id, people["analyzer"].id)
        analyses.add_member(s, admin, a.id, bob.id)
        analyses.add_member(s, admin, service.id, people["service_expert"].id)
        tag = tags.register_tag(s, admin, introspection(), artifact="/tags/physics-v1")
        s.flush()
        analyzer = Actor(people["analyzer"])
        expert = Actor(people["service_expert"])
        service_wagon = wagons.create_wagon(
            s, expert, service.id, name="evsel", workflow="event-selection", tag_id=tag.id
        )
        wagon = wagons.create_wagon(
            s,
            analyzer,
            a.id,
            name="spectra_pp",
            workflow="spectra",
            tag_id=tag.id,
            subwagons={"tight": {"spectra-task": {"cutZ": "5"}}},
            dependencies=[service_wagon.id],
        )
        spare = wagons.create_wagon(
            s, analyzer, a.id, name="spare", workflow="spectra", tag_id=tag.id
        )
        strange = wagons.create_wagon(
            s, analyzer, a.id, name="strange", workflow="strangeness", tag_id=tag.id
        )
        skim = wagons.create_wagon(
            s,
            analyzer,
            a.id,
            name="skim",
            workflow="skim",
            tag_id=tag.id,
            derived_tables=["SkimTracks"],
        )
        operator = Actor(people["operator"])
        dpg = Actor(people["dpg_expert"])
        runlist = runlists.create_runlist(s, dpg, "LHC23zzh_pass4", [544013, 544028])
        dataset = datasets.create_dataset(s, operator, "LHC23zzh_pass4_test")
        production = datasets.add_production(
            s, operator, dataset.id, "pass4", kind="runlist", runlist_id=runlist.id
        )
        datasets.set_active(s, operator, dataset.id, True)
        spare_ds = datasets.create_dataset(s, operator, "LHC22o_spare")
        datasets.set_mergelist(s, operator, dataset.id, "all", [544013, 544028])
        spare_runlist = runlists.create_runlist(s, dpg, "LHC22o_unused", [520000])
        big = datasets.create_dataset(s, operator, "LHC23_big")
        short = datasets.add_short_dataset(s, operator, big.id, "LHC23_big_short")
        datasets.set_active(s, operator, big.id, True)
        datasets.set_active(s, operator, short.id, True)
        analyses.add_dataset(s, analyzer, a.id, dataset.id)
        analyses.add_dataset(s, analyzer, a.id, short.id)
        pairs = (
            (wagon, dataset),
            (spare, dataset),
            (strange, dataset),
            (wagon, short),
            (skim, dataset),
        )
        for w, d in pairs:
            enabling.enable_wagon(s, analyzer, w.id, d.id, policy=TagPolicy.LATEST)
            test = enabling.current_test(s, w.id, d.id)
            enabling.finish_test(s, test.id, TestStatus.DONE)
        target = trains.create_target(s, admin, name="grid-1core", cores=1)

        def tested_train(wagon_ids: list[int], dataset_id: int) -> m.TrainRun:
            t = trains.compose_train(s, operator, dataset_id, wagon_ids, target_id=target.id)
            trains.start_test(s, t.id)
            return trains.finish_test(s, t.id, TestStatus.DONE)

        train = tested_train([wagon.id], dataset.id)
        kill_train = tested_train([strange.id], dataset.id)
        trains.submit_train(s, operator, kill_train.id)
        short_train = tested_train([wagon.id], short.id)
        trains.submit_train(s, operator, short_train.id)
        for state in (TrainState.RUNNING, TrainState.DONE):
            transition(short_train, state, actor=None, cause=BY_TEST)
        long_train = trains.request_long_train(s, analyzer, short_train.id)
        s.flush()
        job = m.Job(train_run_id=train.id, run_number=544013, state=JobState.DONE, site="local")
        s.add(job)
        for role, person in people.items():
            token, plaintext = users.create_api_token(s, person, "tests")
            world.tokens[role] = plaintext
            world.token_ids[role] = token.id
            world.user_ids[role] = person.id
            note = m.Notification(
                user_id=person.id, kind=NotificationKind.DATASET_CHANGED, message="hello"
            )
            s.add(note)
            s.flush()
            world.notification_ids[role] = note.id
        bob_token, bob_plain = users.create_api_token(s, bob, "tests")
        world.tokens["bob"] = bob_plain
        s.flush()
        for caller, (name, roles, pwgs) in MEMBER_CALLERS.items():
            person = users.create_user(s, name, roles=roles, convener_pwgs=pwgs, email=f"{name}@x")
            person.password_hash = password_hash
            analyses.add_member(s, admin, a.id, person.id)
            token, plaintext = users.create_api_token(s, person, "tests")
            world.tokens[caller] = plaintext
            world.token_ids[caller] = token.id
            world.user_ids[caller] = person.id
            note = m.Notification(
                user_id=person.id, kind=NotificationKind.DATASET_CHANGED, message="hello"
            )
            s.add(note)
            s.flush()
            world.notification_ids[caller] = note.id
        world.ids.update(
            analysis=a.id,
            service_analysis=service.id,
            other_analysis=other.id,
            tag=tag.id,
            wagon=wagon.id,
            spare_wagon=spare.id,
            service_wagon=service_wagon.id,
            strange_wagon=strange.id,
            skim_wagon=skim.id,
            dataset=dataset.id,
            spare_dataset=spare_ds.id,
            production=production.id,
            runlist=runlist.id,
            target=target.id,
            train=train.id,
            kill_train=kill_train.id,
            short_train=short_train.id,
            long_train=long_train.id,
            big_dataset=big.id,
            short_dataset=short.id,
            spare_runlist=spare_runlist.id,
            job=job.id,
            bob=bob.id,
        )
    engine.dispose()
    return world
