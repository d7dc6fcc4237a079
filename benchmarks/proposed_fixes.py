"""The fixes proposed in notes/api-needs.md (items 10-12), applied by monkeypatching so the
benchmark can measure them end to end before they land in the real modules.

    uvicorn benchmarks.proposed_fixes:create_app --factory     (api_load.py --proposed-fixes)

Each patch keeps the endpoint's output identical (checked by tests/benchmarks); a patch
whose fix has already landed upstream is skipped.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, load_only

from hyperloop.core import users
from hyperloop.db import models as m
from hyperloop.db.base import utcnow
from hyperloop.web.api import analyses as analyses_api
from hyperloop.web.api import trains as trains_api
from hyperloop.web.app import create_app as _create_app
from hyperloop.web.pagination import PageParams, paginate

TOKEN_TOUCH_EVERY = timedelta(minutes=5)
_LIST_COLUMNS = [getattr(m.TrainRun, f) for f in trains_api.TrainOut.model_fields]


def user_for_token(s: Session, plaintext: str) -> m.User | None:
    """As core.users.user_for_token, but ``last_used_at`` is written at most every 5 min
    (otherwise every GET is a write transaction)."""
    from hyperloop.core.users import _token_hash  # noqa: PLC0415

    token = s.scalars(
        select(m.ApiToken).where(m.ApiToken.token_hash == _token_hash(plaintext))
    ).first()
    if token is None or token.revoked:
        return None
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    user = s.get(m.User, token.user_id)
    if user is None or not user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_EVERY:
        token.last_used_at = now
    return user


def paginate_trains(db: Session, stmt: Select[Any], paging: PageParams, convert: Any) -> Any:
    """The train list without the JSON snapshot columns it never outputs."""
    return paginate(db, stmt.options(load_only(*_LIST_COLUMNS)), paging, convert)


WAGON_COLUMNS = (
    "m.Wagon.id, m.Wagon.analysis_id, m.Wagon.name, m.Wagon.workflow, m.Wagon.disabled_reason"
)


def _patched_my_analyses_data() -> Any:
    """E2's current ``my_analyses_data`` with column-only wagon rows (``load_only``): built
    from its source so the benchmark follows the real code; fails if that query changed."""
    source = textwrap.dedent(inspect.getsource(analyses_api.my_analyses_data))
    pattern = re.compile(r"select\(m\.Wagon\)\s*\.where\(m\.Wagon\.analysis_id")
    if not pattern.search(source):
        return analyses_api.my_analyses_data  # already fixed upstream: nothing to patch
    patched = pattern.sub(
        f"select(m.Wagon).options(load_only({WAGON_COLUMNS})).where(m.Wagon.analysis_id",
        source,
        count=1,
    )
    namespace = dict(vars(analyses_api)) | {"load_only": load_only}
    exec(compile(patched, analyses_api.__file__, "exec"), namespace)  # noqa: S102
    return namespace["my_analyses_data"]


_ORIGINALS: dict[str, Any] = {}


def apply() -> None:
    """Install the three patches (idempotent; ``revert()`` undoes them)."""
    if _ORIGINALS:
        return
    _ORIGINALS.update(
        user_for_token=users.user_for_token,
        paginate=trains_api.paginate,
        my_analyses_data=analyses_api.my_analyses_data,
    )
    if "last_used_at is None or" not in inspect.getsource(_ORIGINALS["user_for_token"]):
        users.user_for_token = user_for_token
    if "wagons_snapshot" not in inspect.getsource(trains_api.list_trains):
        trains_api.paginate = paginate_trains
    analyses_api.my_analyses_data = _patched_my_analyses_data()


def revert() -> None:
    """Restore the original functions."""
    if not _ORIGINALS:
        return
    users.user_for_token = _ORIGINALS.pop("user_for_token")
    trains_api.paginate = _ORIGINALS.pop("paginate")
    analyses_api.my_analyses_data = _ORIGINALS.pop("my_analyses_data")


def create_app() -> FastAPI:
    apply()
    return _create_app()
