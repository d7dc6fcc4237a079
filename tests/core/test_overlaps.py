"""Overlap detection (hyperloop.readmodels.overlaps): wagons of other analyses on the same
dataset with the same workflow and an identical or near-identical configuration."""

from __future__ import annotations

import pytest
from tests.factories import make_world

from hyperloop.core import enabling, wagons
from hyperloop.core.errors import NotFound
from hyperloop.readmodels.overlaps import Side, compare, differences, overlaps, wagon_overlaps

CONF = {"t": {"a": "1", "b": "2", "c": "3"}}


def _side(wid=1, analysis=1, config=CONF, **kw) -> Side:
    return Side(wid, f"w{wid}", analysis, f"A{analysis}", kw.pop("workflow", "wf"), config, **kw)


def test_identical_configuration_suggests_sharing():
    found = compare(_side(), _side(2, 2))
    assert found is not None and found.kind == "identical" and found.level == "notice"
    assert found.message.startswith(
        "wagon 'w2' of analysis 'A2' runs workflow 'wf' on this dataset with the identical "
        "configuration: its histograms would be identical"
    )


def test_near_identical_lists_the_differences():
    other = {"t": {"a": "1", "b": "2.5", "c": "3"}}
    found = compare(_side(), _side(2, 2, other))
    assert found is not None and found.kind == "near-identical"
    assert [(d.task, d.parameter, d.this, d.other) for d in found.differences] == [
        ("t", "b", "2", "2.5")
    ]
    assert "differs only in t.b (2 here, 2.5 there)" in found.message


def test_too_different_other_workflow_or_dependencies_are_no_overlap():
    assert compare(_side(), _side(2, 2, {"t": {"a": "9", "b": "9", "c": "9"}})) is None
    assert compare(_side(), _side(2, 2, workflow="other")) is None
    assert compare(_side(), _side(2, 2, dependencies=frozenset({"x"}))) is None


def test_same_derived_tables_from_the_same_configuration_is_a_duplicate_skim():
    this = _side(derived_tables=("Skim",))
    other = _side(2, 2, derived_tables=("Skim",), produced_by=77)
    found = compare(this, other)
    assert found is not None and found.level == "warning"
    assert found.message.startswith("duplicate skim: wagon 'w2' of analysis 'A2' produces")
    assert "its output exists (train run 77)" in found.message
    # a near-identical skim is a notice, not a duplicate
    near = compare(
        this, _side(2, 2, {"t": {"a": "0", "b": "2", "c": "3"}}, derived_tables=("Skim",))
    )
    assert near is not None and near.level == "notice"


def test_differences_of_nested_values():
    a = {"t": {"axis": {"values": ["0", "1"]}}}
    b = {"t": {"axis": {"values": ["0", "2"]}}, "u": {"x": "1"}}
    assert [(d.task, d.parameter) for d in differences(a, b)] == [("t", "axis"), ("u", "x")]


def test_overlaps_read_from_a_world(session):
    w = make_world(session)
    alice, bob = w.actor(w.alice), w.actor(w.bob)

    def wagon(actor, analysis, name, config=None, **kw):
        made = wagons.create_wagon(
            session, actor, analysis.id, name=name, workflow="spectra-charged",
            base_config=config, **kw,
        )  # fmt: skip
        enabling.enable_wagon(session, actor, made.id, w.dataset.id)
        return made

    mine = wagon(alice, w.lf, "mine")
    same = wagon(bob, w.hf, "same", {"spectra-charged": {"etaMax": "0.8"}})  # the default
    near = wagon(bob, w.hf, "near", {"spectra-charged": {"etaMax": "0.9"}})
    far = {"spectra-charged": {"etaMax": "0.5", "nEvents": "7", "label": "PbPb"}}
    wagon(bob, w.hf, "far", far)
    wagon(alice, w.lf, "sibling")  # the same analysis: not an overlap
    session.flush()

    found = overlaps(session, mine.id, w.dataset.id)
    assert [(o.wagon_id, o.kind) for o in found] == [
        (same.id, "identical"),
        (near.id, "near-identical"),
    ]
    assert found[1].differences[0].parameter == "etaMax"
    (page,) = wagon_overlaps(session, mine.id)
    assert page["dataset"] == w.dataset.name and len(page["overlaps"]) == 2
    with pytest.raises(NotFound, match="dataset 999 not found"):
        overlaps(session, mine.id, 999)
