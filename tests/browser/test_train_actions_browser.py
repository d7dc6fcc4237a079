"""Train actions with choices in Debian's chromium (SPEC §5): the operator clones a train with
another target, tag, slow and automatic-submission settings from its *Clone train* tab,
submits a tested train to another target than its test's from Train Submission and schedules
a derived-data wagon there; an analyzer requests a long train with choices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from tests.browser.conftest import screenshot
from tests.factories import introspection
from tests.served import uvicorn_app
from tests.web_pages.accounts import PASSWORD
from tests.web_pages.seed_trains import TrainWorld, seed

from hyperloop.core import enabling, tags, trains, wagons
from hyperloop.core.actor import Actor
from hyperloop.db.models import User
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TestStatus

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _more(url: str, world: TrainWorld) -> None:
    """A second target and a newer tag to choose, and a clone of the done train, tested."""
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        admin = Actor(s.scalars(select(User).where(User.username == "ada")).one())
        op = Actor(s.scalars(select(User).where(User.username == "oscar")).one())
        eight = trains.create_target(s, admin, name="grid-8core", cores=8)
        newer = tags.register_tag(s, admin, introspection(), artifact="/tags/t2", version="v2")
        tested = trains.clone_train(s, op, world.ids["done"])
        trains.start_test(s, tested.id)
        trains.finish_test(s, tested.id, TestStatus.DONE)
        alice = Actor(s.scalars(select(User).where(User.username == "alice")).one())
        trees = wagons.create_wagon(
            s,
            alice,
            world.ids["analysis"],
            name="trees",
            workflow="tree-maker",
            derived_tables=["MyTracks"],
        )
        enabling.enable_wagon(s, alice, trees.id, world.ids["dataset"])
        enabling.finish_test(
            s, enabling.current_test(s, trees.id, world.ids["dataset"]).id, TestStatus.DONE
        )
        s.flush()
        world.ids.update(eight=eight.id, newer_tag=newer.id, tested=tested.id, trees=trees.id)
    engine.dispose()


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TrainWorld]]:
    tmp = tmp_path_factory.mktemp("action-server")
    root = tmp / "outputs"
    root.mkdir()
    url = f"sqlite:///{tmp / 'hyperloop.db'}"
    world = seed(url, root / "work")
    _more(url, world)
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(tmp),
        "HYPERLOOP_OUTPUTS_ROOT": str(root),
        "HYPERLOOP_WORK_DIR": str(root / "work"),
        "HYPERLOOP_SCHEDULER_IN_SERVER": "false",
    }
    with uvicorn_app(settings, tmp, ready="/static/css/trains.css", timeout=60) as base:
        yield base, world


def _page(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    p.goto(base + "/login")
    p.get_by_label("Username").fill(username)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_url(base + "/")
    return context, p


@pytest.fixture
def op_page(browser, action_server) -> Iterator[object]:
    context, p = _page(browser, action_server[0], "oscar")
    yield p
    context.close()


def test_operator_clones_a_train_with_other_settings_from_its_clone_tab(
    op_page, action_server
) -> None:
    base, world = action_server
    page = op_page
    page.goto(f"{base}/train-run/{world.ids['done']}")
    page.get_by_role("link", name="Clone train").click()
    page.wait_for_url("**tab=clone")
    form = page.locator("#clone-form")
    # a type the wagons cannot run is refused with the API's message, nothing is created
    form.get_by_label("Type").select_option("linked_derived")
    form.get_by_role("button", name="Clone train").click()
    alert = form.get_by_role("alert")
    alert.filter(has_text="needs wagons with derived data").wait_for()
    assert "tab=clone" in page.url
    form.get_by_label("Type").select_option("analysis")
    form.get_by_label("Package tag").select_option(str(world.ids["newer_tag"]))
    form.get_by_label("Target").select_option(str(world.ids["eight"]))
    form.get_by_label("Slow train").check()
    form.get_by_label("Submit automatically").check()
    screenshot(page, "train-clone")
    form.get_by_role("button", name="Clone train").click()
    page.wait_for_url(lambda u: "/train-run/" in u and "tab=clone" not in u)
    lead = page.locator("p.lead").inner_text()
    assert "v2" in lead and "grid-8core" in lead
    assert "slow" in lead and "automatic submission" in lead
    assert (
        f"train run {world.ids['done']}"
        in page.get_by_role("region", name="Summary").locator("dl.facts").inner_text()
    )
    assert page.locator(".live-status").get_attribute("data-state") == "composed"
    assert page.errors == []


def test_operator_submits_a_tested_train_to_another_target(op_page, action_server) -> None:
    base, world = action_server
    page = op_page
    tested = world.ids["tested"]
    page.goto(f"{base}/train-submission?dataset_id={world.ids['dataset']}")
    row = page.locator("#composed-trains tbody tr").filter(
        has=page.get_by_role("link", name=str(tested), exact=True)
    )
    choice = row.get_by_label("Submit: target")
    assert choice.input_value() == str(world.ids["target"])  # the test's target first
    assert "grid-1core (1 cores, 4000 MB) (tested)" in choice.inner_text()
    choice.select_option(str(world.ids["eight"]))
    screenshot(page, "train-submit-target")
    with page.expect_navigation():  # the page reloads once the API submitted the train
        row.get_by_role("button", name="Submit").click()
    page.goto(f"{base}/train-run/{tested}")
    assert page.locator(".live-status").get_attribute("data-state") == "submitted"
    assert "target grid-8core" in page.locator("p.lead").inner_text()
    history = page.locator("ol.history").inner_text()
    assert "submitted to target grid-8core (tested for grid-1core)" in history
    assert page.errors == []


def test_analyzer_requests_a_long_train_with_choices_from_its_tab(browser, action_server) -> None:
    base, world = action_server
    context, page = _page(browser, base, "alice")
    try:
        page.goto(f"{base}/train-run/{world.ids['short_done']}")
        page.get_by_role("link", name="Request long train").click()
        page.wait_for_url("**tab=long_train")
        form = page.locator("#long-train-form")
        assert form.get_by_label("Dataset").inner_text().strip() == "LHC23_pp_pass4"
        wagon = form.get_by_label("spectra_new")
        wagon.uncheck()
        form.get_by_role("button", name="Compose and request approval").click()
        form.get_by_role("alert").filter(has_text="wagon_ids").wait_for()
        wagon.check()
        form.get_by_label("Target").select_option(str(world.ids["eight"]))
        form.get_by_label("Submit automatically after approval").check()
        screenshot(page, "train-long-train-request")
        form.get_by_role("button", name="Compose and request approval").click()
        page.wait_for_url(lambda u: "/train-run/" in u and "tab=long_train" not in u)
        assert page.locator(".live-status").get_attribute("data-state") == "long_train_requested"
        lead = page.locator("p.lead").inner_text()
        assert "LHC23_pp_pass4" in lead and "short dataset" not in lead
        assert "grid-8core" in lead and "automatic submission" in lead
        assert (
            "Long train requested by"
            in page.get_by_role("region", name="Summary").locator("dl.facts").inner_text()
        )
        assert page.errors == []
    finally:
        context.close()


def test_operator_schedules_a_derived_data_wagon_on_the_submission_page(
    op_page, action_server
) -> None:
    base, world = action_server
    page = op_page
    page.goto(f"{base}/train-submission?dataset_id={world.ids['dataset']}")
    section = page.locator("#derived-schedule")
    assert "no active automatic composition" in section.inner_text()
    row = section.locator(f'tr[data-wagon-id="{world.ids["trees"]}"]')
    assert row.get_attribute("data-scheduled") == "false"
    assert "not scheduled" in row.locator(".schedule-state").inner_text()
    # slim derived data needs a wagon marked ready: the API's reason is shown
    row.get_by_label("Train type of trees").select_option("slim_derived")
    row.get_by_role("button", name="Schedule").click()
    row.get_by_role("alert").filter(has_text="not ready for slim derived data").wait_for()
    row.get_by_label("Train type of trees").select_option("linked_derived")
    row.get_by_label("Slow train for trees").check()
    row.get_by_label("Automatic submission for trees").check()
    with page.expect_navigation():
        row.get_by_role("button", name="Schedule").click()
    row = page.locator(f'#derived-schedule tr[data-wagon-id="{world.ids["trees"]}"]')
    assert row.get_attribute("data-scheduled") == "true"
    state = row.locator(".schedule-state").inner_text()
    assert "linked derived, slow, automatic submission (by oscar)" in state
    screenshot(page, "train-submission-derived-schedule")
    with page.expect_navigation():
        row.get_by_role("button", name="Unschedule").click()
    row = page.locator(f'#derived-schedule tr[data-wagon-id="{world.ids["trees"]}"]')
    assert row.get_attribute("data-scheduled") == "false"
    assert page.errors == []
