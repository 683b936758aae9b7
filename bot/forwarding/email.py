"""The "forward.email" outbox handler: a case inquiry to the records office over SMTP, once."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from bot.config import ForwardingSettings, Settings
from bot.followup import zone_of
from bot.forwarding import EMAIL, ForwardCase, load_case, mark_forwarded, records_address, report_failure
from bot.forwarding.record import render_html, render_record, render_text, subject
from bot.logs import register_secret
from bot.outbox import PermanentFailure, RetryLater
from storage import repository as repo
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 3600.0


def message_id(reference: str, sender: str) -> str:
    """The same Message-ID for every send of one case, so a resend after a crash is recognisable."""
    domain = sender.rpartition("@")[2].strip(" >") or "kommentarvakt.invalid"
    return f"<{reference}@{domain}>"


def build_email(case: ForwardCase, *, sender: str, recipient: str, settings: Settings) -> EmailMessage:
    """Plain text and HTML bodies, with the HTML record of the exchange attached."""
    zone = zone_of(settings)
    email = EmailMessage()
    email["Subject"] = subject(case)
    email["From"] = sender
    email["To"] = recipient
    email["Date"] = format_datetime(case.forwarded_at.astimezone(UTC))
    email["Message-ID"] = message_id(case.reference, sender)
    email["X-Kommentarvakt-Reference"] = case.reference
    email.set_content(render_text(case, zone))
    email.add_alternative(render_html(case, zone), subtype="html")
    email.add_attachment(render_record(case, zone), subtype="html", filename=f"{case.reference}.html")
    return email


def smtp_credentials(settings: ForwardingSettings) -> tuple[str | None, str | None]:
    """Username and password from the environment variables the config names; none for an open relay."""
    username = os.environ.get(settings.smtp_username_env, "") if settings.smtp_username_env else ""
    password = os.environ.get(settings.smtp_password_env, "") if settings.smtp_password_env else ""
    if username and not password:
        raise PermanentFailure(
            f"{settings.smtp_username_env} er sett, men {settings.smtp_password_env} manglar "
            "(forwarding.smtp_password_env)"
        )
    register_secret(password)
    return (username or None), (password or None)


async def send_email(
    email: EmailMessage, settings: ForwardingSettings, *, tls_context: ssl.SSLContext | None = None
) -> None:
    """Deliver over SMTP with the configured security: STARTTLS, implicit TLS or none."""
    username, password = smtp_credentials(settings)
    security = settings.smtp_security
    await aiosmtplib.send(
        email,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=username,
        password=password,
        use_tls=security == "tls",
        start_tls=security == "starttls",  # False for "none": never upgrade opportunistically either
        tls_context=tls_context,
        timeout=settings.smtp_timeout_s,
    )


def describe_smtp_error(error: BaseException, settings: ForwardingSettings) -> str:
    """What went wrong, in words for the moderator and the administrator (never a secret)."""
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return f"e-posttenaren {server} avviste mottakaren ({refused})"
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return f"e-posttenaren {server} avviste mottakaren {error.recipient} ({error.code} {error.message})"
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return (
            f"e-posttenaren {server} godtok ikkje innlogginga ({error.code}); sjekk "
            f"{settings.smtp_username_env} og {settings.smtp_password_env}"
        )
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return f"e-posttenaren {server} avviste avsendaren {error.sender} ({error.code} {error.message})"
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"e-posttenaren {server} svara {error.code} {error.message}"
    if isinstance(error, TimeoutError):
        return f"e-posttenaren {server} svara ikkje innan {settings.smtp_timeout_s:g} s"
    if isinstance(error, ssl.SSLError):
        return f"TLS-feil mot e-posttenaren {server}: {error}"
    return f"fekk ikkje sendt via e-posttenaren {server} ({type(error).__name__}: {error})"


def configuration_problem(address: str, settings: ForwardingSettings) -> str:
    """What is missing or wrong in the config for sending to `address`, or "" if nothing is."""
    if not address:
        return (
            "ingen e-postadresse til postmottaket er sett opp ([forwarding] email_to eller "
            "records_office_email for sida)"
        )
    if "@" not in address or any(char.isspace() for char in address.strip()):
        return f"«{address}» er ikkje ei e-postadresse ([forwarding] email_to eller records_office_email)"
    if "@" not in settings.email_from:
        return f"«{settings.email_from}» er ikkje ei e-postadresse ([forwarding] email_from)"
    if not settings.smtp_host:
        return "ingen e-posttenar er sett opp ([forwarding] smtp_host)"
    return ""


class EmailForwarder:
    """Outbox handler for "forward.email"; retries with growing delays, reports in the thread at the end."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None = None,
        retry_base_s: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.tls_context = tls_context
        self.retry_base_s = retry_base_s
        self.clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, message: OutboxMessage) -> dict[str, object] | None:
        payload = message.payload or {}
        task_id, actor = int(payload.get("task_id", 0)), str(payload.get("actor", ""))
        forwarding = self.settings.forwarding
        zone = zone_of(self.settings)
        now = self.clock()
        async with self.db.session() as session:
            task = await repo.get_task(session, task_id)
            if task is None:
                raise PermanentFailure(f"oppgåve {task_id} finst ikkje lenger")
            if task.forwarded_at is not None:
                return {"skipped": "already forwarded", "reference": task.forward_reference}
            address = records_address(self.settings, task)
            case = await load_case(session, task, actor, now, zone)
        problem = configuration_problem(address, forwarding)
        if problem:
            await report_failure(self.db, self.settings, message, EMAIL, problem)
            raise PermanentFailure(problem)
        email = build_email(case, sender=forwarding.email_from, recipient=address, settings=self.settings)
        try:
            await send_email(email, forwarding, tls_context=self.tls_context)
        except PermanentFailure as error:
            await report_failure(self.db, self.settings, message, EMAIL, str(error), address)
            raise
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            reason = describe_smtp_error(error, forwarding)
            if message.attempts + 1 >= forwarding.max_attempts:
                await report_failure(self.db, self.settings, message, EMAIL, reason, address)
                raise PermanentFailure(reason) from None
            delay_s = min(MAX_RETRY_DELAY_S, self.retry_base_s * 4**message.attempts)
            raise RetryLater(delay_s, reason, count_attempt=True) from None
        await mark_forwarded(
            self.db,
            task_id,
            actor=actor,
            address=address,
            reference=case.reference,
            now=now,
            zone=zone,
            message_id=email["Message-ID"],
        )
        log.info("task %s forwarded by e-mail as %s", task_id, case.reference)
        return {"reference": case.reference, "to": address, "message_id": email["Message-ID"]}
