"""Notifications page: every kind, unread/read, filters, pagination, mark read (one and all)
and the bell count of the layout."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.web_pages.seed_datasets import Site

from hyperloop.enums import NotificationKind


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site.create(tmp_path_factory.mktemp("notifications"), tmp_path_factory.getbasetemp())
    yield s
    s.close()


def bell(html: str) -> int:
    """The unread count the layout's bell announces."""
    m = re.search(r'aria-label="Notifications: (\d+) unread"', html)
    assert m, "no bell in the layout"
    return int(m.group(1))


def unread_rows(html: str) -> int:
    return len(re.findall(r'class="notification unread"', html))


def test_anonymous_is_redirected(site: Site) -> None:
    r = site.client("anonymous").get("/notifications")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fnotifications"


def test_every_kind_is_listed_with_its_label_and_link(site: Site) -> None:
    c = site.client("analyzer")
    page = c.get("/notifications", params={"limit": 100})
    assert page.status_code == 200
    assert "<title>Notifications · Hyperloop</title>" in page.text
    for kind in NotificationKind:
        assert f"example of {kind.value}" in page.text
    for label in ("Dataset changed", "Runlist updated", "Wagon disabled", "Test failed"):
        assert f'aria-label="{label}"' in page.text
    assert f'href="/dataset/{site.ids["dataset"]}">open dataset<' in page.text
    total = c.get("/api/notifications", params={"limit": 1}).json()["total"]
    assert bell(page.text) == total == unread_rows(page.text)
    assert 'id="mark-all-read"' in page.text


def test_filter_by_kind_and_paginate(site: Site) -> None:
    c = site.client("analyzer")
    runlist = c.get("/notifications", params={"kind": "runlist_updated"}).text
    assert "example of runlist_updated" in runlist and "example of test_failed" not in runlist
    # the seeded runlist edit notified alice too (she uses a dataset built on it)
    assert "DPG runlist &#39;LHC23zzh_pass4&#39; was updated" in runlist
    total = c.get("/api/notifications", params={"limit": 1}).json()["total"]
    first = c.get("/notifications", params={"limit": 5}).text
    assert f"1–5 of {total} notifications" in re.sub(r"<[^>]+>", "", first)
    assert 'rel="next"' in first
    assert first.count('class="notification ') == 5
    bad = c.get("/notifications", params={"kind": "gossip"})
    assert bad.status_code == 422 and "unknown notification kind" in bad.text


def test_mark_one_read_lowers_the_bell_then_mark_all(site: Site) -> None:
    c = site.client("analyzer")
    before = c.get("/notifications").text
    n = bell(before)
    newest = c.get("/api/notifications", params={"read": False, "limit": 1}).json()["items"][0]
    assert c.post(f"/api/notifications/{newest['id']}/dismiss").status_code == 200
    after = c.get("/notifications").text
    assert bell(after) == n - 1
    assert f'data-id="{newest["id"]}"' in after
    read_only = c.get("/notifications", params={"show": "read"}).text
    assert newest["message"] in read_only and unread_rows(read_only) == 0
    unread_only = c.get("/notifications", params={"show": "unread"}).text
    assert newest["message"] not in unread_only
    # someone else's notification cannot be dismissed
    other = site.client("analyzer2").get("/api/notifications", params={"limit": 1}).json()
    if other["items"]:
        denied = c.post(f"/api/notifications/{other['items'][0]['id']}/dismiss")
        assert denied.status_code == 404
    assert c.post("/api/notifications/dismiss-all").status_code == 200
    done = c.get("/notifications").text
    assert bell(done) == 0 and unread_rows(done) == 0
    assert 'class="badge"' not in done
    assert 'id="mark-all-read" disabled' in done


def test_each_user_sees_only_their_notifications(site: Site) -> None:
    page = site.client("user").get("/notifications").text
    assert "example of" not in page
    assert "No notification." in page
