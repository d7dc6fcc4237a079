"""Fair-usage policy tiers (the original's "Fair usage policy"): a train test whose expected
CPU needs Physics Board approval cannot be submitted by an operator without it; the approval
is recorded with who approved; lower tiers cannot give it."""

from __future__ import annotations

from sqlalchemy import update
from tests.factories import ApiWorld

from hyperloop.db.models import TrainRun
from hyperloop.db.session import make_engine

CPU_YEAR_HOURS = 8766.0


def set_expected_cpu(world: ApiWorld, train_id: int, cpu_years: float) -> None:
    """The train test's extrapolation, as the scheduler records it (expected CPU seconds)."""
    engine = make_engine(world.url)
    with engine.begin() as conn:
        cpu_s = cpu_years * CPU_YEAR_HOURS * 3600.0
        expected = {
            "expected": {
                "scale": 1000.0,
                "cpu_seconds": cpu_s,
                "wall_seconds": cpu_s,
                "output_bytes": 1e9,
                "jobs": 100,
                "co2_kg": cpu_s / 3600.0 * 0.02 * 0.301,
                "memory_class": "single-core",
            }
        }
        conn.execute(update(TrainRun).where(TrainRun.id == train_id).values(test_metrics=expected))
    engine.dispose()


def test_physics_board_train_waits_for_the_board_approval(as_role, world: ApiWorld) -> None:
    train = world.ids["train"]
    set_expected_cpu(world, train, 250.0)
    oscar, connie, ada = as_role("operator"), as_role("pwg_convener"), as_role("admin")

    found = oscar.get(f"/api/train-runs/{train}/policy").json()
    assert (found["level"], found["label"]) == ("physics_board", "Physics Board")
    assert found["satisfied"] is False and found["can_approve"] is False
    assert "250.0 CPU years" in found["reason"]

    refused = oscar.post(f"/api/train-runs/{train}/submit")
    assert refused.status_code == 409
    assert "needs Physics Board approval" in refused.json()["message"]
    assert f"train run {train}" in refused.json()["message"]

    # a PWG convener of the train's PWG is not enough for this tier
    denied = connie.post(f"/api/train-runs/{train}/policy-approval", json={})
    assert denied.status_code == 403
    assert "Physics Board" in denied.json()["message"]

    # the admin makes dora a Physics Board member; she approves with a comment
    roles = ada.put("/api/users/dora/roles", json={"roles": ["dpg_expert", "physics_board"]})
    assert roles.status_code == 200, roles.text
    dora = as_role("dpg_expert")
    assert dora.get(f"/api/train-runs/{train}/policy").json()["can_approve"] is True
    approved = dora.post(
        f"/api/train-runs/{train}/policy-approval", json={"comment": "PB meeting 2026-12-03"}
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["approved"] is True and body["satisfied"] is True
    [approval] = body["approvals"]
    assert approval["approved_by"] == "dora"
    assert approval["approved_by_id"] == world.user_ids["dpg_expert"]
    assert approval["level"] == "physics_board"
    assert approval["comment"] == "PB meeting 2026-12-03"
    again = dora.post(f"/api/train-runs/{train}/policy-approval", json={})
    assert again.status_code == 409

    history = oscar.get(f"/api/train-runs/{train}/history").json()["items"]
    assert any("approved by Physics Board (dora)" in (h.get("reason") or "") for h in history), (
        history
    )

    submitted = oscar.post(f"/api/train-runs/{train}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"


def test_tiers_follow_the_expected_cpu(as_role, world: ApiWorld) -> None:
    train = world.ids["train"]
    oscar = as_role("operator")
    expected = {0.5: "none", 5.0: "pwg", 50.0: "coordination", 201.0: "physics_board"}
    for years, level in expected.items():
        set_expected_cpu(world, train, years)
        assert oscar.get(f"/api/train-runs/{train}/policy").json()["level"] == level, years


def test_a_convener_approves_a_pwg_tier_train(as_role, world: ApiWorld) -> None:
    train = world.ids["train"]
    set_expected_cpu(world, train, 5.0)
    oscar, connie = as_role("operator"), as_role("pwg_convener")
    assert oscar.post(f"/api/train-runs/{train}/submit").status_code == 409
    assert oscar.post(f"/api/train-runs/{train}/policy-approval", json={}).status_code == 403
    approved = connie.post(f"/api/train-runs/{train}/policy-approval", json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approvals"][0]["approved_by"] == "connie"
    assert oscar.post(f"/api/train-runs/{train}/submit").json()["state"] == "submitted"


def test_the_train_page_shows_the_tier_and_the_approve_button(as_role, world: ApiWorld) -> None:
    train = world.ids["train"]
    set_expected_cpu(world, train, 5.0)
    page = as_role("pwg_convener").get(f"/train-run/{train}")
    assert page.status_code == 200
    html = page.text
    assert 'data-level="pwg"' in html and "PWG conveners" in html
    assert "needs PWG conveners approval before it can be submitted" in html
    assert f'data-url="/api/train-runs/{train}/policy-approval"' in html
    # the operator sees the tier, not the button
    seen = as_role("operator").get(f"/train-run/{train}?tab=test").text
    assert 'data-level="pwg"' in seen and "policy-approval" not in seen
    as_role("pwg_convener").post(f"/api/train-runs/{train}/policy-approval", json={})
    after = as_role("operator").get(f"/train-run/{train}").text
    assert 'id="policy-approvals"' in after and "connie (PWG conveners" in after
    assert "policy-missing" not in after
