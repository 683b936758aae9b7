"""Secrets never leave the process: not in logs, errors, Slack messages, URLs, health or metrics.

One `python -m bot run` gets every secret (Slack bot token and signing secret, Meta app secret and verify
token, SMTP password, Page tokens) and is driven through the paths where a secret could slip out: an
expired Page token (190), a token refused while publishing, Slack errors and rate limits, SMTP failing,
badly signed requests. Then every byte it wrote (stderr, what the fakes recorded, the database's error
columns, /healthz, /metrics) is searched for every secret.
"""

from __future__ import annotations

import json
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from storage.models import AuditEvent, InboxEvent, OutboxMessage, Page, SyncState, TaskRow
from tests.reliability.conftest import ADMIN, ADMIN_CHANNEL, MODERATOR, Stack, free_port, stack, wait_until

__all__ = ["stack"]  # the harness's fixture


async def test_no_secret_appears_in_logs_errors_messages_or_urls(stack: Stack) -> None:
    fine, publishing = stack.pages
    expired = stack.add_page()
    stack.add_comment(fine, "Eg søkte om byggjeløyve i mars og har ikkje fått svar. Kan de sjekke saka mi?")
    stack.add_comment(publishing, "Kor lenge er det ope på laurdagar?")
    stack.add_comment(expired, "Kva kostar det for eit årskort for vaksne?")
    stack.graph.expire_token(expired.token, subcode=463)
    stack.slack.rate_limit_next("chat.postMessage", 1, retry_after=1)
    smtp_logins: list[bytes] = []
    mail_server = refusing_mail_server(smtp_logins)
    bot = await stack.started_bot(forwarding={"smtp_port": mail_server.port})
    await stack.wait_all_posted(tasks=2)
    fine_task, publishing_task = await _task_ids_by_page(stack, fine.id, publishing.id)

    # Badly signed requests on both endpoints.
    assert (await stack.post_webhook(bot, b'{"object": "page"}', signature="sha256=00")).status_code == 403
    bad = await stack.slack_request(bot, b"command=%2Fkommentarvakt&text=status", secret="not-the-secret")
    assert bad.status_code == 401

    # Forwarding: the mail server refuses the login (the password was sent and must not come back).
    assert (await stack.click(bot, "task_forward", str(fine_task), MODERATOR)).status_code == 200
    await wait_until(lambda: _forward_tried(stack), timeout_s=30, what="a forwarding attempt", interval_s=0.2)
    assert stack.secrets.smtp_password.encode() in smtp_logins  # the password really was in use

    # Publishing with a token Meta refuses (190): the page is paused and the admins are told.
    stack.graph.fail_next(1, code=190, subcode=460, method="POST")
    stack.slack.error_next("chat.update", 1, "invalid_auth")  # and Slack refuses the bot token once
    assert (await stack.click(bot, "task_publish", str(publishing_task), MODERATOR)).status_code == 200
    await wait_until(lambda: _paused(stack, publishing.id), timeout_s=30, what="the page paused after 190")
    await wait_until(lambda: len(_admin_texts(stack)) >= 2, timeout_s=30, what="two token alerts")
    assert (await stack.slash(bot, "status", ADMIN)).status_code == 200
    health = await stack.http.get(bot.base_url + "/healthz")
    metrics = await stack.http.get(bot.base_url + "/metrics")
    assert bot.terminate() == 0

    secrets = stack.secrets.values() + [page.token for page in stack.pages]
    places = {
        "stderr": bot.stderr_text(),
        "/healthz": health.text,
        "/metrics": metrics.text,
        "Slack requests": "\n".join(
            call.raw_body.decode("utf-8", "replace") + json.dumps(call.body, ensure_ascii=False)
            for call in stack.slack.calls()
        ),
        "Graph request URLs": "\n".join(
            request.path + json.dumps(request.query) for request in stack.graph.requests
        ),
        "database": await _stored_text(stack),
    }
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:6]}…) appears in {place}"
    assert all("access_token" not in request.query for request in stack.graph.requests)
    # The error paths were taken, so the search above had something to search.
    logged = bot.stderr_text()
    for trace in ("190/463", "190/460", "invalid_auth", "innlogginga (535)", "rate limited"):
        assert trace in logged, trace
    mail_server.stop()


def refusing_mail_server(logins: list[bytes]) -> Controller:
    """An SMTP server on 127.0.0.1 that asks for a login and refuses every password."""

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        logins.append(bytes(getattr(auth_data, "password", b"") or b""))
        return AuthResult(success=False, handled=False)

    controller = Controller(
        Sink(), hostname="127.0.0.1", port=free_port(), auth_require_tls=False, authenticator=authenticator
    )
    controller.start()
    return controller


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def _task_ids_by_page(stack: Stack, *page_ids: str) -> list[int]:
    async with stack.db.session() as session:
        tasks = (await session.execute(select(TaskRow))).unique().scalars().all()
        by_page = {task.comment.page.external_id: task.id for task in tasks}
    return [by_page[page_id] for page_id in page_ids]


async def _forward_tried(stack: Stack) -> bool:
    async with stack.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.attempts, OutboxMessage.status).where(OutboxMessage.kind == "forward.email")
        )
        return any(attempts > 0 or status != "pending" for attempts, status in rows.all())


async def _paused(stack: Stack, page_id: str) -> bool:
    return await stack.count(Page, Page.external_id == page_id, Page.paused.is_(True)) == 1


def _admin_texts(stack: Stack) -> list[str]:
    return [
        str(call.body.get("text") or "")
        for call in stack.slack.calls("chat.postMessage", ok=True)
        if call.body.get("channel") == ADMIN_CHANNEL
    ]


async def _stored_text(stack: Stack) -> str:
    """Everything the bot wrote down about errors and work: outbox, audit, inbox, sync state, pages."""
    async with stack.db.session() as session:
        parts: list[str] = []
        for message in (await session.execute(select(OutboxMessage))).scalars():
            parts += [str(message.last_error), json.dumps(message.payload), json.dumps(message.result)]
        for event in (await session.execute(select(AuditEvent))).scalars():
            parts.append(json.dumps(event.detail, ensure_ascii=False))
        for inbox in (await session.execute(select(InboxEvent))).scalars():
            parts.append(str(inbox.last_error))
        for state in (await session.execute(select(SyncState))).scalars():
            parts.append(str(state.last_error))
        for page in (await session.execute(select(Page))).scalars():
            parts.append(str(page.paused_reason))
        return "\n".join(parts)
