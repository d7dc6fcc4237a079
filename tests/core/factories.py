"""Builders of a small, realistic world for the core tests (real database, no mocks)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hyperloop.core import analyses, datasets, runlists, tags, users
from hyperloop.core.actor import Actor
from hyperloop.db.models import Analysis, Dataset, PackageTag, Target, User
from hyperloop.enums import Role

SPECTRA_TASK = {
    "name": "spectra-charged",
    "doc": "charged-particle spectra",
    "configurables": [
        {"name": "etaMax", "kind": "float", "default": "0.8", "help": "max |eta|"},
        {"name": "nEvents", "kind": "int", "default": "100", "help": ""},
        {"name": "label", "kind": "string", "default": "pp", "help": ""},
        {
            "name": "ptAxis",
            "kind": "binning",
            "binning": "variable",
            "default": {"values": ["0", "0", "0.1", "0.5"]},
            "help": "",
        },
        {
            "name": "centClasses",
            "kind": "variable-array",
            "dtype": "float",
            "default": {"values": ["0", "10", "50"]},
            "help": "",
        },
        {
            "name": "pidCuts",
            "kind": "labelled-matrix",
            "dtype": "float",
            "rows": ["Pi", "Ka"],
            "cols": ["TPC", "TOF"],
            "default": {
                "labels_rows": ["Pi", "Ka"],
                "labels_cols": ["TPC", "TOF"],
                "values": [["3", "3"], ["3", "3"]],
            },
            "help": "",
        },
        {"name": "processData", "kind": "bool", "default": "true", "help": "process switch"},
    ],
    "consumes": {"Tracks": ["pt", "eta"], "EvSels": ["fSel8"]},
    "produces": [],
}
EVSEL_TASK = {
    "name": "event-selection",
    "doc": "event selection",
    "configurables": [{"name": "zMax", "kind": "float", "default": "10", "help": ""}],
    "consumes": {"Collisions": ["fPosZ"]},
    "produces": [
        {
            "logical": "EvSels",
            "o2name": "O2evsel",
            "columns": {"fSel8": "bool"},
            "index_columns": {},
            "extends": "Collisions",
        }
    ],
}
TREE_TASK = {
    "name": "tree-maker",
    "doc": "derived tracks",
    "configurables": [{"name": "ptMin", "kind": "float", "default": "0.15", "help": ""}],
    "consumes": {"Tracks": ["pt"]},
    "produces": [
        {
            "logical": "MyTracks",
            "o2name": "O2mytrack",
            "columns": {"fPt": "float32"},
            "index_columns": {},
            "extends": None,
        }
    ],
}


def introspection(
    version: str = "0.2.0", *, drop_label: bool = False, new_default_eta: str | None = None
) -> dict[str, Any]:
    """Tag introspection in the format of ``hyperloop workflows --json``."""
    spectra = copy.deepcopy(SPECTRA_TASK)
    if drop_label:
        spectra["configurables"] = [c for c in spectra["configurables"] if c["name"] != "label"]
    if new_default_eta is not None:
        for c in spectra["configurables"]:
            if c["name"] == "etaMax":
                c["default"] = new_default_eta
    return {
        "package": {"name": "hyperloop-physics", "version": version},
        "workflows": [
            {"name": "spectra-charged", "doc": "", "tasks": [spectra]},
            {"name": "event-selection", "doc": "", "tasks": [copy.deepcopy(EVSEL_TASK)]},
            {"name": "tree-maker", "doc": "", "tasks": [copy.deepcopy(TREE_TASK)]},
        ],
    }


@dataclass
class World:
    s: Session
    admin: User
    operator: User
    alice: User  # member of lf
    bob: User  # member of hf
    carol: User  # member of lf and hf
    dpg: User
    convener: User  # convener of PWG-LF
    outsider: User
    service_expert: User
    lf: Analysis
    hf: Analysis
    service: Analysis
    tag: PackageTag
    dataset: Dataset
    target: Target

    def actor(self, user: User, impersonator: User | None = None) -> Actor:
        return Actor(user, impersonator)


def make_world(s: Session) -> World:
    mk = users.create_user
    admin = mk(s, "admin", roles=[Role.ADMIN])
    operator = mk(s, "operator", roles=[Role.OPERATOR])
    alice = mk(s, "alice", email="alice@example.org")
    bob = mk(s, "bob", email="bob@example.org")
    carol = mk(s, "carol", email="carol@example.org")
    dpg = mk(s, "dpg", roles=[Role.DPG_EXPERT])
    convener = mk(s, "convener", roles=[Role.PWG_CONVENER], convener_pwgs=["PWG-LF"])
    outsider = mk(s, "outsider")
    service_expert = mk(s, "svc")
    lf = analyses.create_analysis(s, None, "LF-spectra", "PWG-LF")
    hf = analyses.create_analysis(s, None, "HF-charm", "PWG-HF")
    service = analyses.create_analysis(s, None, "Core-services", "DPG", service=True)
    for a, u in [(lf, alice), (hf, bob), (lf, carol), (hf, carol), (service, service_expert)]:
        analyses.add_member(s, None, a.id, u.id)
    tag = tags.register_tag(s, None, introspection(), artifact="/tags/t1")
    op = Actor(operator)
    rl = runlists.create_runlist(s, Actor(dpg), "LHC23zzh_pass4", [544013, 544028, 544032])
    ds = datasets.create_dataset(
        s, op, "LHC23_pp_pass4", collision_system="pp", period="LHC23zzh", slots_per_week=4
    )
    datasets.add_production(s, op, ds.id, "pass4", runlist_id=rl.id)
    datasets.set_active(s, op, ds.id, True)
    for a in (lf, hf, service):
        analyses.add_dataset(s, Actor(admin), a.id, ds.id)
    target = Target(name="2core", cores=2, memory_limit_mb=8000)
    s.add(target)
    s.flush()
    return World(
        s,
        admin,
        operator,
        alice,
        bob,
        carol,
        dpg,
        convener,
        outsider,
        service_expert,
        lf,
        hf,
        service,
        tag,
        ds,
        target,
    )
