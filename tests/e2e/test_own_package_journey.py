"""Issue 19's journey, every step as a physicist takes it: the package of the guide "Your
own workflow package" (docs/examples/own_package/: <pT> vs multiplicity as a TProfile, an
MC-truth process switch, a mixed-event background with SameKindPair) built as a tag with
``hyperloop package build``, registered through the API by an admin, run as alice's wagon
(tested, then in a train on the running system's workers), and the train's merged profile
equal, bin for bin, to a local ``hyperloop run-train`` of the same tag over the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
from tests.docs.conftest import EXAMPLES
from tests.e2e.system import System
from tests.grid.helpers import assert_same_histograms, reference_run

from hyperloop.db.models import TrainRun

TAG = "my-analysis-v0.1.0"
EVSEL = {"event-selection": {"maxVertexZ": "10"}}
SPECTRA = {"sel8-spectra": {"etaMax": "0.9", "nMix": "3"}}


def _hyperloop(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "hyperloop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _profile(path: str | Path, key: str) -> dict[str, np.ndarray]:
    with uproot.open(path) as f:
        p = f[key]
        assert p.classname == "TProfile", p.classname
        return {
            "values": p.values(flow=True),
            "entries": p.counts(flow=True),
            "errors": p.errors(flow=True),
            "sumw2": np.asarray(p.member("fSumw2")),
            "bin_entries": np.asarray(p.member("fBinEntries")),
            "total_entries": np.asarray(p.member("fEntries")),
        }


@pytest.mark.slow
def test_own_package_released_as_a_tag_runs_as_a_wagon_and_a_train(system: System, tmp_path):
    # build the guide's package as a tag where the system's workers read it
    shutil.copytree(EXAMPLES / "own_package", tmp_path / "my-analysis")
    tags_dir = system.root / "tags"
    out = _hyperloop(
        "package", "build", "my-analysis/", "--tag", TAG, "--tags-dir", str(tags_dir),
        cwd=tmp_path,
    )  # fmt: skip
    assert f"tag {TAG}: my-analysis 0.1.0, 2 workflows" in out
    folder = tags_dir / TAG
    introspection = json.loads(
        _hyperloop("workflows", "--package", str(folder), "--json", cwd=tmp_path)
    )

    # the admin registers it through the API, next to the seeded tag
    with system.client("admin") as c:
        r = c.post("/api/tags", json={"introspection": introspection, "artifact": str(folder)})
        assert r.status_code == 201, r.text
        tag = r.json()
    assert tag["label"] == f"my-analysis {TAG}"
    assert tag["workflows"] == ["event-selection", "sel8-spectra"]
    with system.client("alice") as c:
        listed = c.get("/api/tags", params={"name": "my-analysis"}).json()["items"]
    assert [t["tag"] for t in listed] == [TAG]

    # alice's wagons: the service, and her workflow with a configured parameter on top of it
    evsel = system.wagon("event-selection", EVSEL, tag_id=tag["id"])
    spectra = system.wagon("sel8-spectra", SPECTRA, tag_id=tag["id"], dependencies=[evsel])
    test = system.wagon_test(spectra)
    assert test["status"] == "done", test

    train = system.train([evsel, spectra])
    assert system.wait_train(train) == "done"
    with system.sessions() as s:
        merged = Path(s.get(TrainRun, train).output_dir)  # the merged AnalysisResults.root

    # the same tag run locally over the same files, as the guide's `hyperloop run-train`
    config = {
        "package_tag": TAG,
        "workflows": [
            {"workflow_name": "event-selection", "configuration": EVSEL},
            {"workflow_name": "sel8-spectra", "configuration": SPECTRA},
        ],
    }
    reference = reference_run(config, system.files, tmp_path / "ref", folder)

    with uproot.open(merged) as f:
        keys = set(f.keys(cycle=False))
    assert "sel8-spectra/pMeanPt" in keys, sorted(keys)
    assert "sel8-spectra/hDEtaMixed" in keys and "sel8-spectra/hMcPt" not in keys
    ours, theirs = (
        _profile(merged, "sel8-spectra/pMeanPt"),
        _profile(reference, "sel8-spectra/pMeanPt"),
    )
    assert ours["entries"].sum() > 0
    # entries per bin are counts: equal exactly; the sums of pT (means, errors) are added
    # per job then merged, in another order than one local pass: equal to rounding
    for name in ("entries", "bin_entries", "total_entries"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    for name in ("values", "errors", "sumw2"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=0, err_msg=name)
    assert_same_histograms(merged, reference)
    with uproot.open(merged) as f:
        assert f["sel8-spectra/hDEtaMixed"].values().sum() > 0
