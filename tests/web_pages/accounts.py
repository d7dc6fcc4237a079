"""A small database with login accounts for page tests (schema from the models, like the API
tests' world): an analyzer with two unread notifications and an admin who may impersonate."""

from __future__ import annotations

from hyperloop.core import notifications, users
from hyperloop.db.models import Base
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import NotificationKind

PASSWORD = "correct horse battery staple"
ANALYZER = "alice"
ADMIN = "root-admin"


def seed_accounts(url: str) -> None:
    """Create the schema and the two accounts in the database at ``url``."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine).begin() as s:
        password_hash = users.hash_password(PASSWORD)
        alice = users.create_user(s, ANALYZER, email="alice@example.org")
        admin = users.create_user(s, ADMIN, roles=["admin"], email="admin@example.org")
        for person in (alice, admin):
            person.password_hash = password_hash
        s.flush()
        notifications.notify(s, [alice.id], NotificationKind.TEST_FAILED, "wagon test failed")
        notifications.notify(s, [alice.id], NotificationKind.DATASET_CHANGED, "dataset changed")
    engine.dispose()
