"""The guide "Your own workflow package" (docs/workflows/own-package.md) followed as a user
would: the package of docs/examples/own_package/ copied to a fresh folder, the page's own
commands run (a real tag build, its introspection, a real ``hyperloop run-train`` on an AO2D
file), and the results checked against the file."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
from tests.docs.conftest import DOCS, EXAMPLES
from tests.factories import make_catalogue, random_dataframe

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.schema import MC_PHYSICAL_PRIMARY

PAGE = DOCS / "workflows" / "own-package.md"


def _page_commands() -> list[str]:
    """The command lines of the bash block of the section "Build the tag and run it"."""
    section = PAGE.read_text().split("## Build the tag and run it", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the section has a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _run_page_command(line: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command line of the page: ``VAR=value`` prefixes, then ``hyperloop ...`` (run with
    this interpreter, so with the project's environment)."""
    words = shlex.split(line)
    env = dict(os.environ)
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    assert words[0] == "hyperloop", line
    return subprocess.run(
        [sys.executable, "-m", "hyperloop", *words[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=300,
    )


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A fresh folder as the page describes it: the package, full_config.json and an
    input_data.txt listing one small AO2D file."""
    shutil.copytree(EXAMPLES / "own_package", tmp_path / "my-analysis")
    shutil.copy(EXAMPLES / "own_package_config.json", tmp_path / "full_config.json")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    ao2d = next(iter(catalogue.values()))[0][0]
    (tmp_path / "input_data.txt").write_text(f"{ao2d}\n")
    return tmp_path


def _expected(ao2d: str) -> dict[str, np.ndarray | int]:
    """From uproot, with the configuration of the page (sel8: |z| < 10 cm and at least 2
    contributors; tracks of sel8 collisions with |eta| < 0.9): collisions, the pT histogram,
    the entries and pT sums of <pT> vs the selected tracks of the collision, and the number
    of mixed-event track pairs (each sel8 collision with the next 2 of its 5 cm z bin)."""
    n_coll, pts, mults, mixed = 0, [], [], 0
    with uproot.open(ao2d) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            c = f[df]["O2collision_001"].arrays(["fPosZ", "fNumContrib"], library="np")
            t = f[df]["O2track"].arrays(["fIndexCollisions", "fSigned1Pt", "fTgl"], library="np")
            sel8 = (np.abs(c["fPosZ"]) < 10) & (c["fNumContrib"] >= 2)
            idx = t["fIndexCollisions"]
            ok = (idx >= 0) & (np.abs(np.arcsinh(t["fTgl"].astype(np.float64))) < 0.9)
            ok[ok] = sel8[idx[ok]]
            pts.append((np.float32(1) / np.abs(t["fSigned1Pt"][ok])).astype(np.float64))
            per_collision = np.bincount(idx[ok], minlength=len(sel8))
            mults.append(per_collision[idx[ok]])
            z_bin = np.floor(c["fPosZ"].astype(np.float64) / 5.0)
            for b in np.unique(z_bin[sel8]):
                n = per_collision[np.flatnonzero(sel8 & (z_bin == b))]
                mixed += sum(
                    int(n[i]) * int(n[j])
                    for i in range(len(n))
                    for j in range(i + 1, min(i + 3, len(n)))
                )
            n_coll += len(c["fPosZ"])
    pt, mult = np.concatenate(pts), np.concatenate(mults)
    prof = {"bins": 40, "range": (-0.5, 39.5)}
    return {
        "collisions": n_coll,
        "pt": np.histogram(pt, bins=50, range=(0.0, 5.0))[0],
        "mult_entries": np.histogram(mult, **prof)[0],
        "mult_pt_sum": np.histogram(mult, weights=pt, **prof)[0],
        "mixed_pairs": mixed,
    }


def test_own_package_guide_builds_a_tag_and_runs_it_as_a_train(user_folder):
    build, workflows, run_train = _page_commands()
    assert build.startswith("hyperloop package build my-analysis/")

    proc = _run_page_command(build, user_folder)
    assert proc.returncode == 0, proc.stderr
    assert "tag my-analysis-v0.1.0: my-analysis 0.1.0, 2 workflows" in proc.stdout
    tag = user_folder / "var" / "tags" / "my-analysis-v0.1.0"
    info = json.loads((tag / "tag.json").read_text())
    assert [w["name"] for w in info["workflows"]] == ["event-selection", "sel8-spectra"]
    assert not (tag / "tag.json").stat().st_mode & 0o222  # immutable: read-only
    again = _run_page_command(build, user_folder)  # the same tag name twice is refused
    assert again.returncode == 2 and "tags are immutable" in again.stderr

    proc = _run_page_command(workflows, user_folder)
    assert proc.returncode == 0, proc.stderr
    assert "my-analysis 0.1.0" in proc.stdout
    assert (
        "task sel8-spectra: 6 configurables; reads EvSels, Collisions, Tracks, McParticles"
        in proc.stdout
    )
    assert "produces EvSels" in proc.stdout

    proc = _run_page_command(run_train, user_folder)
    assert proc.returncode == 0, proc.stderr
    assert "1/1 files ok" in proc.stdout
    ao2d = (user_folder / "input_data.txt").read_text().strip()
    expected = _expected(ao2d)
    with uproot.open(user_folder / "out" / "AnalysisResults.root") as f:
        assert f["sel8-spectra/hSel8"].values().sum() == expected["collisions"]
        assert f["sel8-spectra/hPt"].values().tolist() == expected["pt"].tolist()
        assert expected["pt"].sum() > 0
        profile = f["sel8-spectra/pMeanPt"]  # a TProfile: entries and mean pT per bin
        assert profile.classname == "TProfile"
        assert profile.counts().tolist() == expected["mult_entries"].tolist()
        filled = expected["mult_entries"] > 0
        np.testing.assert_allclose(
            profile.values()[filled],
            expected["mult_pt_sum"][filled] / expected["mult_entries"][filled],
            rtol=1e-12,
        )
        assert f["sel8-spectra/hDEtaMixed"].values().sum() == expected["mixed_pairs"] > 0
        assert "sel8-spectra/hMcPt" not in f  # processMc off: MC histograms not booked
        assert "event-selection" in f.keys(recursive=False, cycle=False)


def test_a_train_without_the_service_says_which_workflow_to_add(user_folder):
    build, _, run_train = _page_commands()
    assert _run_page_command(build, user_folder).returncode == 0
    config = json.loads((user_folder / "full_config.json").read_text())
    config["workflows"] = [
        w for w in config["workflows"] if w["workflow_name"] != "event-selection"
    ]
    (user_folder / "full_config.json").write_text(json.dumps(config))
    proc = _run_page_command(run_train, user_folder)
    assert proc.returncode != 0
    assert "task sel8-spectra needs table EvSels" in proc.stderr
    assert "add a dependency on event-selection" in proc.stderr
    assert "Traceback" not in proc.stderr


def _write_mc_production(path: Path, seed: int = 11) -> None:
    """An AO2D of an MC production: the reconstructed tables of ``random_dataframe`` plus
    the generated particles (``O2mcparticle_001``: primaries flagged, some secondaries) and
    each track's MC label (``O2mctracklabel``: -1 for fakes)."""
    rng = np.random.default_rng(seed)
    with AO2DWriter(path) as writer:
        for df_id in (1, 2):
            tables = random_dataframe(rng, n_collisions=20, mean_tracks=8)
            n_tracks = len(tables["O2track"]["fSigned1Pt"])
            n_particles = n_tracks + 15
            flags = np.where(rng.random(n_particles) < 0.7, MC_PHYSICAL_PRIMARY, 0)
            tables["O2mcparticle_001"] = {
                "fPdgCode": rng.choice([211, -211, 321, 2212], n_particles).astype(np.int32),
                "fFlags": flags.astype(np.uint8),
                "fPx": rng.normal(0, 1.2, n_particles).astype(np.float32),
                "fPy": rng.normal(0, 1.2, n_particles).astype(np.float32),
                "fPz": rng.normal(0, 1.2, n_particles).astype(np.float32),
            }
            labels = rng.permutation(n_particles)[:n_tracks].astype(np.int32)
            labels[rng.random(n_tracks) < 0.1] = -1  # fakes
            tables["O2mctracklabel"] = {
                "fIndexMcParticles": labels,
                "fMcMask": np.zeros(n_tracks, np.uint16),
            }
            writer.write_dataframe(df_id, tables)


def test_the_mc_switch_on_an_mc_production_fills_generated_and_matched_spectra(user_folder):
    """The guide's workflow with ``"processMc": "true"`` on an MC production: the generated
    primaries and the tracks matched to them through their labels (|eta| < etaMax of the
    configuration), each at the generated pT, equal what uproot and numpy count."""
    build, _, run_train = _page_commands()
    assert _run_page_command(build, user_folder).returncode == 0
    ao2d = user_folder / "AO2D_mc.root"
    _write_mc_production(ao2d)
    (user_folder / "input_data.txt").write_text(f"{ao2d}\n")
    config = json.loads((user_folder / "full_config.json").read_text())
    task = next(w for w in config["workflows"] if w["workflow_name"] == "sel8-spectra")
    task["configuration"]["sel8-spectra"]["processMc"] = "true"
    (user_folder / "full_config.json").write_text(json.dumps(config))

    proc = _run_page_command(run_train, user_folder)
    assert proc.returncode == 0, proc.stderr

    generated, matched = [], []
    with uproot.open(ao2d) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            p = f[df]["O2mcparticle_001"].arrays(["fFlags", "fPx", "fPy"], library="np")
            t = f[df]["O2track"].arrays(["fTgl"], library="np")
            labels = f[df]["O2mctracklabel"]["fIndexMcParticles"].array(library="np")
            pt = np.hypot(p["fPx"].astype(np.float64), p["fPy"].astype(np.float64))
            primary = (p["fFlags"] & MC_PHYSICAL_PRIMARY) != 0
            generated.append(pt[primary])
            eta = np.arcsinh(t["fTgl"].astype(np.float64))
            ok = (labels >= 0) & (np.abs(eta) < 0.9)
            ok[ok] = primary[labels[ok]]
            matched.append(pt[labels[ok]])
    binning = {"bins": 50, "range": (0.0, 5.0)}
    want_gen = np.histogram(np.concatenate(generated), **binning)[0]
    want_rec = np.histogram(np.concatenate(matched), **binning)[0]
    with uproot.open(user_folder / "out" / "AnalysisResults.root") as f:
        assert f["sel8-spectra/hMcPt"].values().tolist() == want_gen.tolist()
        assert f["sel8-spectra/hMcRecPt"].values().tolist() == want_rec.tolist()
    assert 0 < want_rec.sum() < want_gen.sum()  # matched tracks are a subset of primaries
