"""Profile viewer: the vendored speedscope opening a profile file by URL (``#profileURL=``).

``/profile-viewer?path=`` opens an output file the user may read (``output_access``);
``?url=`` opens another path of this server (e.g. a test's profile endpoint; checked
character by character, so that nothing a browser strips or rewrites makes it point to
another site); without either, speedscope's own file chooser is shown.
"""

from __future__ import annotations

import json
import re
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.errors import DomainError
from hyperloop.web.deps import DB, OptionalActor, SettingsDep
from hyperloop.web.errors import ApiError
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.output_access import open_output
from hyperloop.web.pages.templating import render

SPEEDSCOPE = "/static/vendor/speedscope/index.html"
router = APIRouter(include_in_schema=False)


def speedscope_src(profile_url: str | None, title: str | None = None) -> str:
    """The iframe URL that makes speedscope fetch ``profile_url`` (same origin)."""
    if not profile_url:
        return SPEEDSCOPE
    fragment = "profileURL=" + quote(profile_url, safe="")
    if title:
        fragment += "&title=" + quote(title, safe="")
    return f"{SPEEDSCOPE}#{fragment}"


# A path on this server: one leading slash, then only URL characters (no spaces, tabs or
# other control characters, which browsers strip: "/\t/evil.example" would become the
# protocol-relative "//evil.example"; no backslash, which browsers read as a slash).
_SAME_ORIGIN = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")


def _same_origin(url: str) -> bool:
    if not _SAME_ORIGIN.fullmatch(url):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and parts.path.startswith("/")


@router.get("/profile-viewer", response_class=HTMLResponse)
def profile_viewer(
    request: Request,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    path: Annotated[str | None, Query(description="profile file under the outputs root")] = None,
    url: Annotated[str | None, Query(description="same-origin URL of a profile")] = None,
    pid: Annotated[int | None, Query(ge=1, description="only this process of the profile")] = None,
    device: Annotated[str | None, Query(max_length=200, description="its device name")] = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    error, profile_url, name = None, None, None
    status = 200
    try:
        if path:
            open_output(db, actor, settings, path, what="profile file", files_only=True)
            if pid is not None:  # one device's process (devices run in processes of their own)
                profile_url = "/profile-viewer/process?" + urlencode({"path": path, "pid": pid})
                name = f"{device or f'process {pid}'} — {path}"
            else:
                profile_url = "/outputs/file?" + urlencode({"path": path})
                name = path
        elif url:
            if not _same_origin(url):
                raise ApiError(400, "bad_url", f"profile URL {url!r} must be a path on this server")
            profile_url, name = url, url
    except (ApiError, DomainError) as exc:
        error, status = exc.message, exc.status
    return render(
        request,
        "pages/profile_viewer.html",
        {"viewer_src": speedscope_src(profile_url, name), "profile_name": name, "error": error},
        actor=actor,
        db=db,
        title=f"Profile: {name}" if name else "Profile viewer",
        status_code=status,
    )


@router.get("/profile-viewer/process")
def profile_of_process(
    request: Request,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    path: Annotated[str, Query(description="speedscope file under the outputs root")],
    pid: Annotated[int, Query(ge=1, description="the process to keep")],
) -> Response:
    """The speedscope file with the profiles of one process only (py-spy names them
    "Process <pid> Thread ..."): what a device's "profile" button opens."""
    if actor is None:
        raise ApiError(401, "not_authenticated", "log in to read profiles")
    target = open_output(db, actor, settings, path, what="profile file", files_only=True)
    try:
        data = json.loads(target.path.read_bytes())
        profiles = [
            p
            for p in data.get("profiles") or []
            if str(p.get("name", "")).startswith(f"Process {pid} ")
        ]
    except (OSError, ValueError, AttributeError) as exc:
        raise ApiError(422, "bad_profile", f"{path} is not a speedscope profile: {exc}") from None
    if not profiles:
        raise ApiError(404, "not_found", f"{path} holds no profile of process {pid}")
    data["profiles"] = profiles
    data["activeProfileIndex"] = 0
    return Response(json.dumps(data), media_type="application/json")
