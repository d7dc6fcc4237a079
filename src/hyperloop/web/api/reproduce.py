"""What ``hyperloop reproduce URL`` needs to re-run a wagon test, train test or job locally:
its ``full_config.json``, the input file list and the package tag (SPEC §7).

The configuration and inputs are read from the attempt folder the scheduler left (exactly
what ran); without one (not started yet, or outputs cleaned) they are rebuilt from the
database by the builder the scheduler uses (``core.full_config.build_full_config``). Inputs that only exist on the server can be
downloaded through ``/api/dataset-files/content``: catalogue files under a local storage
root (``storage_roots``) that are AO2D files, never another path of the server. The
command names the server by ``public_url``, or by the origin of the request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.errors import NotFound
from hyperloop.core.full_config import build_full_config
from hyperloop.core.permissions import Action
from hyperloop.core.storage_roots import StorageRootError, StorageRoots, is_ao2d
from hyperloop.db import models as m
from hyperloop.readmodels.trains import file_roots, local_path, owner_folder
from hyperloop.settings import Settings
from hyperloop.web.deps import (
    DB,
    CurrentActor,
    SettingsDep,
    _load,
    public_base,
    require_action,
)
from hyperloop.web.errors import ERROR_RESPONSES

router = APIRouter(tags=["reproduce"], responses=ERROR_RESPONSES)

Ident = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Kind = Literal["wagon_test", "train_test", "job"]
_ATTEMPT = re.compile(r"^attempt-(\d+)$")


class ReproduceOut(BaseModel):
    """Everything needed to run a test or job again with ``hyperloop run-train``."""

    kind: Kind
    id: int
    full_config: dict[str, Any] = Field(description="The full_config.json that ran (or would).")
    inputs: list[str] = Field(description="Input files, one per line of input_data.txt.")
    input_downloads: dict[str, str] = Field(
        description="API path to download each input that is a server-local catalogue file."
    )
    package_tag: str = Field(description="Package tag label, e.g. hyperloop-physics-0.2.0.")
    package_artifact: str | None = Field(description="Where the tag is unpacked on the server.")
    source: str = Field(description="Attempt folder read, or 'database' when rebuilt.")
    results: str | None = Field(
        description="The original AnalysisResults.root on the server, when one exists."
    )
    command: str = Field(description="The command line that reproduces it.")


def _owner_folder(settings: Settings, *parts: str) -> Path:
    """A folder of the scheduler's work folder (``work_dir`` setting or
    ``<data_dir>/work``; with a remote ``storage_url``, the server's mirror of it, brought
    up to date): ``trains/<id>``, ``tests/train-test-<id>``, ... (it may not exist)."""
    roots = file_roots(settings)
    if roots.mirror is not None:
        owner_folder(roots, *parts)
        return roots.work.joinpath(*parts)
    return roots.work.resolve().joinpath(*parts)


def _latest_attempt(job_folder: Path) -> Path | None:
    """The newest ``attempt-N`` folder holding a full_config.json."""
    if not job_folder.is_dir():
        return None
    found = []
    for child in job_folder.iterdir():
        match = _ATTEMPT.match(child.name)
        if match and (child / "full_config.json").is_file():
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def _from_folder(folder: Path) -> tuple[dict[str, Any], list[str]] | None:
    try:
        config = json.loads((folder / "full_config.json").read_text())
        inputs_file = folder / "input_data.txt"
        lines = inputs_file.read_text().splitlines() if inputs_file.is_file() else []
    except (OSError, ValueError):
        return None
    return config, [line.strip() for line in lines if line.strip()]


def _sample(s: Session, dataset_id: int, n_files: int) -> list[str]:
    """The test sample the scheduler picks: the first catalogue files by run and path."""
    rows = s.scalars(
        select(m.DatasetFile.path)
        .join(m.Production, m.Production.id == m.DatasetFile.production_id)
        .where(m.Production.dataset_id == dataset_id)
        .order_by(m.DatasetFile.run_number, m.DatasetFile.path)
        .limit(n_files)
    )
    return list(rows)


def _under_local_root(roots: StorageRoots, path: str) -> bool:
    try:
        return roots.local_file(path) is not None
    except StorageRootError:
        return False


def _downloads(s: Session, roots: StorageRoots, inputs: list[str]) -> dict[str, str]:
    """Download paths of inputs that are catalogue files under a local storage root."""
    if not inputs:
        return {}
    local = [p for p in inputs if "://" not in p]
    known = set(s.scalars(select(m.DatasetFile.path).where(m.DatasetFile.path.in_(local))))
    from urllib.parse import quote

    return {
        p: f"/api/dataset-files/content?path={quote(p, safe='')}"
        for p in local
        if p in known and _under_local_root(roots, p)
    }


def reproduce_info(
    s: Session, settings: Settings, kind: Kind, ident: int, *, base_url: str | None = None
) -> ReproduceOut:
    """The data function of the reproduce endpoints (and of the pages showing the command);
    ``base_url`` names the server in the command (default: ``settings.server_url``)."""
    results: str | None = None
    n_files = int(getattr(settings, "scheduler_test_files", 2))
    if kind == "wagon_test":
        test = _load(s, m.WagonTest, ident, "wagon test")
        tag = _load(s, m.PackageTag, test.tag_id, "package tag") if test.tag_id else None
        if tag is None:
            raise NotFound(f"wagon test {ident} has no package tag yet (waiting for a tag)")
        folder = (
            local_path(file_roots(settings), test.output_dir)
            if test.output_dir and "://" not in test.output_dir
            else _owner_folder(settings, "tests", f"wagon-test-{ident}")
        )
        attempt = _latest_attempt(folder / "sample")
        found = _from_folder(attempt) if attempt else None
        if found is None:
            spec = build_full_config(test, tag)
            found = (spec.to_json(), _sample(s, test.dataset_id, n_files))
        url = f"/wagon-test/{ident}"
    elif kind == "train_test":
        train = _load(s, m.TrainRun, ident, "train run")
        tag = _load(s, m.PackageTag, train.tag_id, "package tag")
        attempt = _latest_attempt(_owner_folder(settings, "tests", f"train-test-{ident}", "sample"))
        found = _from_folder(attempt) if attempt else None
        if found is None:
            spec = build_full_config(train, tag, cores=train.target.cores)
            found = (spec.to_json(), _sample(s, train.dataset_id, n_files))
        url = f"/train-test/{ident}"
    else:
        job = _load(s, m.Job, ident, "job")
        train = _load(s, m.TrainRun, job.train_run_id, "train run")
        tag = _load(s, m.PackageTag, train.tag_id, "package tag")
        attempt = _latest_attempt(
            _owner_folder(settings, "trains", str(train.id), "jobs", f"job-{ident}")
        )
        found = _from_folder(attempt) if attempt else None
        if found is None:
            spec = build_full_config(train, tag, cores=train.target.cores)
            found = (spec.to_json(), list(job.files or []))
        url = f"/job/{ident}"
    config, inputs = found
    if attempt is not None and (attempt / "AnalysisResults.root").is_file():
        results = str(attempt / "AnalysisResults.root")
    return ReproduceOut(
        kind=kind,
        id=ident,
        full_config=config,
        inputs=inputs,
        input_downloads=_downloads(s, settings.dataset_roots, inputs),
        package_tag=f"{tag.name}-{tag.version}",
        package_artifact=tag.artifact or None,
        source=str(attempt) if attempt is not None else "database",
        results=results,
        command=f"hyperloop reproduce {base_url or settings.server_url}{url}",
    )


@router.get(
    "/wagon-tests/{test_id}/reproduce",
    response_model=ReproduceOut,
    summary="full_config.json and inputs of a wagon test",
)
def reproduce_wagon_test(
    test_id: Ident, request: Request, actor: CurrentActor, db: DB, settings: SettingsDep
) -> ReproduceOut:
    require_action(actor, Action.READ)
    base = public_base(request, settings)
    return reproduce_info(db, settings, "wagon_test", test_id, base_url=base)


@router.get(
    "/train-tests/{train_id}/reproduce",
    response_model=ReproduceOut,
    summary="full_config.json and inputs of a train run's test",
)
def reproduce_train_test(
    train_id: Ident, request: Request, actor: CurrentActor, db: DB, settings: SettingsDep
) -> ReproduceOut:
    require_action(actor, Action.READ)
    base = public_base(request, settings)
    return reproduce_info(db, settings, "train_test", train_id, base_url=base)


@router.get(
    "/jobs/{job_id}/reproduce",
    response_model=ReproduceOut,
    summary="full_config.json and inputs of a train job",
)
def reproduce_job(
    job_id: Ident, request: Request, actor: CurrentActor, db: DB, settings: SettingsDep
) -> ReproduceOut:
    require_action(actor, Action.READ)
    base = public_base(request, settings)
    return reproduce_info(db, settings, "job", job_id, base_url=base)


@router.get(
    "/dataset-files/content",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file's bytes.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    summary="Download one catalogue file (AO2D) stored on the server",
)
def dataset_file_content(
    path: Annotated[str, Query(min_length=1, max_length=4096, description="Catalogue path.")],
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> FileResponse:
    require_action(actor, Action.READ)
    if "\x00" in path:
        raise NotFound("a catalogue path never contains a NUL character", {"path": path})
    known = db.scalars(select(m.DatasetFile.id).where(m.DatasetFile.path == path)).first()
    if known is None:
        raise NotFound(f"{path} is not a file of any dataset catalogue", {"path": path})
    try:
        file = settings.dataset_roots.local_file(path)
    except StorageRootError as exc:
        raise NotFound(
            f"{path} is in the catalogue but not under a storage root: not served", {"path": path}
        ) from exc
    if file is None:
        raise NotFound(f"{path} is a remote file: read it from its storage", {"path": path})
    if not file.is_file():
        raise NotFound(f"{path} is in the catalogue but not stored on this server", {"path": path})
    if not is_ao2d(file):
        raise NotFound(
            f"{path} is in the catalogue but is not an AO2D file: not served", {"path": path}
        )
    return FileResponse(file, media_type="application/octet-stream", filename=file.name)
