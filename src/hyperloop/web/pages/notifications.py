"""``/notifications``: the user's notifications of every kind of SPEC §6, unread first by
filter, mark one or all read (through the JSON API; the bell count in the layout follows).

Fed by ``list_notifications`` of ``web/api/notifications.py`` (the JSON list endpoint).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.mail import EMAIL_POLICY
from hyperloop.db import models as m
from hyperloop.enums import NotificationKind, Role
from hyperloop.readmodels.emails import emails_list_data
from hyperloop.readmodels.notifications import my_analysis_names, notifications_list_data
from hyperloop.web.deps import DB, OptionalActor
from hyperloop.web.pages.datasets import OBJECT_PAGES, Limit, Offset, error_page, pager, paging
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter()

#: kind (value) -> (icon, label) shown on the page; kinds missing here get a bell and their name
KINDS: dict[str, tuple[str, str]] = {
    "dataset_changed": ("🗂️", "Dataset changed"),
    "dataset_activated": ("✅", "Dataset activated"),
    "dataset_deactivated": ("⛔", "Dataset deactivated"),
    "production_added": ("➕", "Production added"),
    "production_removed": ("➖", "Production removed"),
    "runlist_updated": ("📋", "Runlist updated"),
    "mergelist_updated": ("🔀", "Mergelist updated"),
    "wagon_disabled": ("🚫", "Wagon disabled"),
    "inconsistent_parameters": ("⚠️", "Inconsistent parameters"),
    "test_failed": ("💣", "Test failed"),
    "test_warning": ("❗", "Test warning"),
    "train_composed": ("🚂", "Train composed"),
    "train_test_failed": ("💣", "Train test failed"),
    "train_test_warning": ("❗", "Train test warning"),
    "train_done": ("🌟", "Train done"),
    "train_issues": ("🩺", "Train with issues"),
    "long_train_approved": ("✅", "Long train approved"),
    "long_train_rejected": ("⛔", "Long train rejected"),
    "long_train_expired": ("⌛", "Long train request expired"),
    "pull_request_available": ("🏷️", "Pull request in a tag"),
    "dataset_staged": ("📦", "Dataset staged"),
    "dataset_unstaged": ("🗑️", "Dataset unstaged"),
    "staging_failed": ("💣", "Staging failed"),
    "staging_confirmation": ("⚖️", "Staging awaits confirmation"),
    "short_dataset_added": ("➕", "Short dataset added"),
    "short_dataset_removed": ("➖", "Short dataset removed"),
    "production_dir_not_found": ("📂", "Production folder not found"),
}
READ_FILTERS = {"unread": False, "read": True, "all": None}


def kind_info(kind: NotificationKind | str) -> tuple[str, str]:
    """(icon, label) of a notification kind; kinds added later get a generic bell."""
    value = kind.value if isinstance(kind, NotificationKind) else str(kind)
    return KINDS.get(value, ("🔔", value.replace("_", " ").capitalize()))


def object_link(object_type: str | None, object_id: int | None) -> str | None:
    """The page of the object a notification is about (None when it has none)."""
    if object_type is None or object_id is None or object_type not in OBJECT_PAGES:
        return None
    return OBJECT_PAGES[object_type].format(object_id)


@router.get("/notifications", response_class=HTMLResponse, include_in_schema=False)
def notifications_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    show: Annotated[str, Query(max_length=8, description="unread, read or all")] = "all",
    analysis_id: Annotated[str | None, Query(max_length=12)] = None,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    if show not in READ_FILTERS:
        return error_page(
            request, actor, db, 422, f"show must be unread, read or all (got {show!r})"
        )
    try:
        kind_filter = NotificationKind(kind) if kind else None
    except ValueError:
        known = ", ".join(k.value for k in NotificationKind)
        return error_page(
            request, actor, db, 422, f"unknown notification kind {kind!r} (one of {known})"
        )
    analyses = my_analysis_names(db, actor.user)
    analysis = int(analysis_id) if analysis_id and analysis_id.isdigit() else None
    if analysis_id and (analysis is None or db.get(m.Analysis, analysis) is None):
        return error_page(request, actor, db, 404, f"analysis {analysis_id} does not exist")
    page = notifications_list_data(
        db,
        actor,
        paging(request, limit, offset),
        read=READ_FILTERS[show],
        kind=kind_filter,
        analysis_id=analysis,
    )
    if analysis is not None and analysis not in dict(analyses):
        analyses.append((analysis, db.get(m.Analysis, analysis).name))
    return render(
        request,
        "pages/notifications/list.html",
        {
            "page": page,
            "pager": pager(request, page),
            "kinds": {k: kind_info(k) for k in NotificationKind},
            "kind_info": kind_info,
            "filters": {"kind": kind or "", "show": show, "analysis_id": analysis},
            "analyses": analyses,
            "object_link": object_link,
        },
        actor=actor,
        db=db,
        title="Notifications",
    )


@router.get("/emails", response_class=HTMLResponse, include_in_schema=False)
def emails_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    to: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    """The e-mails notifications caused, as their recipients read them: mine, or (admins)
    every one."""
    if actor is None:
        return login_redirect(request)
    page = emails_list_data(db, actor, paging(request, limit, offset), to=to or None)
    return render(
        request,
        "pages/notifications/emails.html",
        {
            "page": page,
            "pager": pager(request, page),
            "is_admin": actor.user.has_role(Role.ADMIN),
            "filters": {"to": to or ""},
            "email_kinds": [kind_info(k)[1] for k in EMAIL_POLICY],
        },
        actor=actor,
        db=db,
        title="E-mails",
    )
