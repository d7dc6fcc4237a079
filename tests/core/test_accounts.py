"""Accounts: argon2 passwords, hashed API tokens, analyses membership and display order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hyperloop.core import analyses, users
from hyperloop.core.actor import Actor
from hyperloop.core.errors import Conflict, NotFound, ValidationError
from hyperloop.db.base import utcnow
from hyperloop.db.models import ApiToken


def test_passwords_are_argon2_hashed_and_verified(session):
    user = users.create_user(session, "ann", password="correct horse")
    assert user.password_hash.startswith("$argon2")
    assert users.verify_password(user.password_hash, "correct horse")
    assert not users.verify_password(user.password_hash, "wrong")
    assert not users.verify_password("not-a-hash", "x")
    assert not users.verify_password(None, "x")
    with pytest.raises(Conflict):
        users.create_user(session, "ann")
    with pytest.raises(NotFound):
        users.get_user(session, "nobody")
    assert users.find_user(session, "nobody") is None


def test_api_tokens_are_stored_hashed_and_can_expire_or_be_revoked(session):
    user = users.create_user(session, "ann")
    token, plaintext = users.create_api_token(session, user, "laptop")
    stored = session.get(ApiToken, token.id)
    assert plaintext not in (stored.token_hash, stored.prefix)
    assert users.user_for_token(session, plaintext) is user
    assert users.user_for_token(session, plaintext + "x") is None
    stored.expires_at = utcnow() - timedelta(seconds=1)
    assert users.user_for_token(session, plaintext) is None
    stored.expires_at = None
    users.revoke_api_token(session, Actor(user), token.id)
    assert users.user_for_token(session, plaintext) is None


def test_roles_are_validated(session):
    users.create_user(session, "ann")
    users.add_role(session, None, "ann", "pwg_convener", pwg="PWG-LF")
    assert users.get_user(session, "ann").convener_pwgs == ["PWG-LF"]
    with pytest.raises(ValidationError, match="unknown role"):
        users.add_role(session, None, "ann", "wizard")


def test_my_analyses_follow_the_saved_order(session):
    ann = users.create_user(session, "ann")
    a = analyses.create_analysis(session, None, "A", "PWG-LF")
    b = analyses.create_analysis(session, None, "B", "PWG-LF")
    analyses.add_member(session, None, a.id, ann.id)
    analyses.add_member(session, None, b.id, ann.id)
    assert [x.name for x in analyses.my_analyses(session, ann)] == ["A", "B"]
    analyses.set_display(session, Actor(ann), a.id, order=5, collapsed=True)
    assert [x.name for x in analyses.my_analyses(session, ann)] == ["B", "A"]
