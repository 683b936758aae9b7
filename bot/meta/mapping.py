"""Graph API and webhook JSON → the core's Comment, at the edge. Wrong shapes raise InputError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config import PageSettings
from bot.domain import Comment, Platform
from bot.errors import InputError
from bot.ingest import Incoming


@dataclass(frozen=True, slots=True)
class PostInfo:
    """What a comment needs to know about the post (or Instagram media) it was written under."""

    id: str
    text: str = ""
    permalink: str | None = None
    created_time: datetime | None = None


def parse_time(value: Any) -> datetime | None:
    """Graph times ("2021-04-30T01:37:07+0000") and webhook Unix seconds → aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        try:
            parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise InputError(f"not a time: {value!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise InputError(f"not a time: {value!r}")


def object_of(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"{what} should be a JSON object, got {type(raw).__name__}")
    return raw


def list_of(raw: Any, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{what} should be a JSON list, got {type(raw).__name__}")
    return raw


def required_id(raw: dict[str, Any], key: str, what: str) -> str:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not clean(value).strip():
        raise InputError(f"{what} has no {key!r}")
    return clean(value).strip()


def optional_text(raw: dict[str, Any], key: str) -> str:
    """A text field, or "" if absent; NUL characters (legal in JSON, refused by PostgreSQL) are dropped."""
    value = raw.get(key)
    return clean(value) if isinstance(value, str) else ""


def clean(text: str) -> str:
    return text.replace("\x00", "")


def _author(raw: dict[str, Any], name_key: str) -> tuple[str | None, str | None]:
    """(id, name) of `from`; Graph sometimes leaves `from` out: then the author is unknown."""
    author = raw.get("from")
    if not isinstance(author, dict):
        username = raw.get("username")
        return None, clean(username) if isinstance(username, str) and username else None
    author_id = author.get("id")
    name = author.get(name_key) or raw.get("username")
    return (
        clean(str(author_id)) if isinstance(author_id, str | int) and author_id != "" else None,
        clean(name) if isinstance(name, str) and name else None,
    )


def post_from_graph(raw: Any) -> PostInfo:
    """A Facebook post from /{page-id}/published_posts or GET /{post-id}."""
    post = object_of(raw, "post")
    return PostInfo(
        id=required_id(post, "id", "post"),
        text=optional_text(post, "message"),
        permalink=optional_text(post, "permalink_url") or None,
        created_time=parse_time(post.get("created_time")),
    )


def media_from_graph(raw: Any) -> PostInfo:
    """An Instagram media object from /{ig-user-id}/media or GET /{media-id}."""
    media = object_of(raw, "media")
    return PostInfo(
        id=required_id(media, "id", "media"),
        text=optional_text(media, "caption"),
        permalink=optional_text(media, "permalink") or None,
        created_time=parse_time(media.get("timestamp")),
    )


def _incoming(comment: Comment, page: PageSettings, post: PostInfo | None, hidden: bool) -> Incoming:
    return Incoming(
        comment=comment,
        page=page,
        post_permalink=post.permalink if post else None,
        post_created_time=post.created_time if post else None,
        is_from_page=comment.author_id is not None and comment.author_id == page.id,
        is_hidden=hidden,
    )


def facebook_comment(raw: Any, post: PostInfo, page: PageSettings) -> Incoming:
    """A comment (or reply) from the Graph API comments edge."""
    item = object_of(raw, "comment")
    author_id, author_name = _author(item, "name")
    parent = item.get("parent")
    parent_id = parent.get("id") if isinstance(parent, dict) else None
    comment = Comment(
        text=optional_text(item, "message"),
        post_text=post.text,
        id=required_id(item, "id", "comment"),
        platform=Platform.FACEBOOK.value,
        author_name=author_name,
        author_id=author_id,
        created_time=parse_time(item.get("created_time")),
        permalink=optional_text(item, "permalink_url") or None,
        parent_id=str(parent_id) if parent_id else None,
        post_id=post.id,
        page_id=page.id,
    )
    return _incoming(comment, page, post, item.get("is_hidden") is True)


def instagram_comment(
    raw: Any, media: PostInfo, page: PageSettings, parent_id: str | None = None
) -> Incoming:
    """A top-level comment or reply from the Instagram comments/replies edges."""
    item = object_of(raw, "Instagram comment")
    author_id, author_name = _author(item, "username")
    declared_parent = item.get("parent_id")
    comment = Comment(
        text=optional_text(item, "text"),
        post_text=media.text,
        id=required_id(item, "id", "Instagram comment"),
        platform=Platform.INSTAGRAM.value,
        author_name=author_name,
        author_id=author_id,
        created_time=parse_time(item.get("timestamp")),
        permalink=media.permalink,
        parent_id=parent_id or (str(declared_parent) if declared_parent else None),
        post_id=media.id,
        page_id=page.id,
    )
    return _incoming(comment, page, media, item.get("hidden") is True)


@dataclass(frozen=True, slots=True)
class FeedCommentChange:
    """A Page `feed` change about a comment: verb add, edited or remove."""

    verb: str
    comment_id: str
    post_id: str
    parent_id: str | None  # None for a top-level comment
    message: str
    author_id: str | None
    author_name: str | None
    created_time: datetime | None
    post_permalink: str | None


@dataclass(frozen=True, slots=True)
class InstagramCommentChange:
    """An Instagram `comments` change: a new comment or reply."""

    comment_id: str
    media_id: str
    parent_id: str | None
    text: str
    author_id: str | None
    author_name: str | None
    created_time: datetime | None


FEED_VERBS = ("add", "edited", "remove")


def feed_comment_change(value: Any) -> FeedCommentChange | None:
    """The comment change in a `feed` value; None when the change is not about a comment."""
    item = object_of(value, "feed change value")
    if item.get("item") != "comment":
        return None
    verb = item.get("verb")
    if verb not in FEED_VERBS:
        return None  # hide/unhide and future verbs: nothing to do for a moderator
    comment_id = required_id(item, "comment_id", "feed comment change")
    post_id = required_id(item, "post_id", "feed comment change")
    parent = item.get("parent_id")
    parent_id = str(parent) if parent and str(parent) != post_id else None
    author_id, author_name = _author(item, "name")
    post = item.get("post")
    permalink = post.get("permalink_url") if isinstance(post, dict) else None
    return FeedCommentChange(
        verb=verb,
        comment_id=comment_id,
        post_id=post_id,
        parent_id=parent_id,
        message=optional_text(item, "message"),
        author_id=author_id,
        author_name=author_name,
        created_time=parse_time(item.get("created_time")),
        post_permalink=permalink if isinstance(permalink, str) else None,
    )


def instagram_comment_change(value: Any, entry_time: Any = None) -> InstagramCommentChange:
    item = object_of(value, "Instagram comments change value")
    media = object_of(item.get("media"), "Instagram comments change media")
    author_id, author_name = _author(item, "username")
    parent = item.get("parent_id")
    return InstagramCommentChange(
        comment_id=required_id(item, "id", "Instagram comments change"),
        media_id=required_id(media, "id", "Instagram comments change media"),
        parent_id=str(parent) if parent else None,
        text=optional_text(item, "text"),
        author_id=author_id,
        author_name=author_name,
        created_time=parse_time(item.get("timestamp") or entry_time),
    )


def facebook_webhook_comment(change: FeedCommentChange, page: PageSettings, post: PostInfo) -> Incoming:
    comment = Comment(
        text=change.message,
        post_text=post.text,
        id=change.comment_id,
        platform=Platform.FACEBOOK.value,
        author_name=change.author_name,
        author_id=change.author_id,
        created_time=change.created_time,
        permalink=_facebook_comment_permalink(post.permalink or change.post_permalink, change),
        parent_id=change.parent_id,
        post_id=change.post_id,
        page_id=page.id,
    )
    return _incoming(comment, page, post, False)


def instagram_webhook_comment(
    change: InstagramCommentChange, page: PageSettings, media: PostInfo
) -> Incoming:
    comment = Comment(
        text=change.text,
        post_text=media.text,
        id=change.comment_id,
        platform=Platform.INSTAGRAM.value,
        author_name=change.author_name,
        author_id=change.author_id,
        created_time=change.created_time,
        permalink=media.permalink,
        parent_id=change.parent_id,
        post_id=change.media_id,
        page_id=page.id,
    )
    return _incoming(comment, page, media, False)


def _facebook_comment_permalink(post_permalink: str | None, change: FeedCommentChange) -> str | None:
    """Webhooks carry only the post's link; this is the link Facebook uses to open the comment."""
    if not post_permalink:
        return None
    separator = "&" if "?" in post_permalink else "?"
    own = change.comment_id.split("_", 1)[-1]
    if change.parent_id:
        parent = change.parent_id.split("_", 1)[-1]
        return f"{post_permalink}{separator}comment_id={parent}&reply_comment_id={own}"
    return f"{post_permalink}{separator}comment_id={own}"
