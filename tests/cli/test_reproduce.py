"""``hyperloop reproduce URL`` against a real server (uvicorn): a job that really ran (its
attempt folder made by the grid executor) is downloaded through the API with a token and
re-run locally; the reproduced AnalysisResults.root equals the job's bin by bin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.served import uvicorn_app
from tests.story_cause import BY_TEST

from hyperloop.analysis.compare import compare_files
from hyperloop.cli.reproduce_cmd import ReproduceError, Target, _explain, parse_url
from hyperloop.core.storage_roots import StorageRoots

RUN = 500001


@dataclass
class Site:
    base: str
    token: str
    revoked: str
    job_id: int
    job_results: Path
    wagon_test_id: int
    train_id: int
    catalogue: list[str]
    home: Path


def _introspection() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "hyperloop", "workflows", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def _seed(url: str, data: Path, work: Path) -> dict:
    """A world where a train with one spectra wagon (+ services, a subwagon) was tested,
    submitted and its job ran on the grid executor (attempt folder under the work dir)."""
    from hyperloop.core import analyses, datasets, enabling, jobs, runlists, tags, trains, users
    from hyperloop.core import wagons as wagons_service
    from hyperloop.core.actor import Actor
    from hyperloop.core.full_config import build_full_config
    from hyperloop.db.migrate import upgrade
    from hyperloop.db.models import Job
    from hyperloop.db.session import make_engine, make_sessionmaker
    from hyperloop.enums import JobState, Role, TestStatus
    from hyperloop.grid.execute import execute_attempt
    from hyperloop.grid.splitting import JobSpec
    from hyperloop.grid.targets import Target as GridTarget

    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        operator = Actor(users.create_user(s, "operator", roles=[Role.OPERATOR]))
        alice = Actor(users.create_user(s, "alice"))
        tag = tags.register_tag(s, admin, _introspection(), artifact="installed")
        service = analyses.create_analysis(s, admin, "Core", "DPG", service=True)
        lf = analyses.create_analysis(s, admin, "LF", "PWG-LF")
        analyses.add_member(s, admin, lf.id, alice.user.id)
        analyses.add_member(s, admin, service.id, admin.user.id)
        rl = runlists.create_runlist(s, admin, "demo_pass1", [RUN])
        ds = datasets.create_dataset(s, operator, "demo", collision_system="pp")
        prod = datasets.add_production(s, operator, ds.id, "pass1", runlist_id=rl.id)
        datasets.import_directory(s, operator, prod.id, data, roots=StorageRoots.parse([data]))
        datasets.set_active(s, operator, ds.id, True)
        for a in (lf, service):
            analyses.add_dataset(s, admin, a.id, ds.id)
        evsel = wagons_service.create_wagon(
            s, admin, service.id, name="evsel", workflow="event-selection"
        )
        # the demo data store tracks at their innermost point: selections need them at the
        # vertex (track-propagation), as real Run 3 wagons declare
        prop = wagons_service.create_wagon(
            s, admin, service.id, name="prop", workflow="track-propagation"
        )
        trk = wagons_service.create_wagon(
            s, admin, service.id, name="trksel", workflow="track-selection", dependencies=[prop.id]
        )
        mult = wagons_service.create_wagon(
            s, admin, service.id, name="mult", workflow="multiplicity", dependencies=[trk.id]
        )
        spectra = wagons_service.create_wagon(
            s,
            alice,
            lf.id,
            name="spectra",
            workflow="spectra-charged",
            dependencies=[evsel.id, trk.id, mult.id],
            subwagons={"eta05": {"spectra-charged": {"etaMax": "0.5"}}},
        )
        enabling.enable_wagon(s, alice, spectra.id, ds.id)
        test = enabling.current_test(s, spectra.id, ds.id)
        enabling.finish_test(s, test.id, TestStatus.DONE)
        target = trains.create_target(s, admin, name="local-1core", cores=1)
        train = trains.compose_train(s, operator, ds.id, [spectra.id], target_id=target.id)
        trains.start_test(s, train.id)
        trains.finish_test(s, train.id, TestStatus.DONE)
        trains.submit_train(s, operator, train.id)
        files = sorted(str(p) for p in data.rglob("AO2D_*.root"))
        jobs.add_jobs(s, train.id, [jobs.JobSpec(RUN, files)], cause=BY_TEST)
        s.flush()
        job = s.scalars(select(Job).where(Job.train_run_id == train.id)).one()
        jobs.set_job_state(s, job.id, JobState.RUNNING, cause=BY_TEST)
        rec = execute_attempt(
            JobSpec(f"job-{job.id}", RUN, 0, tuple(job.files)),
            build_full_config(train, tag),
            GridTarget("local-1core", cores=1, memory_limit_bytes=4 * 10**9, wall_time_limit_s=600),
            work / "trains" / str(train.id) / "jobs",
            1,
        )
        assert rec.ok, rec.message
        jobs.set_job_state(
            s, job.id, JobState.DONE, cpu_s=rec.cpu_s, wall_s=rec.wall_s, cause=BY_TEST
        )
        token = users.create_api_token(s, alice.user, "reproduce")[1]
        old, revoked = users.create_api_token(s, alice.user, "old")
        old.revoked = True
        out = {
            "token": token,
            "revoked": revoked,
            "job_id": job.id,
            "job_results": Path(rec.folder) / "AnalysisResults.root",
            "wagon_test_id": test.id,
            "train_id": train.id,
            "catalogue": files,
        }
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from hyperloop.demo import generate_dataset

    root = tmp_path_factory.mktemp("reproduce")
    generate_dataset(
        root / "data", [RUN], 400, fast=True, pool_size=150, dfs_per_file=2, events_per_df=100
    )
    url = f"sqlite:///{root / 'hyperloop.db'}"
    seeded = _seed(url, root / "data", root / "work")
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(root),
        "HYPERLOOP_STORAGE_ROOTS": json.dumps([str(root / "data")]),
    }
    with uvicorn_app(settings, root, timeout=60) as base:
        home = root / "home"
        home.mkdir()
        yield Site(base=base, home=home, **seeded)


def reproduce(site: Site, *args: str, token: str | None = None, cwd: Path | None = None):
    env = os.environ | {"XDG_CONFIG_HOME": str(site.home), "HOME": str(site.home)}
    env.pop("HYPERLOOP_TOKEN", None)
    if token is not None:
        env["HYPERLOOP_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "hyperloop", "reproduce", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.slow
def test_a_job_is_reproduced_bin_by_bin(site: Site, tmp_path: Path):
    out = tmp_path / "again"
    done = reproduce(site, f"{site.base}/job/{site.job_id}", "--out", str(out), token=site.token)
    assert done.returncode == 0, done.stderr + done.stdout
    reproduced = out / "output" / "AnalysisResults.root"
    assert f"Outputs in {out / 'output'}" in done.stdout
    assert str(reproduced) in done.stdout
    result = compare_files(site.job_results, reproduced)
    assert len(result) > 10
    assert {r.verdict for r in result} == {"identical"}
    assert any(r.path.startswith("spectra-chargedeta05/") for r in result)  # the subwagon
    assert "identical histograms" in done.stdout
    # what it ran: the job's own configuration and files
    config = json.loads((out / "full_config.json").read_text())
    assert [w["workflow_name"] for w in config["workflows"]][-2:] == [
        "spectra-charged",
        "spectra-charged",
    ]
    assert (out / "input_data.txt").read_text().split() == site.catalogue


@pytest.mark.slow
def test_wagon_test_and_train_test_with_token_file(site: Site, tmp_path: Path):
    (site.home / "hyperloop").mkdir(exist_ok=True)
    (site.home / "hyperloop" / "token").write_text(site.token + "\n")
    for page, ident in (("wagon-test", site.wagon_test_id), ("train-test", site.train_id)):
        out = tmp_path / page
        done = reproduce(site, f"{site.base}/{page}/{ident}", "-o", str(out), "--dry-run")
        assert done.returncode == 0, done.stderr + done.stdout
        config = json.loads((out / "full_config.json").read_text())
        names = [w["workflow_name"] for w in config["workflows"]]
        assert set(names) == {
            "track-propagation",
            "event-selection",
            "track-selection",
            "multiplicity",
            "spectra-charged",
        }
        assert [
            w["suffix"] for w in config["workflows"] if w["workflow_name"] == "spectra-charged"
        ] == [
            "",
            "eta05",
        ]
        # the test sample: the first catalogue files
        assert (out / "input_data.txt").read_text().split() == site.catalogue[:2]
        plan = json.loads(done.stdout[done.stdout.index("{") :])
        assert plan  # run-train --dry-run printed its plan
    (site.home / "hyperloop" / "token").unlink()


@pytest.mark.slow
def test_errors_are_clear(site: Site, tmp_path: Path):
    no_token = reproduce(site, f"{site.base}/job/{site.job_id}")
    assert no_token.returncode == 2
    assert "needs a valid API token" in no_token.stderr and "--token" in no_token.stderr

    revoked = reproduce(site, f"{site.base}/job/{site.job_id}", token=site.revoked)
    assert revoked.returncode == 2 and "was refused" in revoked.stderr
    assert "$HYPERLOOP_TOKEN" in revoked.stderr

    missing = reproduce(site, f"{site.base}/job/99999", "--token", site.token)
    assert missing.returncode == 2
    assert "job 99999 does not exist" in missing.stderr and "404" in missing.stderr

    bad = reproduce(site, f"{site.base}/dataset/1", token=site.token)
    assert bad.returncode == 2 and "expected the URL of a Hyperloop page" in bad.stderr

    down = reproduce(site, "http://127.0.0.1:9/job/1", token=site.token)
    assert down.returncode == 2 and "cannot reach http://127.0.0.1:9" in down.stderr
    assert not list(tmp_path.iterdir())  # nothing written on errors


@pytest.mark.slow
def test_catalogue_files_download_and_nothing_else(site: Site):
    headers = {"Authorization": f"Bearer {site.token}"}
    doc = httpx.get(f"{site.base}/api/jobs/{site.job_id}/reproduce", headers=headers).json()
    assert doc["inputs"] == site.catalogue and doc["source"].endswith("attempt-1")
    first = site.catalogue[0]
    got = httpx.get(site.base + doc["input_downloads"][first], headers=headers)
    assert got.status_code == 200 and got.content == Path(first).read_bytes()
    secret = httpx.get(
        f"{site.base}/api/dataset-files/content", params={"path": "/etc/passwd"}, headers=headers
    )
    assert secret.status_code == 404 and "not a file of any dataset" in secret.json()["message"]


def test_page_urls_are_parsed_and_others_refused():
    assert parse_url("https://hl.example.org/job/12") == Target("https://hl.example.org", "job", 12)
    t = parse_url("http://host:8000/prefix/wagon-test/7/")
    assert (t.base, t.page, t.ident) == ("http://host:8000/prefix", "wagon-test", 7)
    assert t.api == "http://host:8000/prefix/api/wagon-tests/7/reproduce"
    assert parse_url("http://h/train-test/3").api == "http://h/api/train-tests/3/reproduce"
    for bad in ("job/12", "ftp://h/job/1", "http://h/job/x", "http://h/wagon/3"):
        with pytest.raises(ReproduceError, match="expected the URL of a Hyperloop page"):
            parse_url(bad)


def test_forbidden_answer_names_the_object():
    target = parse_url("http://h/train-test/3")
    text = _explain(403, target, {"message": "operators only"}, "--token")
    assert text == "you may not read train test 3 on http://h (403: operators only)"
