"""Output browsing: folders under the outputs root, histograms of an AnalysisResults.root.

``/outputs/browse?path=`` lists a folder, or the histograms of a ROOT file which the page draws
with JSROOT; JSROOT reads the file itself from ``/outputs/file`` with HTTP range requests.
THn/THnSparse (which JSROOT cannot draw) are projected here onto one or two axes.
Every path is relative to the outputs root and strictly contained in it, and only the
outputs of train runs, train tests, jobs and wagon tests the user may read are listed or
served (``output_access``): never the rest of the data folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import uproot
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from hyperloop.analysis.results import (
    ResultsError,
    from_uproot,
    is_histogram_class,
    list_objects,
)
from hyperloop.core.actor import Actor
from hyperloop.core.errors import DomainError
from hyperloop.settings import Settings
from hyperloop.web.deps import DB, CurrentActor, OptionalActor, SettingsDep
from hyperloop.web.errors import ERROR_RESPONSES, ApiError
from hyperloop.web.pages.files import media_type, outputs_root, serve_file
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.output_access import open_output, visible_children
from hyperloop.web.pages.templating import render

router = APIRouter()
ACTIVE_TYPES = {"text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript"}
PathParam = Annotated[str, Query(description="Path relative to the outputs root.")]


@dataclass(frozen=True)
class HistogramEntry:
    """One drawable histogram: ``key`` is the object's path in the file (JSROOT readObject);
    ``item`` names it inside a TList stored at ``key`` (None for a plain object)."""

    id: str
    directory: str
    name: str
    classname: str
    key: str
    item: str | None = None

    @property
    def projected(self) -> bool:
        return self.classname.startswith("THn")


@dataclass(frozen=True)
class FolderEntry:
    name: str
    path: str
    is_dir: bool
    size: int
    kind: str  # "dir", "root", "metrics", "profile", "file"


def _kind(p: Path) -> str:
    if p.is_dir():
        return "dir"
    if p.suffix == ".root":
        return "root"
    if p.name.startswith("performanceMetrics") and p.suffix == ".json":
        return "metrics"
    if p.name.endswith((".speedscope.json", "profile.json")):
        return "profile"
    return "file"


def list_folder(root: Path, children: list[tuple[Path, Path]]) -> list[FolderEntry]:
    """Entries of a folder's visible ``(child, resolved)`` children (folders first, then
    files, by name) with root-relative paths."""
    base = root.resolve()
    entries = [
        FolderEntry(
            name=child.name,
            path=resolved.relative_to(base).as_posix(),
            is_dir=child.is_dir(),
            size=0 if child.is_dir() else child.stat().st_size,
            kind=_kind(child),
        )
        for child, resolved in children
    ]
    entries.sort(key=lambda e: (not e.is_dir, e.name))
    return entries


def list_histograms(path: str | Path) -> list[HistogramEntry]:
    """Every histogram of a ROOT results file, in file order, TLists nested to any depth
    included (``item``: the positions inside the lists, "5/17"; a second object of the same
    path gets " (2)" in its id). Raises ResultsError for non-ROOT files."""
    out: list[HistogramEntry] = []
    seen: dict[str, int] = {}
    for o in list_objects(path):
        if not is_histogram_class(o.classname):
            continue
        seen[o.path] = seen.get(o.path, 0) + 1
        hist_id = o.path if seen[o.path] == 1 else f"{o.path} ({seen[o.path]})"
        directory, _, name = o.path.rpartition("/")
        item = "/".join(map(str, o.positions)) or None
        out.append(HistogramEntry(hist_id, directory, name, o.classname, o.key, item))
    return out


def project_histogram(path: str | Path, hist_id: str, axes: list[int]) -> dict[str, Any]:
    """Project a histogram (typically THnD/THnSparse) onto 1 or 2 of its axes.

    Returns ``{"title", "classname", "axes": [{title, nbins, low, high, edges, labels}],
    "values": nested list [x][y] without flow bins, "entries"}``.
    """
    try:
        entries = list_histograms(path)
    except ResultsError as exc:
        raise ApiError(422, "bad_root_file", str(exc)) from None
    entry = next((h for h in entries if h.id == hist_id), None)
    if entry is None:
        raise ApiError(404, "not_found", f"{Path(path).name}: no histogram {hist_id!r}")
    with uproot.open(path) as f:
        obj = f[entry.key]
        for position in entry.item.split("/") if entry.item is not None else ():
            obj = list(obj)[int(position)]
        h = from_uproot(obj)
    if h is None:
        raise ApiError(422, "unsupported", f"{hist_id}: class {entry.classname} not supported")
    if (
        not 1 <= len(axes) <= 2
        or len(set(axes)) != len(axes)
        or any(not 0 <= a < h.ndim for a in axes)
    ):
        raise ApiError(
            422,
            "bad_axes",
            f"{hist_id}: axes {axes} invalid; give 1 or 2 distinct axes in 0..{h.ndim - 1}",
        )
    values = h.values()
    other = tuple(i for i in range(h.ndim) if i not in axes)
    projected = values.sum(axis=other) if other else values
    if len(axes) == 2 and axes[0] > axes[1]:
        projected = projected.T
    out_axes = []
    for i in axes:
        a = h.axes[i]
        out_axes.append(
            {
                "title": a.title,
                "nbins": a.nbins,
                "low": a.low,
                "high": a.high,
                "edges": None if a.edges is None else np.asarray(a.edges).tolist(),
                "labels": a.labels,
            }
        )
    return {
        "title": h.title,
        "classname": h.classname,
        "ndim": h.ndim,
        "axes": out_axes,
        "all_axes": [ax.title or f"axis {i}" for i, ax in enumerate(h.axes)],
        "values": np.asarray(projected, dtype=np.float64).tolist(),
        "entries": h.entries,
    }


def _breadcrumbs(rel: str) -> list[tuple[str, str]]:
    parts = [p for p in rel.split("/") if p]
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def browse_data(db: Session, actor: Actor, settings: Settings, rel: str) -> dict[str, Any]:
    """What ``/outputs/browse`` shows for ``rel``: a folder listing or a file's histograms,
    only of outputs the actor may read (``output_access``)."""
    root = outputs_root(settings)
    data: dict[str, Any] = {"path": rel, "breadcrumbs": _breadcrumbs(rel)}
    if not rel and not root.is_dir():
        # nothing has run yet on a new installation: an empty outputs folder
        data["kind"] = "folder"
        data["entries"] = []
        return data
    found = open_output(db, actor, settings, rel)
    target = found.path
    if target.is_dir():
        data["kind"] = "folder"
        children = visible_children(db, actor, settings, found)
        data["entries"] = [asdict(e) for e in list_folder(root, children)]
    elif target.suffix == ".root":
        data["kind"] = "root"
        data["size"] = target.stat().st_size
        try:
            data["histograms"] = [
                asdict(h) | {"projected": h.projected} for h in list_histograms(target)
            ]
        except ResultsError as exc:
            raise ApiError(422, "bad_root_file", str(exc)) from None
    else:
        data["kind"] = "file"
        data["size"] = target.stat().st_size
    return data


@router.get(
    "/api/outputs/browse",
    tags=["outputs"],
    summary="Folder listing or histograms of a ROOT file under the outputs root",
    responses=ERROR_RESPONSES,
)
def browse_api(
    actor: CurrentActor, db: DB, settings: SettingsDep, path: PathParam = ""
) -> dict[str, Any]:
    return browse_data(db, actor, settings, path)


@router.get(
    "/api/outputs/projection",
    tags=["outputs"],
    summary="Projection of a histogram (THn included) onto one or two axes",
    responses=ERROR_RESPONSES,
)
def projection_api(
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
    path: PathParam,
    hist: Annotated[str, Query(description="Histogram id from the browse listing.")],
    axes: Annotated[str, Query(description="Comma-separated axis indices, e.g. 0 or 0,1.")] = "0",
) -> dict[str, Any]:
    target = open_output(db, actor, settings, path, files_only=True).path
    if not target.is_file():
        raise ApiError(422, "bad_root_file", f"output path {path!r} is not a ROOT file")
    try:
        axis_list = [int(a) for a in axes.split(",") if a.strip()]
    except ValueError:
        raise ApiError(422, "bad_axes", f"axes {axes!r}: expected integers like 0 or 0,1") from None
    return project_histogram(target, hist, axis_list)


@router.get("/outputs/file", include_in_schema=False)
def output_file(
    actor: CurrentActor, db: DB, settings: SettingsDep, path: PathParam, download: bool = False
) -> FileResponse:
    """An output file, inline (JSROOT range reads) or as a download."""
    target = open_output(db, actor, settings, path, files_only=True).path
    if not target.is_file():
        raise ApiError(404, "not_found", f"output path {path!r} is not a file")
    # Output files are data: anything a browser would run as a page is only downloaded.
    active = media_type(target) in ACTIVE_TYPES
    return serve_file(target, download=download or active)


@router.get("/outputs/browse", response_class=HTMLResponse, include_in_schema=False)
def browse_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    path: PathParam = "",
    hist: str | None = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    try:
        data = browse_data(db, actor, settings, path)
    except (ApiError, DomainError) as exc:
        return render(
            request,
            "pages/outputs_browse.html",
            {"data": None, "error": exc.message},
            actor=actor,
            db=db,
            title="Output browser",
            status_code=exc.status,
        )
    title = f"Outputs: {path}" if path else "Output browser"
    return render(
        request,
        "pages/outputs_browse.html",
        {"data": data, "error": None, "selected": hist},
        actor=actor,
        db=db,
        title=title,
    )
