"""Forwarding a case inquiry by e-mail, against a real SMTP server in the test process (aiosmtpd)."""

from __future__ import annotations

import email
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select, update

from bot.app import build_services
from bot.domain import Category
from bot.followup.component import FollowUpComponent
from bot.outbox import OutboxWorker
from bot.runtime import Services
from storage import repository as repo
from storage.db import Database
from storage.models import OutboxMessage, TaskRow
from tests.followup.conftest import (
    BYGG,
    INQUIRY,
    MODERATOR,
    OSLO,
    POST_TEXT,
    Clock,
    audit_events,
    drain,
    ingest,
    make_settings,
    mark_slack_posted,
    oslo,
    outbox,
    task,
)

USERNAME, PASSWORD = "kommentarvakt", "s3cret-smtp-passord"
SENT_AT = oslo(2026, 11, 24, 10, 42)
CREATED = oslo(2026, 5, 11, 10, 0)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    encrypted: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=default_policy)  # type: ignore[return-value]


class Mailbox:
    """An aiosmtpd handler that records what arrives; it can refuse recipients."""

    def __init__(self, *, refuse_recipients: bool = False) -> None:
        self.refuse_recipients = refuse_recipients
        self.received: list[Received] = []
        self.recipient_attempts = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.recipient_attempts += 1
        if self.refuse_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = session.auth_data
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or envelope.content,
                encrypted=server.transport.get_extra_info("ssl_object") is not None,
                login=auth.login if isinstance(auth, LoginPassword) else None,
            )
        )
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USERNAME.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """The sender trusts the test CA (passed to FollowUpComponent, not a config key)."""
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """Start an SMTP server on a free port of 127.0.0.1; returns the port."""
    controllers: list[Controller] = []

    def start(handler: Mailbox, **options: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_USERNAME", USERNAME)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


def forwarding_services(db: Database, port: int, **forwarding: Any) -> Services:
    settings = make_settings(
        db.url, forwarding={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout_s": 10, **forwarding}
    )
    return build_services(settings, db)


def worker_for(
    services: Services, client_tls: ssl.SSLContext | None
) -> tuple[FollowUpComponent, OutboxWorker]:
    component = FollowUpComponent(
        services, smtp_tls_context=client_tls, retry_base_s=0.01, clock=Clock(SENT_AT)
    )
    worker = OutboxWorker(
        services.db, component.outbox_handlers(), poll_s=0.2, on_failure=component.on_outbox_failure
    )
    return component, worker


async def inquiry_with_thread(services: Services) -> int:
    """The inquiry, the author's follow-up, the page's answer, and someone else's comment."""
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED, category=Category.CASE_INQUIRY)
    assert task_id is not None
    await ingest(
        services,
        "c2",
        "Eg har framleis ikkje fått svar, og det hastar no fordi snikkaren kjem i juni.",
        created=oslo(2026, 5, 11, 12, 0),
    )
    await ingest(
        services,
        "c3",
        "Hei! Vi har sendt spørsmålet ditt vidare til byggesaksavdelinga.",
        created=oslo(2026, 5, 11, 11, 0),
        author_id="page-100",
        author_name="Kinn kommune",
        parent_id="c1",
        from_page=True,
    )
    await ingest(
        services,
        "c4",
        "Same problem her, ingen svarar på telefon.",
        created=oslo(2026, 5, 11, 13, 0),
        author_id="fb-ola",
        author_name="Ola Olsen",
    )
    await mark_slack_posted(services.db, task_id)
    return task_id


async def test_a_forward_arrives_once_and_complete_over_starttls_with_login(
    db: Database,
    smtp_server: Callable[..., int],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    credentials: None,
) -> None:
    mailbox = Mailbox()
    port = smtp_server(
        mailbox,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    services = forwarding_services(db, port, smtp_security="starttls")
    task_id = await inquiry_with_thread(services)
    _component, worker = worker_for(services, client_tls)

    outcome = await services.tasks.forward(task_id, MODERATOR)
    assert outcome.ok and outcome.changed
    await drain(worker)
    again = await services.tasks.forward(task_id, MODERATOR)  # a second click
    await drain(worker)

    assert again.ok and not again.changed
    assert len(mailbox.received) == 1
    received = mailbox.received[0]
    assert received.encrypted and received.login == USERNAME.encode()
    assert received.rcpt_tos == ["postmottak@kinn.kommune.no"]
    assert received.mail_from == "kommentarvakt@kinn.kommune.no"

    row = await task(db, task_id)
    reference = f"KV-{row.created_at.astimezone(OSLO).year}-{task_id}"
    message = received.message
    assert message["Message-ID"] == f"<{reference}@kinn.kommune.no>"
    assert reference in message["Subject"]
    assert message["To"] == "postmottak@kinn.kommune.no"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (plain, html):
        assert "byggesøknaden min for garasje" in body
        assert "Kari Nordmann" in body and "fb-kari" in body
        assert "11. mai 2026 kl. 10:00" in body  # Oslo time of the comment
        assert "https://www.facebook.com/100_1?comment_id=c1" in body
        assert "nye opningstider frå 1. juni" in body and "https://www.facebook.com/100_1" in body
        assert "Sakshandsaming" in body
        assert MODERATOR in body
        assert reference in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{reference}.html"
    assert attachment.get_content_type() == "text/html"
    record = attachment.get_content()
    assert "byggesøknaden min for garasje" in record
    assert "snikkaren kjem i juni" in record  # the author's other comment under the post
    assert "sendt spørsmålet ditt vidare" in record  # the page's answer in the thread
    assert "Ola Olsen" not in record and "ingen svarar på telefon" not in record
    assert "Oppgåve oppretta" in record and "Vidaresending bede om" in record  # the audit trail
    assert (row.suggested_reply or "")[:40] in record.replace("&#x27;", "'").replace("&quot;", '"')

    assert row.forwarded_at is not None and row.forward_reference == reference
    assert row.status == "forwarded" and row.pending_action is None
    [forwarded] = await audit_events(db, "forwarded")
    assert forwarded.actor == MODERATOR and forwarded.task_id == task_id
    assert (
        forwarded.detail["to"] == "postmottak@kinn.kommune.no" and forwarded.detail["reference"] == reference
    )
    notes = [
        m.payload["text"] for m in await outbox(db, ["slack.thread_note"]) if m.payload["task_id"] == task_id
    ]
    assert f"Send til postmottak@kinn.kommune.no kl. 10:42, referanse {reference}." in notes
    updates = [m for m in await outbox(db, ["slack.update_task"]) if m.payload["task_id"] == task_id]
    assert updates
    [sent] = await outbox(db, ["forward.email"])
    assert sent.status == "done"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls(
    db: Database,
    smtp_server: Callable[..., int],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    credentials: None,
) -> None:
    mailbox = Mailbox()
    port = smtp_server(
        mailbox,
        ssl_context=server_tls,
        auth_required=True,
        auth_require_tls=False,
        authenticator=authenticator,
    )
    services = forwarding_services(db, port, smtp_security="tls")
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED)
    assert task_id is not None
    _component, worker = worker_for(services, client_tls)

    await services.tasks.forward(task_id, MODERATOR)
    await drain(worker)

    [received] = mailbox.received
    assert received.encrypted and received.login == USERNAME.encode()
    assert (await task(db, task_id)).forwarded_at is not None


async def test_no_security_never_upgrades_and_uses_the_pages_records_office(
    db: Database, smtp_server: Callable[..., int], server_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    mailbox = Mailbox()
    port = smtp_server(mailbox, tls_context=server_tls)  # offers STARTTLS; "none" must not take it
    services = forwarding_services(db, port, smtp_security="none")
    task_id = await ingest(services, "i1", INQUIRY, created=CREATED, page=BYGG, post_id="200_1")
    assert task_id is not None
    _component, worker = worker_for(services, None)

    await services.tasks.forward(task_id, MODERATOR)
    await drain(worker)

    [received] = mailbox.received
    assert not received.encrypted and received.login is None
    assert received.rcpt_tos == ["byggesak@kinn.kommune.no"]
    assert "Instagram" in received.message["Subject"]


async def test_a_refusing_server_is_retried_then_reported_and_a_new_click_sends(
    db: Database,
    smtp_server: Callable[..., int],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    credentials: None,
) -> None:
    mailbox = Mailbox(refuse_recipients=True)
    port = smtp_server(mailbox, tls_context=server_tls, authenticator=authenticator)
    services = forwarding_services(db, port, max_attempts=3)
    task_id = await inquiry_with_thread(services)
    _component, worker = worker_for(services, client_tls)

    await services.tasks.forward(task_id, MODERATOR)
    await drain(worker)

    assert mailbox.recipient_attempts == 3 and mailbox.received == []
    [failed] = await outbox(db, ["forward.email"])
    assert failed.status == "failed" and "550" in (failed.last_error or "")
    row = await task(db, task_id)
    assert row.forwarded_at is None and row.pending_action is None and row.status == "open"
    [event] = await audit_events(db, "forward_failed")
    assert event.task_id == task_id and "550" in event.detail["reason"]
    notes = [
        m.payload["text"] for m in await outbox(db, ["slack.thread_note"]) if m.payload["task_id"] == task_id
    ]
    [report] = [note for note in notes if note.startswith(":warning: Klarte ikkje")]
    assert "avviste mottakaren" in report and "Send til postmottaket" in report  # what happened, what to do
    [alert] = await outbox(db, ["slack.alert"])
    assert str(task_id) in alert.payload["text"]
    everything = " ".join(str(m.payload) + (m.last_error or "") for m in await outbox(db)) + str(event.detail)
    assert PASSWORD not in everything

    # The records office fixes its server; the moderator clicks again and it goes through once.
    mailbox.refuse_recipients = False
    outcome = await services.tasks.forward(task_id, MODERATOR)
    assert outcome.changed
    await drain(worker)
    assert len(mailbox.received) == 1
    assert (await task(db, task_id)).status == "forwarded"


async def test_a_wrong_password_is_reported_without_the_password(
    db: Database,
    smtp_server: Callable[..., int],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMTP_USERNAME", USERNAME)
    monkeypatch.setenv("SMTP_PASSWORD", "feil-passord-123")
    mailbox = Mailbox()
    port = smtp_server(mailbox, tls_context=server_tls, auth_required=True, authenticator=authenticator)
    services = forwarding_services(db, port, max_attempts=2)
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED)
    assert task_id is not None
    _component, worker = worker_for(services, client_tls)

    await services.tasks.forward(task_id, MODERATOR)
    await drain(worker)

    assert mailbox.received == []
    [event] = await audit_events(db, "forward_failed")
    assert "SMTP_USERNAME" in event.detail["reason"] and "SMTP_PASSWORD" in event.detail["reason"]
    everything = " ".join(str(m.payload) + (m.last_error or "") for m in await outbox(db))
    assert "feil-passord-123" not in everything + str(event.detail)


@pytest.mark.parametrize(
    ("forwarding", "expected"),
    [
        ({"email_to": ""}, "email_to"),
        ({"email_to": "postmottak kinn"}, "ikkje ei e-postadresse"),
        ({"smtp_host": ""}, "smtp_host"),
    ],
)
async def test_missing_address_or_server_fails_clearly_at_once(
    db: Database, forwarding: dict[str, str], expected: str
) -> None:
    settings = make_settings(db.url, forwarding={"smtp_host": "127.0.0.1", **forwarding})
    services = build_services(settings, db)
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED)
    assert task_id is not None
    _component, worker = worker_for(services, None)

    await services.tasks.forward(task_id, MODERATOR)
    await drain(worker)

    [failed] = await outbox(db, ["forward.email"])
    assert failed.status == "failed" and failed.attempts == 0 and expected in (failed.last_error or "")
    notes = [m.payload["text"] for m in await outbox(db, ["slack.thread_note"])]
    assert any(expected in note and "Klarte ikkje" in note for note in notes)


async def test_a_resend_after_a_crash_carries_the_same_message_id(
    db: Database, smtp_server: Callable[..., int]
) -> None:
    mailbox = Mailbox()
    port = smtp_server(mailbox)
    services = forwarding_services(db, port, smtp_security="none")
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED)
    assert task_id is not None
    component, _worker = worker_for(services, None)
    await services.tasks.forward(task_id, MODERATOR)
    async with db.session() as session:
        message = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "forward.email"))
        ).scalar_one()
        session.expunge(message)
    handler = component.outbox_handlers()["forward.email"]

    await handler(message)
    # The process died before the outbox row was marked done and, in the worst case, before the task
    # row was written: the same message is handled again.
    async with db.session() as session:
        await session.execute(update(TaskRow).where(TaskRow.id == task_id).values(forwarded_at=None))
    await handler(message)
    assert await handler(message) == {
        "skipped": "already forwarded",
        "reference": (await task(db, task_id)).forward_reference,
    }

    first, second = (received.message for received in mailbox.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert POST_TEXT[:30] in first.get_body(("plain",)).get_content()


async def test_a_forward_of_a_missing_task_alerts_the_admins_once(db: Database) -> None:
    services = forwarding_services(db, free_port(), smtp_security="none")
    _component, worker = worker_for(services, None)
    async with db.session() as session:
        await repo.enqueue(session, "forward.email", {"task_id": 999, "actor": MODERATOR}, lane="forward")

    await drain(worker)

    [message] = await outbox(db, ["forward.email"])
    assert message.status == "failed" and "999" in (message.last_error or "")
    [alert] = await outbox(db, ["slack.alert"])
    assert "999" in alert.payload["text"]
    assert len(await audit_events(db, "forward_failed")) == 1
