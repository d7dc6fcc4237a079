"""E-mail delivery: the outbox goes out through a pluggable sender (``.eml`` files by
default, SMTP when configured), once per row, and a failing address does not stop the
others; the policy says which notification kinds e-mail whom."""

from __future__ import annotations

import socket
import threading
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from hyperloop.core import mail
from hyperloop.db.models import EmailOutbox
from hyperloop.enums import NotificationKind


def parse(path: Path):
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def test_the_outbox_is_written_as_eml_files_once(session, tmp_path):
    mail.queue_email(session, "alice@example.org", "train 7 is done", "See /train-run/7\n")
    mail.queue_email(session, "bob@example.org", "[Hyperloop] test failed", "body\n")
    sender = mail.FolderSender(tmp_path / "mail")
    result = mail.deliver_outbox(session, sender, from_address="hyperloop@cern.example")
    assert (result.sent, result.failed) == (2, 0)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    got = [(m["From"], m["To"], m["Subject"]) for m in map(parse, files)]
    assert got == [
        ("hyperloop@cern.example", "alice@example.org", "[Hyperloop] train 7 is done"),
        ("hyperloop@cern.example", "bob@example.org", "[Hyperloop] test failed"),
    ]
    assert parse(files[0]).get_content() == "See /train-run/7\n"
    assert mail.unsent_count(session) == 0
    assert mail.deliver_outbox(session, sender).sent == 0  # nothing is sent twice
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 2


class _Refuses:
    """A sender that refuses one address (like an SMTP server rejecting a recipient)."""

    def __init__(self, folder: Path) -> None:
        self.inner = mail.FolderSender(folder)

    def send(self, message) -> None:
        if message["To"] == "broken@example.org":
            raise OSError("550 mailbox unavailable")
        self.inner.send(message)


def test_a_refused_address_stays_queued_and_the_others_go(session, tmp_path):
    mail.queue_email(session, "broken@example.org", "a", "x")
    mail.queue_email(session, "carol@example.org", "b", "y")
    result = mail.deliver_outbox(session, _Refuses(tmp_path))
    assert (result.sent, result.failed) == (1, 1)
    assert "broken@example.org" in result.errors[0] and "550" in result.errors[0]
    unsent = session.scalars(select(EmailOutbox).where(EmailOutbox.sent_at.is_(None))).all()
    assert [r.to_address for r in unsent] == ["broken@example.org"]


def _smtp_server(received: list[bytes]) -> tuple[int, threading.Thread]:
    """A minimal SMTP server for one conversation (enough for smtplib)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        f = conn.makefile("rwb")

        def reply(line: str) -> None:
            f.write(line.encode() + b"\r\n")
            f.flush()

        reply("220 test ESMTP")
        data = False
        body: list[bytes] = []
        for raw in f:
            if data:
                if raw.rstrip(b"\r\n") == b".":
                    data = False
                    received.append(b"".join(body))
                    reply("250 queued")
                else:
                    body.append(raw)
                continue
            cmd = raw.decode().strip().upper()
            if cmd.startswith(("EHLO", "HELO")):
                reply("250 test")
            elif cmd == "DATA":
                data = True
                reply("354 go on")
            elif cmd == "QUIT":
                reply("221 bye")
                break
            else:
                reply("250 ok")
        conn.close()
        srv.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_an_smtp_server_is_used_when_configured(session, tmp_path):
    received: list[bytes] = []
    port, thread = _smtp_server(received)
    settings = SimpleNamespace(smtp_host="127.0.0.1", smtp_port=port, data_dir=tmp_path)
    sender = mail.sender_from_settings(settings)
    assert isinstance(sender, mail.SmtpSender)
    mail.queue_email(session, "dave@example.org", "long train approved", "See /train-run/3\n")
    assert mail.deliver_outbox(session, sender).sent == 1
    thread.join(timeout=10)
    msg = BytesParser(policy=policy.default).parsebytes(received[0])
    assert (msg["To"], msg["Subject"]) == ("dave@example.org", "[Hyperloop] long train approved")


def test_without_smtp_the_default_writes_files_under_the_data_dir(tmp_path):
    sender = mail.sender_from_settings(SimpleNamespace(data_dir=tmp_path))
    assert sender == mail.FolderSender(tmp_path / "mail")
    chosen = mail.sender_from_settings(SimpleNamespace(smtp_host="", mail_dir=tmp_path / "out"))
    assert chosen == mail.FolderSender(tmp_path / "out")


def test_the_policy_names_who_gets_mail_for_which_kind():
    K, R = NotificationKind, mail.Recipients
    assert mail.email_groups(K.TEST_FAILED) == {R.ANALYSIS}
    assert mail.email_groups(K.TRAIN_ISSUES) == {R.ANALYSIS, R.OPERATORS}
    assert mail.email_groups(K.LONG_TRAIN_REJECTED) == {R.REQUESTER}
    # notifications only
    assert mail.email_groups(K.TRAIN_COMPOSED) == frozenset()
    assert mail.email_groups(K.DATASET_CHANGED) == frozenset()
    assert mail.email_groups("not-a-kind") == frozenset()
