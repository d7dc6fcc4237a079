"""Wagon configuration download/upload with the real O2 ``dpl-config_strangeness.json``."""

from __future__ import annotations

import json

import pytest
from tests.factories import make_world

from hyperloop.analysis.o2config import infer_value
from hyperloop.core import tags, wagon_json, wagons
from hyperloop.core.errors import ValidationError

TASKS = ("strangeness_tutorial", "lambdakzero-builder")
CHANGED_DEFAULTS = {
    ("strangeness_tutorial", "nBins"): "50",
    ("strangeness_tutorial", "cutzvertex"): "7.5",
}


def strangeness_tag_introspection(realdata):
    """A tag declaring the tasks of the real configuration (kinds inferred from it)."""
    doc = json.loads((realdata / "dpl-config_strangeness.json").read_text())
    tasks = []
    for task in TASKS:
        confs = []
        for name, raw in doc[task].items():
            kind = infer_value(raw).kind.value
            if (task, name) == ("strangeness_tutorial", "cutzvertex"):
                kind = "float"
            default = CHANGED_DEFAULTS.get((task, name), raw)
            confs.append({"name": name, "kind": kind, "default": default, "help": ""})
        tasks.append({"name": task, "configurables": confs, "consumes": {}, "produces": []})
    return doc, {
        "package": {"name": "hyperloop-physics", "version": "strange-1"},
        "workflows": [{"name": "strangeness-tutorial", "doc": "", "tasks": tasks}],
    }


@pytest.fixture
def setup(session, realdata):
    w = make_world(session)
    doc, intro = strangeness_tag_introspection(realdata)
    tag = tags.register_tag(session, None, intro, artifact="/tags/strange")
    wagon = wagons.create_wagon(
        session,
        w.actor(w.alice),
        w.lf.id,
        name="strange",
        workflow="strangeness-tutorial",
        tag_id=tag.id,
    )
    session.commit()
    return w, doc, wagon


def test_preview_of_real_config_lists_changes_ignores_other_devices_and_saves_nothing(setup):
    w, doc, wagon = setup
    version = wagon.version
    preview = wagon_json.preview_upload(w.s, wagon, doc)
    assert preview.ok
    changed = {(r["task"], r["parameter"]) for r in preview.overview if r["status"] == "changed"}
    assert changed == set(CHANGED_DEFAULTS)
    unchanged = [r for r in preview.overview if r["status"] == "unchanged"]
    assert len(unchanged) == sum(len(doc[t]) for t in TASKS) - 2
    assert any("internal-dpl-aod-reader" in i for i in preview.ignored)
    assert any("cascade-builder" in i for i in preview.ignored)
    assert {c.path for c in preview.diff} == {
        "base_config.strangeness_tutorial.nBins",
        "base_config.strangeness_tutorial.cutzvertex",
    }
    w.s.commit()
    assert wagon.version == version
    assert wagon.base_config["strangeness_tutorial"]["nBins"] == "50"


def test_apply_upload_saves_and_download_round_trips(setup):
    w, doc, wagon = setup
    wagon = wagon_json.apply_upload(
        w.s, w.actor(w.alice), wagon.id, doc, expected_version=wagon.version
    )
    assert wagon.base_config["strangeness_tutorial"]["nBins"] == "100"
    assert wagon.base_config["strangeness_tutorial"]["cutzvertex"] == "10"
    for task in TASKS:
        assert wagon.base_config[task] == doc[task]
    again = wagon_json.preview_upload(w.s, wagon, wagon_json.download_config(wagon))
    assert again.ok and again.diff == []


def test_wrong_types_are_refused_with_the_parameter_named(setup):
    w, doc, wagon = setup
    bad = {"strangeness_tutorial": {"nBins": "many", "processRecMC": "maybe"}}
    preview = wagon_json.preview_upload(w.s, wagon, bad)
    assert not preview.ok
    assert {p["parameter"] for p in preview.problems} == {"nBins", "processRecMC"}
    with pytest.raises(ValidationError, match="nBins"):
        wagon_json.apply_upload(
            w.s, w.actor(w.alice), wagon.id, bad, expected_version=wagon.version
        )


def test_upload_refuses_identical_subwagons_and_ignores_new_ones(setup):
    w, doc, wagon = setup
    wagon = wagons.edit_wagon(
        w.s,
        w.actor(w.alice),
        wagon.id,
        expected_version=wagon.version,
        subwagons={
            "tight": {"strangeness_tutorial": {"NSigmaTPCPion": "3"}},
            "loose": {"strangeness_tutorial": {"NSigmaTPCPion": "5"}},
        },
    )
    upload = {
        "base": {},
        "subwagons": {
            "tight": {"strangeness_tutorial": {"NSigmaTPCPion": "5"}},
            "brandnew": {"strangeness_tutorial": {"nBins": "3"}},
        },
    }
    preview = wagon_json.preview_upload(w.s, wagon, upload)
    assert any("identical" in e for e in preview.errors)
    assert any("brandnew" in i for i in preview.ignored)
