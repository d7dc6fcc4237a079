"""Issue 18 item 15: the e-mail view — a user reads the e-mails the system queued for them
(as they receive them, sent or not yet), an admin every e-mail, filtered by recipient
(page ``/emails`` and ``GET /api/emails``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import MEMBER, READER, Seeded, seeded_copy

from hyperloop.core import notifications
from hyperloop.db.base import utcnow
from hyperloop.db.models import Analysis, EmailOutbox, WagonTest
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import EmailPolicy
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> tuple[object, Seeded]:
    """The failed test of wagon strange e-mailed to every LF analyzer (alice, bob); bob's
    e-mail already sent."""
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp_path_factory.mktemp("emails"), realdata)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        s.get(Analysis, seeded.ids["lf"]).email_policy = EmailPolicy.ALL
        test = s.get(WagonTest, seeded.ids["test_failed"])
        notifications.notify_test_failed(s, test, public_url="https://hyperloop.example.org")
        for e in s.query(EmailOutbox).filter_by(to_address=f"{MEMBER}@example.org"):
            e.sent_at = utcnow()
    engine.dispose()
    settings = load_settings(database_url=url, outputs_root=outputs, work_dir=outputs)
    return create_app(settings), seeded


def _login(app, username: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def client(world, username) -> Iterator[TestClient]:
    with _login(world[0], username) as c:
        yield c


@pytest.fixture(scope="module")
def alice(world):
    yield from client(world, ANALYZER)


@pytest.fixture(scope="module")
def admin(world):
    yield from client(world, ADMIN)


@pytest.fixture(scope="module")
def reader(world):
    yield from client(world, READER)


def test_a_user_reads_the_emails_sent_to_them(alice, world) -> None:
    failed = world[1].ids["test_failed"]
    mails = alice.get("/api/emails").json()["items"]
    assert {m["to_address"] for m in mails} == {"alice@example.org"}
    mail = mails[0]  # the newest: the e-mail of the policy "all analyzers"
    assert mail["subject"] == f"[Hyperloop] wagon test {failed} of wagon 'strange' failed"
    assert f"https://hyperloop.example.org/wagon-test/{failed}" in mail["body"]
    assert mail["sent_at"] is None
    page = alice.get("/emails").text
    assert "<title>E-mails · Hyperloop</title>" in page
    assert f"wagon test {failed} of wagon &#39;strange&#39; failed" in page
    assert "not sent yet" in page
    assert "ZeroDivisionError" in page  # the body says why
    assert "bob@example.org" not in page  # not somebody else's e-mail
    assert 'name="to"' not in page  # the recipient filter is for admins
    assert alice.get("/api/emails", params={"to": "bob@example.org"}).json()["items"] == mails
    assert 'href="/emails"' in alice.get("/notifications").text


def test_an_admin_sees_every_email_and_filters_by_recipient(admin) -> None:
    every = admin.get("/api/emails").json()
    assert {"alice@example.org", "bob@example.org"} <= {e["to_address"] for e in every["items"]}
    bobs = admin.get("/api/emails", params={"to": "bob@example.org"}).json()["items"]
    assert bobs and {e["to_address"] for e in bobs} == {"bob@example.org"}
    assert all(e["sent_at"] is not None for e in bobs)
    page = admin.get("/emails", params={"to": "bob@example.org"}).text
    assert "Every e-mail the system queued or sent" in page
    assert 'value="bob@example.org"' in page and "alice@example.org" not in page
    assert '<span class="pill pill-on">sent</span>' in page


def test_a_user_without_emails_sees_none(reader) -> None:
    assert reader.get("/api/emails").json()["items"] == []
    assert "No e-mail yet." in reader.get("/emails").text
    assert reader.get("/api/emails", params={"to": "x" * 300}).status_code == 422
