"""The My Analyses read model (``GET /api/my-analyses`` and the ``/`` page), cached.

Two levels, both versioned by the database's ``grid`` change counter
(:mod:`hyperloop.db.models.changes`, bumped by triggers on every write that changes the
grid): each user's finished JSON, and each analysis's grid (wagons x datasets, current test
per cell, slots), which is the same for every user who sees the analysis. After a write,
the first user to ask rebuilds the analyses they see, the next users only what is theirs
alone (service analyses are on everybody's page).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, true
from sqlalchemy.orm import Session

from hyperloop.core import quotas
from hyperloop.core.permissions import Action, can
from hyperloop.db.base import utcnow
from hyperloop.db.models import (
    Analysis,
    AnalysisDataset,
    AnalysisMember,
    Dataset,
    PackageTag,
    TrainRun,
    User,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.db.models.changes import GRID
from hyperloop.enums import TagPolicy, TestStatus, TrainState
from hyperloop.readmodels.cache import Entry, VersionedCache

NO_LINK: tuple[bool, TagPolicy | None, str | None] = (False, None, None)
#: the enabling's hover text parts (tag, time, user): none before the first enabling
NO_WHO: dict[str, Any] = {"tag": None, "enabled_at": None, "enabled_by": None}


def iso_utc(value: datetime) -> str:
    """ISO 8601 as pydantic writes it (``Z`` for UTC), so hand-built JSON matches the
    endpoints that serialise through their response model."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def grid_cell(
    dataset_id: int,
    link: tuple[Any, ...] | None,
    test: tuple[Any, ...] | None,
    who: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cell of the grid (``GridCell`` of the API) from the enabling row (enabled, tag
    policy, disabled reason, ...), the current test (id, status, ...) and who enabled it with
    which tag and when (``enabling_who``); any may be None."""
    on, policy, why = (link or NO_LINK)[:3]
    return {
        "dataset_id": dataset_id,
        "enabled": on,
        "test_status": test[1] if test else None,
        "test_id": test[0] if test else None,
        "tag_policy": policy,
        "disabled_reason": why,
        **(who or NO_WHO),
    }


def enabling_who(
    link: tuple[Any, ...] | None,
    test: tuple[Any, ...] | None,
    tags: dict[int, str],
    users: dict[int, str],
) -> dict[str, Any]:
    """What hovering an enabled cell shows (the original's tooltip): the package tag (the
    fixed one, the pull request's future tag, or "latest" with the tag of the current test),
    when and by whom it was enabled. ``link`` is a row of ``_LINK_COLUMNS`` after the first
    three (tag id, pull request, enabled by, enabled at), ``test`` (id, status, tag id)."""
    if link is None or not link[0]:
        return NO_WHO
    _on, policy, _why, tag_id, pull_request, by_id, at = link
    if policy is TagPolicy.FIXED and tag_id is not None:
        tag = tags.get(tag_id)
    elif policy is TagPolicy.PULL_REQUEST:
        tag = f"future tag with pull request {pull_request}"
    else:
        tested = tags.get(test[2]) if test and test[2] is not None else None
        tag = f"latest ({tested})" if tested else "latest"
    return {
        "tag": tag,
        "enabled_at": iso_utc(at) if at is not None else None,
        "enabled_by": users.get(by_id) if by_id is not None else None,
    }


def _names(s: Session, links: Any, tests: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Labels of the tags and usernames the hover texts of these cells name (two queries)."""
    tag_ids = {link[3] for link in links if link[3] is not None}
    tag_ids |= {test[2] for test in tests if test[2] is not None}
    user_ids = {link[5] for link in links if link[5] is not None}
    tags: dict[int, str] = {}
    if tag_ids:
        rows = s.execute(
            select(PackageTag.id, PackageTag.name, PackageTag.version).where(
                PackageTag.id.in_(tag_ids)
            )
        )
        tags = {tid: f"{name} {version}" for tid, name, version in rows}
    users: dict[int, str] = {}
    if user_ids:
        rows = s.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        users = {uid: name for uid, name in rows}
    return tags, users


def grid_cell_data(s: Session, wagon_id: int, dataset_id: int) -> dict[str, Any]:
    """One grid cell, fresh (the live status partial of My Analyses polls it)."""
    row = s.execute(
        select(*_LINK_COLUMNS[1:]).where(
            WagonDataset.wagon_id == wagon_id, WagonDataset.dataset_id == dataset_id
        )
    ).first()
    test = s.execute(
        select(WagonTest.id, WagonTest.status, WagonTest.tag_id)
        .where(
            WagonTest.wagon_id == wagon_id,
            WagonTest.dataset_id == dataset_id,
            WagonTest.superseded.is_(False),
        )
        .order_by(WagonTest.id.desc())
        .limit(1)
    ).first()
    link, current = (tuple(row) if row else None), (tuple(test) if test else None)
    tags, users = _names(s, [link] if link else [], [current] if current else [])
    return grid_cell(dataset_id, link, current, enabling_who(link, current, tags, users))


# The My Analyses statements, built once: per request only the parameters change, which saves
# building, cache-key generation and ORM compilation of each statement (a third of its time).
_USER = bindparam("user_id")
_IDS = bindparam("ids", expanding=True)
_IS_MEMBER = AnalysisMember.user_id.is_not(None)
_ANALYSES = (
    select(Analysis, AnalysisMember.display_order, AnalysisMember.collapsed, _IS_MEMBER)
    .outerjoin(
        AnalysisMember,
        (AnalysisMember.analysis_id == Analysis.id) & (AnalysisMember.user_id == _USER),
    )
    .order_by(_IS_MEMBER, AnalysisMember.display_order, Analysis.name)
)
_MINE_AND_SERVICE = _ANALYSES.where(_IS_MEMBER | Analysis.is_service)
_MINE = _ANALYSES.where(_IS_MEMBER)
_GRID_DATASETS = (
    select(AnalysisDataset.analysis_id, Dataset.id, Dataset.name, Dataset.active)
    .join(Dataset, Dataset.id == AnalysisDataset.dataset_id)
    .where(AnalysisDataset.analysis_id.in_(_IDS))
    .order_by(Dataset.id)
)
#: what a grid cell shows of an enabling (both ways of reading the links below)
_LINK_COLUMNS = (
    WagonDataset.dataset_id,
    WagonDataset.enabled,
    WagonDataset.tag_policy,
    WagonDataset.disabled_reason,
    WagonDataset.tag_id,
    WagonDataset.pull_request,
    WagonDataset.enabled_by_id,
    WagonDataset.enabled_at,
)
_GRID_LINKS = (
    select(WagonDataset.wagon_id, *_LINK_COLUMNS)
    .join(Wagon, Wagon.id == WagonDataset.wagon_id)
    .where(Wagon.analysis_id.in_(_IDS))
)
_GRID_TESTS = (
    select(
        WagonTest.id, WagonTest.wagon_id, WagonTest.dataset_id, WagonTest.status, WagonTest.tag_id
    )
    .join(Wagon, Wagon.id == WagonTest.wagon_id)
    .where(Wagon.analysis_id.in_(_IDS), WagonTest.superseded.is_(False))
    .order_by(WagonTest.id)
)
_GRID_WAGONS = (
    select(Wagon.id, Wagon.analysis_id, Wagon.name, Wagon.workflow, Wagon.disabled_reason)
    .where(Wagon.analysis_id.in_(_IDS))
    .order_by(Wagon.name)
)
# PostgreSQL hash-joins the two queries above over the whole of wagon_tests / wagon_datasets
# (tables that grow with every test and enabling ever made); per wagon through their
# (wagon_id, dataset_id) indexes the cost follows the grid instead. A LATERAL subquery does
# that (OFFSET 0 keeps the planner from flattening it); SQLite's nested loops already do.
_LINKS_OF_WAGON = (
    select(*_LINK_COLUMNS).where(WagonDataset.wagon_id == Wagon.id).offset(0).lateral("links")
)
_TESTS_OF_WAGON = (
    select(WagonTest.id, WagonTest.dataset_id, WagonTest.status, WagonTest.tag_id)
    .where(WagonTest.wagon_id == Wagon.id, WagonTest.superseded.is_(False))
    .offset(0)
    .lateral("tests")
)
_GRID_LINKS_PG = (
    select(Wagon.id, *_LINKS_OF_WAGON.c)
    .select_from(Wagon)
    .join(_LINKS_OF_WAGON, true())
    .where(Wagon.analysis_id.in_(_IDS))
)
_GRID_TESTS_PG = (
    select(
        _TESTS_OF_WAGON.c.id,
        Wagon.id,
        _TESTS_OF_WAGON.c.dataset_id,
        _TESTS_OF_WAGON.c.status,
        _TESTS_OF_WAGON.c.tag_id,
    )
    .select_from(Wagon)
    .join(_TESTS_OF_WAGON, true())
    .where(Wagon.analysis_id.in_(_IDS))
    .order_by(_TESTS_OF_WAGON.c.id)
)


_EARLIEST_COUNTED = select(func.min(TrainRun.composed_at)).where(
    TrainRun.dataset_id.in_(bindparam("dataset_ids", expanding=True)),
    TrainRun.composed_at >= bindparam("since"),
    TrainRun.state.not_in((TrainState.DECOMPOSED,)),
)

#: each user's page as sent (bytes), per (user id, with_service)
GRID_CACHE = VersionedCache(GRID)
#: each analysis's grid as a JSON fragment (the same for every user), per analysis id
GRID_PIECES = VersionedCache(GRID, max_entries=4096)

Piece = dict[str, Any]  # dataset_ids, wagons, datasets, slots of one analysis (this order)


def _rights(user: User) -> tuple[bool, tuple[str, ...]]:
    """What ``can_edit`` depends on besides membership (a watched table): role and state."""
    return bool(user.active), tuple(sorted(user.roles or []))


def my_analyses_data(s: Session, user: User, *, with_service: bool = True) -> list[dict[str, Any]]:
    """The My Analyses data (``list[MyAnalysis]`` of ``GET /api/my-analyses``, as plain
    JSON-ready dicts): service analyses the user is not a member of (read-only, on top, by
    name), then the user's analyses in their saved order, each with its wagon x dataset grid,
    current test per cell and train slots used per dataset (a new list each call)."""
    return json.loads(my_analyses_json(s, user, with_service=with_service))


def my_analyses_json(s: Session, user: User, *, with_service: bool = True) -> bytes:
    """``my_analyses_data`` serialised as the API sends it: cached while the change counter
    (read first) is unchanged and no counted train left the rolling slot week. Nothing is
    cached without the triggers or from a transaction that wrote (it might roll back)."""
    token = GRID_CACHE.token(s)
    engine = s.connection().engine
    key, rights = (user.id, with_service), _rights(user)
    if token is not None:
        entry = GRID_CACHE.lookup(engine, key, token, rights)
        if entry is not None:
            return entry.value
    else:
        GRID_CACHE.stats.uncacheable += 1
    body, expires = _page(s, user, with_service, utcnow(), token, engine)
    if token is not None:
        GRID_CACHE.store(engine, key, Entry(token, rights, expires, body))
    return body


def compute_my_analyses(
    s: Session, user: User, *, with_service: bool = True, now: datetime | None = None
) -> tuple[list[dict[str, Any]], datetime | None]:
    """The My Analyses data built from the database (no cache), and until when its slot
    counts hold (the earliest counted train leaves the rolling week then; None: none)."""
    body, expires = _page(s, user, with_service, now or utcnow(), None, None)
    return json.loads(body), expires


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _page(
    s: Session,
    user: User,
    with_service: bool,
    now: datetime,
    token: tuple[str, int] | None,
    engine: Engine | None,
) -> tuple[bytes, datetime | None]:
    """The page as JSON from the user's analyses (one query) and each analysis's grid, kept
    serialised (``"dataset_ids":..,"wagons":..,"datasets":..,"slots":..``): those current
    under ``token`` reused, the others built together (and cached when ``token`` is set)."""
    stmt = _MINE_AND_SERVICE if with_service else _MINE
    rows = s.execute(stmt, {"user_id": user.id}).all()
    if not rows:
        return b"[]", None
    grids: dict[int, bytes] = {}
    expiries: list[datetime] = []
    caching = token is not None and engine is not None
    if caching:
        for row in rows:
            entry = GRID_PIECES.lookup(engine, row[0].id, token)
            if entry is not None:
                grids[row[0].id] = entry.value
                if entry.expires is not None:
                    expiries.append(entry.expires)
    missing = [row[0].id for row in rows if row[0].id not in grids]
    if missing:
        built, expires = _grid_pieces(s, missing, now)
        if expires is not None:
            expiries.append(expires)
        for aid, piece in built.items():
            grids[aid] = _dumps(piece)[1:-1]
            if caching:
                GRID_PIECES.store(engine, aid, Entry(token, None, expires, grids[aid]))
    parts = []
    for analysis, order, collapsed, member in rows:
        head = {
            "id": analysis.id,
            "name": analysis.name,
            "pwg": analysis.pwg,
            "is_service": analysis.is_service,
            "email_policy": analysis.email_policy,
            "description": analysis.description,
            "created_at": iso_utc(analysis.created_at),
            "member": bool(member),
            "collapsed": bool(collapsed) if member else False,
            "display_order": order if member else 0,
        }
        can_edit = b"true" if can(user, Action.WAGON_ENABLE, analysis) else b"false"
        parts.append(
            _dumps(head)[:-1] + b"," + grids[analysis.id] + b',"can_edit":' + can_edit + b"}"
        )
    return b"[" + b",".join(parts) + b"]", min(expiries, default=None)


def _grid_pieces(
    s: Session, analysis_ids: list[int], now: datetime
) -> tuple[dict[int, Piece], datetime | None]:
    """The grid of each analysis (wagons x datasets with enabling and current test, the
    datasets, the slots used this week) and when the earliest counted train leaves the week.

    A fixed number of small queries whatever the number of analyses, wagons and datasets,
    only the columns shown, and no per-cell objects: a heavy user's grid has ~1,000 cells,
    and building each as a pydantic model cost more than all the queries together."""
    # The grid by analysis id (a short list with good row estimates, so PostgreSQL hash-joins
    # the wagons); the column queries skip the ORM layer, they load no objects.
    ids = {"ids": analysis_ids}
    conn = s.connection()
    postgres = conn.dialect.name == "postgresql"
    datasets_of: dict[int, list[dict[str, Any]]] = {aid: [] for aid in analysis_ids}
    for aid, did, name, active in conn.execute(_GRID_DATASETS, ids):
        datasets_of[aid].append({"id": did, "name": name, "active": active})
    links = {
        (wid, did): tuple(rest)
        for wid, did, *rest in conn.execute(_GRID_LINKS_PG if postgres else _GRID_LINKS, ids)
    }
    latest: dict[tuple[int, int], tuple[int, TestStatus, int | None]] = {}
    query = _GRID_TESTS_PG if postgres else _GRID_TESTS
    for tid, wid, did, status, tag_id in conn.execute(query, ids):
        latest[(wid, did)] = (tid, status, tag_id)  # ascending ids: the newest test wins
    tags, users = _names(s, links.values(), latest.values())
    grid: dict[int, list[dict[str, Any]]] = {aid: [] for aid in analysis_ids}
    for wid, aid, name, workflow, why in conn.execute(_GRID_WAGONS, ids):
        grid[aid].append(
            {
                "id": wid,
                "name": name,
                "workflow": workflow,
                "disabled_reason": why,
                "cells": [
                    grid_cell(
                        d["id"],
                        links.get((wid, d["id"])),
                        latest.get((wid, d["id"])),
                        enabling_who(
                            links.get((wid, d["id"])), latest.get((wid, d["id"])), tags, users
                        ),
                    )
                    for d in datasets_of[aid]
                ],
            }
        )
    pairs = [(aid, d["id"]) for aid, datasets in datasets_of.items() for d in datasets]
    first: dict[tuple[int, int], datetime] = {}
    slots_of = quotas.analysis_slots_many(s, pairs, now=now, first=first)
    pieces = {
        aid: {
            "dataset_ids": [d["id"] for d in datasets],
            "wagons": grid[aid],
            "datasets": datasets,
            "slots": [
                {
                    "dataset_id": d["id"],
                    "used": used,
                    "allowed": allowed,
                    # the earliest counted train leaves the rolling week: a slot frees up
                    "frees_at": iso_utc(first[(aid, d["id"])] + quotas.WEEK)
                    if (aid, d["id"]) in first
                    else None,
                }
                for d in datasets
                for used, allowed in (slots_of[(aid, d["id"])],)
            ],
        }
        for aid, datasets in datasets_of.items()
    }
    return pieces, _slots_expiry(s, {d for _, d in pairs}, now)


def _slots_expiry(s: Session, dataset_ids: set[int], now: datetime) -> datetime | None:
    """When the earliest train counted in the rolling week on these datasets leaves it."""
    if not dataset_ids:
        return None
    params = {"dataset_ids": sorted(dataset_ids), "since": now - quotas.WEEK}
    earliest = s.scalar(_EARLIEST_COUNTED, params)
    return earliest + quotas.WEEK if earliest is not None else None
