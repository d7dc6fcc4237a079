"""Issue 17 on the running system (server, scheduler, Dask scheduler and workers as
processes), driven through the API as users do: mergelists and final mergelists merged and
shown on the train's merging and outputs pages; a dataset staged to the facility storage
(confirmation of the data amount, progress, verified copies, notifications) and unstaged;
a train stuck after its merges or with a failed final merge listed as a train with issues,
the operators e-mailed why, what to do and an absolute link."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from tests.e2e.system import System
from tests.factories import RUNS
from tests.grid.helpers import assert_same_histograms, config, reference_run

A, B, C = RUNS
PUBLIC = "https://hyperloop.example.org"


def _files_of(system: System, *runs: int) -> list[str]:
    return [f for f in system.files if any(f"/{r}/" in f for r in runs)]


def _post(system: System, path: str, body: dict | None = None, user: str = "admin", ok=200):
    with system.client(user) as c:
        r = c.post(path, json=body) if body is not None else c.post(path)
    assert r.status_code == ok, f"POST {path}: {r.status_code} {r.text[:500]}"
    return r.json()


def _kinds(system: System, user: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in system.get("/api/notifications?limit=100", user)["items"]:
        out.setdefault(n["kind"], []).append(n["message"])
    return out


def _mails(system: System) -> list[email.message.EmailMessage]:
    folder = system.root / "var" / "mail"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


@pytest.mark.slow
def test_mergelists_and_final_mergelists_are_merged_and_shown(system: System, tmp_path):
    ds = f"/api/datasets/{system.dataset_id}"
    _post(system, f"{ds}/mergelists", {"name": "low", "runs": [A, B]}, ok=201)
    _post(system, f"{ds}/mergelists", {"name": "high", "runs": [B, C]}, ok=201)
    _post(system, f"{ds}/final-mergelists", {"name": "both", "mergelists": ["low", "high"]}, ok=201)
    train = system.train([system.wagon("gt-pt")])
    assert system.wait_train(train) == "done"

    merging = system.get(f"/api/train-runs/{train}/merging")
    mls = {m["name"]: m for m in merging["mergelists"]}
    assert (mls["low"]["runs_merged"], mls["high"]["runs_merged"]) == ([A, B], [B, C])
    assert mls["low"]["file"] and mls["high"]["file"]
    [both] = merging["final_mergelists"]
    assert (both["name"], both["runs_merged"], both["runs_missing"]) == ("both", [A, B, C], [])
    assert merging["final"]["done"] and merging["final"]["runs_merged"] == [A, B, C]
    outputs = system.get(f"/api/train-runs/{train}/outputs")
    labels = [r["label"] for r in outputs["results"]]
    assert labels[:4] == ["final merge", "final mergelist both", "mergelist high", "mergelist low"]

    var = system.root / "var"
    ref = tmp_path / "ref"
    low = reference_run(config("gt-pt"), _files_of(system, A, B), ref / "low", system.package)
    assert_same_histograms(var / mls["low"]["file"]["path"], low)
    # run B is in both mergelists: the final mergelist counts it once, like the final merge
    every = reference_run(config("gt-pt"), system.files, ref / "all", system.package)
    assert_same_histograms(var / both["file"]["path"], every)
    assert_same_histograms(var / merging["final"]["file"]["path"], every)
    with system.client("alice") as c:
        page = c.get(f"/train-run/{train}?tab=merging")
    assert page.status_code == 200 and "Final mergelists" in page.text and "both" in page.text


@pytest.mark.slow
def test_a_dataset_is_staged_read_by_its_facility_trains_and_unstaged(system_factory, tmp_path):
    system = system_factory(staging_confirm_bytes="1000")  # the small dataset is "big"
    ds = f"/api/datasets/{system.dataset_id}"
    requested = _post(system, f"{ds}/staging", {"target": "af-e2e"}, ok=201)
    assert requested["state"] == "awaiting_confirmation"
    assert requested["files_total"] == len(system.files)
    total = sum(Path(f).stat().st_size for f in system.files)
    assert requested["bytes_total"] == total
    assert "staging_confirmation" in _kinds(system, "admin")
    _post(system, f"{ds}/staging", {"target": "af-e2e"}, ok=409)  # one at a time
    with system.client("alice") as c:  # analyzers may not confirm
        assert (
            c.post(f"/api/datasets/staging-transfers/{requested['id']}/confirm").status_code == 403
        )
    confirmed = _post(system, f"/api/datasets/staging-transfers/{requested['id']}/confirm")
    assert (confirmed["state"], confirmed["confirmed_by"]) == ("requested", "admin")

    def ended():
        [t] = [t for t in system.get(f"{ds}/staging")["items"] if t["id"] == requested["id"]]
        return t if t["state"] in ("done", "failed") else None

    staged = system.wait_for("the staging transfer", ended, timeout=120)
    assert (staged["state"], staged["error"]) == ("done", None), staged
    assert (staged["files_done"], staged["bytes_done"], staged["progress"]) == (
        len(system.files),
        total,
        1.0,
    )
    where = Path(staged["location"])
    assert where == system.root / "var" / "staged" / "af-e2e" / f"dataset-{system.dataset_id}"
    copies = sorted(where.rglob("*.root"))
    assert sorted(p.read_bytes() for p in copies) == sorted(
        Path(f).read_bytes() for f in system.files
    )
    overview = system.get(f"{ds}/overview")
    [shown] = overview["staging"]
    assert (shown["state"], shown["files_done"], shown["location"]) == (
        "done",
        len(system.files),
        str(where),
    )
    assert any("is staged to af-e2e" in m for m in _kinds(system, "alice")["dataset_staged"])
    with system.client("alice") as c:
        page = c.get(f"/dataset/{system.dataset_id}").text
    n = len(system.files)
    assert f"{n}/{n} files" in page and str(where) in page

    # a train run on the facility's target reads the staged copies, not the catalogue's files
    facility = _post(
        system, "/api/targets", {"name": "af-e2e", "cores": 1, "memory_limit_mb": 4000}, ok=201
    )
    system.target_ids["af-e2e"] = facility["id"]
    train = system.train([system.wagon("gt-pt")], target="af-e2e")
    assert system.wait_train(train) == "done"
    jobs = system.get(f"/api/jobs?train_run_id={train}&limit=500")["items"]
    read = set()
    for job in jobs:
        read |= set(system.get(f"/api/jobs/{job['id']}")["files"])
    assert read == {str(p) for p in copies}
    story = system.get(f"/api/jobs/{jobs[0]['id']}/story")
    assert f"reading the copy staged to af-e2e ({where})" in str(story)
    reference = reference_run(config("gt-pt"), system.files, tmp_path / "ref", system.package)
    merging = system.get(f"/api/train-runs/{train}/merging")
    assert_same_histograms(system.root / "var" / merging["final"]["file"]["path"], reference)

    unstage = _post(system, f"{ds}/staging", {"target": "af-e2e", "action": "unstage"}, ok=201)
    assert unstage["state"] == "requested"  # unstaging moves no data: no confirmation
    system.wait_for(
        "the copies to be deleted",
        lambda: not where.exists() and system.get(f"{ds}/staging")["items"][0]["state"] == "done",
        timeout=60,
    )
    assert "dataset_unstaged" in _kinds(system, "alice")


@pytest.mark.slow
def test_trains_stuck_in_merging_are_trains_with_issues_and_operators_are_mailed(
    system_factory,
):
    system = system_factory(
        public_url=PUBLIC, scheduler_max_attempts="1", scheduler_max_files_per_job="1"
    )
    _post(
        system,
        "/api/users",
        {"username": "ops", "roles": ["operator"], "email": "ops@example.org"},
        ok=201,
    )
    wagon, other = system.wagon("gt-pt"), system.wagon("gt-pt")  # one train each
    # 1. one job of run C fails for good: runs A, B merged, no final merge (slow train)
    first = system.train([wagon], submit=False)
    system.wait_train(first, ("test_done", "test_warning"))
    broken = Path(_files_of(system, C)[-1])  # not in the test sample (the first files)
    original = broken.read_bytes()
    broken.write_bytes(b"x" * len(original))  # not a ROOT file any more: an input error
    _post(system, f"/api/train-runs/{first}/submit")

    def issue(train_id: int):
        rows = system.get("/api/train-runs/with-issues")["items"]
        return next((r["issue"] for r in rows if r["id"] == train_id), None)

    why = system.wait_for("the first train to have issues", lambda: issue(first), timeout=180)
    assert why == "merges final (2 runs merged) but no final merge", why
    merging = system.get(f"/api/train-runs/{first}/merging")
    assert merging["runs_merged"] == [A, B] and merging["runs_missing"] == [C]

    # 2. the final merge cannot write its output: the train stays merging, not done
    broken.write_bytes(original)
    second = system.train([other], submit=False)
    system.wait_train(second, ("test_done", "test_warning"))
    blocker = system.root / "var" / "work" / "trains" / str(second) / "merged" / "final"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the final merge's folder goes")
    _post(system, f"/api/train-runs/{second}/submit")
    why = system.wait_for("the second train to have issues", lambda: issue(second), timeout=180)
    assert why.startswith("final merge failed (") and why.endswith("the train is not done"), why
    assert system.get(f"/api/train-runs/{second}")["state"] == "merging"

    def mail_about(train_id: int):
        found = [m for m in _mails(system) if f"train {train_id}:" in m["Subject"]]
        return found[0] if found else None

    for train_id in (first, second):
        message = system.wait_for(
            f"the e-mail about train {train_id}", lambda t=train_id: mail_about(t)
        )
        assert message["To"] == "ops@example.org"
        body = message.get_content()
        assert "What to do: Operators decide on the train's page" in body
        assert body.rstrip().endswith(f"Open: {PUBLIC}/train-run/{train_id}"), body
    assert "final merge failed" in mail_about(second).get_content()

    # the operator fixes the cause and asks for the final merge: it is tried again
    blocker.unlink()
    _post(system, f"/api/train-runs/{second}/final-merge")
    assert system.wait_train(second, ("done",), timeout=120) == "done"
    merging = system.get(f"/api/train-runs/{second}/merging")
    assert merging["final"]["done"] and merging["final"]["runs_merged"] == [A, B, C]
    assert issue(second) is None


@pytest.mark.slow
def test_dataset_notifications_short_datasets_and_missing_production_folders(system_factory):
    system = system_factory(start=("server",))  # dataset management needs no scheduler
    ds = f"/api/datasets/{system.dataset_id}"
    wagon = system.wagon("gt-pt", name="spectra")
    short = _post(system, f"{ds}/short-datasets", {"name": "LHC26_e2e_short"}, ok=201)
    assert system.get(f"{ds}/overview")["analyses"] == []  # the parent left the analysis
    enabled = system.get(f"/api/wagons/{wagon}/datasets", "alice")
    assert not any(e["dataset_id"] == system.dataset_id and e["enabled"] for e in enabled)
    [added] = _kinds(system, "alice")["short_dataset_added"]
    assert "removed from your analysis" in added and "spectra" in added
    with system.client("admin") as c:
        assert c.put(f"/api/datasets/{short['id']}/active", json={"active": True}).is_success
        link = {"dataset_id": short["id"]}
        assert c.post(f"/api/analyses/{system.analysis_id}/datasets", json=link).is_success
        assert c.delete(f"/api/datasets/{short['id']}").status_code == 204
    assert "short_dataset_removed" in _kinds(system, "alice")

    # a production whose runlist has a run without a folder
    runlist = _post(system, "/api/runlists", {"name": "LHC26_e2e_pass2", "runs": [*RUNS, 999999]},
                    ok=201)  # fmt: skip
    prod = _post(
        system,
        f"{ds}/productions",
        {"name": "p2", "kind": "runlist", "runlist_id": runlist["id"]},
        ok=201,
    )
    data = str(system.root / "data")
    _post(system, f"{ds}/productions/{prod['id']}/files", {"directory": data})
    [missing] = _kinds(system, "admin")["production_dir_not_found"]
    assert "1 run(s) of runlist 'LHC26_e2e_pass2': 999999" in missing and data in missing
