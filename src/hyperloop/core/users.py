"""Local accounts: argon2 password hashes, roles and hashed personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import sessions
from hyperloop.core.actor import Actor
from hyperloop.core.common import flush_or_conflict
from hyperloop.core.errors import Conflict, NotFound, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.db.base import utcnow
from hyperloop.db.models import ApiToken, User
from hyperloop.enums import Role

_HASHER = PasswordHasher()
TOKEN_PREFIX = "hlp_"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises on malformed hashes.

    Without a hash (unknown user, account without password) a stand-in hash is verified all
    the same, so every failed login costs the same time and reveals nothing."""
    try:
        matches = _HASHER.verify(password_hash or _stand_in_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matches and bool(password_hash)


_STAND_IN: list[str] = []


def _stand_in_hash() -> str:
    """A hash of a random password with the current parameters (made once per process)."""
    if not _STAND_IN:
        _STAND_IN.append(_HASHER.hash(secrets.token_urlsafe(16)))
    return _STAND_IN[0]


def login_user(s: Session, username: str) -> User | None:
    """The account a login names, or None (unknown or deactivated: the login fails the same)."""
    user = find_user(s, username)
    return user if user is not None and user.active else None


def _roles(roles: Iterable[str]) -> list[str]:
    out = []
    for r in roles:
        try:
            out.append(Role(r).value)
        except ValueError:
            valid = ", ".join(x.value for x in Role)
            raise ValidationError(f"unknown role {r!r} (expected one of {valid})") from None
    return sorted(set(out))


def create_user(
    s: Session,
    username: str,
    *,
    roles: Iterable[str] = (),
    password: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    convener_pwgs: Iterable[str] = (),
) -> User:
    """A new account (no password for OIDC / certificate users). Refuses duplicates."""
    if not username or not username.strip() or len(username) > 64:
        raise ValidationError(f"invalid username {username!r}")
    if s.scalars(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"user {username!r} already exists", {"username": username})
    user = User(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password) if password else None,
        roles=_roles(roles),
        convener_pwgs=sorted(set(convener_pwgs)),
    )
    s.add(user)
    flush_or_conflict(s, f"user {username!r} already exists", {"username": username})
    return user


def get_user(s: Session, username: str) -> User:
    """The user called ``username``; raises ``NotFound``."""
    user = s.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def find_user(s: Session, username: str) -> User | None:
    return s.scalars(select(User).where(User.username == username)).first()


def set_roles(
    s: Session,
    actor: Actor | None,
    username: str,
    roles: Iterable[str],
    *,
    convener_pwgs: Iterable[str] | None = None,
) -> User:
    """Replace a user's roles (admin only; ``actor=None`` is the trusted admin CLI)."""
    if actor is not None:
        require(actor, Action.USER_MANAGE)
    user = get_user(s, username)
    before = (list(user.roles or []), list(user.convener_pwgs or []))
    user.roles = _roles(roles)
    if convener_pwgs is not None:
        user.convener_pwgs = sorted(set(convener_pwgs))
    if (list(user.roles), list(user.convener_pwgs or [])) != before:
        sessions.end_all(s, user.id, "roles changed")
    s.flush()
    return user


def add_role(
    s: Session, actor: Actor | None, username: str, role: str, *, pwg: str | None = None
) -> User:
    """Add one role (and for conveners their PWG)."""
    user = get_user(s, username)
    pwgs = set(user.convener_pwgs or [])
    if pwg:
        pwgs.add(pwg)
    return set_roles(s, actor, username, [*user.roles, role], convener_pwgs=pwgs)


def set_password(s: Session, user: User, password: str) -> None:
    if len(password) < 8:
        raise ValidationError("password must have at least 8 characters")
    user.password_hash = hash_password(password)
    sessions.end_all(s, user.id, "password changed")
    s.flush()


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_token(
    s: Session, user: User, name: str, *, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new personal token; the plaintext is returned once and only its hash is stored."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_token_hash(plaintext),
        prefix=plaintext[:12],
        expires_at=expires_at,
    )
    s.add(token)
    s.flush()
    return token, plaintext


TOKEN_USE_PRECISION = timedelta(minutes=5)


def user_for_token(s: Session, plaintext: str) -> User | None:
    """The active user owning a valid (not revoked, not expired) token, else None."""
    # token and owner in one round trip: every scripted request authenticates this way
    row = s.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _token_hash(plaintext))
    ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked:
        return None
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not user.active:
        return None
    # "last used" is informative: writing it on every request would turn each GET into a
    # write (one database lock per request on SQLite); minutes of precision are enough
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_PRECISION:
        token.last_used_at = now
    return user


def revoke_api_token(s: Session, actor: Actor, token_id: int) -> None:
    """Revoke a token of one's own (admins: any)."""
    token = s.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id}")
    if token.user_id != actor.user.id:
        require(actor, Action.USER_MANAGE)
    token.revoked = True
    s.flush()
