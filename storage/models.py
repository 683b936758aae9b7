"""The database schema. Every table is shared by SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(50), default="")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"), default=None)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    permalink: Mapped[str | None] = mapped_column(Text, default=None)
    created_time: Mapped[datetime | None] = mapped_column(default=None)


class CommentRow(Base):
    __tablename__ = "comments"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        Index("ix_comments_author", "platform", "author_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"), default=None)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), default=None)
    parent_external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)  # None once purged or erased
    author_id: Mapped[str | None] = mapped_column(String(100), default=None)
    author_name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_time: Mapped[datetime | None] = mapped_column(default=None)
    permalink: Mapped[str | None] = mapped_column(Text, default=None)
    is_from_page: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    is_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    redacted_at: Mapped[datetime | None] = mapped_column(default=None)

    post: Mapped[Post | None] = relationship(lazy="joined")
    page: Mapped[Page | None] = relationship(lazy="joined")


class ClassificationRow(Base):
    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    flags: Mapped[str] = mapped_column(String(100), default="")  # comma-separated, sorted
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    language: Mapped[str] = mapped_column(String(8), default="und")
    model_version: Mapped[str] = mapped_column(String(100), default="")
    decided_by: Mapped[str] = mapped_column(String(100), default="model")  # "model" or a Slack user id
    is_feedback: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_deadline", "status", "deadline_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    category: Mapped[str] = mapped_column(String(20))
    flags: Mapped[str] = mapped_column(String(100), default="")
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 0 = most urgent
    deadline_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    assignee: Mapped[str | None] = mapped_column(String(50), default=None)
    suggested_reply: Mapped[str | None] = mapped_column(Text, default=None)
    reply_note: Mapped[str | None] = mapped_column(Text, default=None)
    final_reply: Mapped[str | None] = mapped_column(Text, default=None)
    reply_external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    slack_channel: Mapped[str | None] = mapped_column(String(50), default=None)
    slack_ts: Mapped[str | None] = mapped_column(String(50), default=None)
    handled_by: Mapped[str | None] = mapped_column(String(50), default=None)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    forwarded_at: Mapped[datetime | None] = mapped_column(default=None)
    forward_reference: Mapped[str | None] = mapped_column(String(100), default=None)
    pending_action: Mapped[str | None] = mapped_column(String(30), default=None)  # e.g. "publish" in flight

    comment: Mapped[CommentRow] = relationship(lazy="joined")


class AuditEvent(Base):
    """Append-only: rows are inserted, never updated or deleted (except by erasure of personal data)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # Slack user id, "system" or "model"
    action: Mapped[str] = mapped_column(String(50))
    task_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    comment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """Durable queue of outgoing calls (Slack, Graph API, e-mail), drained in order per lane."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "lane", "priority", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    lane: Mapped[str] = mapped_column(String(100), default="")  # e.g. the Slack channel
    priority: Mapped[int] = mapped_column(Integer, default=5)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class InboxEvent(Base):
    """Durable queue of received webhook deliveries, processed after the 200 is sent."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class SyncState(Base):
    __tablename__ = "sync_state"

    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), primary_key=True)
    newest_created_time: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class JobRun(Base):
    """One row per scheduled job and period, so a job never runs twice for the same period."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    period: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AppState(Base):
    """Small key/value settings changed at run time (crisis mode, paused pages)."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
