"""Tests of the Graph API fake itself (through real HTTP, with httpx)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.fakes.graph_api import (
    FakeGraphAPI,
    FieldSpec,
    FieldsSyntaxError,
    feed_change_payload,
    format_fields,
    format_graph_time,
    instagram_comment_payload,
    parse_fields,
    parse_time,
    sign,
    webhook_body,
)

PAGE_ID = "111"
PAGE_TOKEN = "PAGE_TOKEN"
OTHER_PAGE_ID = "222"
OTHER_TOKEN = "OTHER_TOKEN"
IG_ID = "17841400000000001"
IG_TOKEN = "IG_TOKEN"
T0 = 1_735_689_600  # 2025-01-01T00:00:00+0000
TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$"


@pytest.fixture
def fake() -> FakeGraphAPI:
    api = FakeGraphAPI()
    api.add_page(PAGE_ID, "Kommunen", PAGE_TOKEN)
    api.add_page(OTHER_PAGE_ID, "Nabokommunen", OTHER_TOKEN)
    api.add_ig_user(IG_ID, "kommunen", IG_TOKEN, page_id=PAGE_ID)
    return api


@pytest_asyncio.fixture
async def client(fake: FakeGraphAPI) -> AsyncIterator[httpx.AsyncClient]:
    base_url = await fake.start()
    async with httpx.AsyncClient(base_url=f"{base_url}/v25.0") as http:
        yield http
    await fake.stop()


async def get(
    client: httpx.AsyncClient, path: str, token: str | None = PAGE_TOKEN, **params: Any
) -> httpx.Response:
    if token is not None:
        params["access_token"] = token
    return await client.get(path, params=params)


async def collect(client: httpx.AsyncClient, first: httpx.Response) -> tuple[list[dict[str, Any]], int]:
    """Follow ``paging.next`` to the end; returns the items and the number of pages."""
    items: list[dict[str, Any]] = []
    response, pages = first, 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        pages += 1
        next_url = body.get("paging", {}).get("next")
        if not next_url:
            return items, pages
        response = await client.get(next_url)


def seed_posts(fake: FakeGraphAPI, count: int) -> list[str]:
    return [fake.add_post(PAGE_ID, f"Innlegg {i}", created_time=T0 + i * 3600) for i in range(count)]


# ----------------------------------------------------------------------------- fields syntax


def test_parse_fields_nested_with_modifiers() -> None:
    text = (
        "id,message,created_time,updated_time,comments.limit(100).filter(stream).since(123)"
        "{id,message,created_time,from,parent{id},is_hidden,permalink_url}"
    )
    specs = parse_fields(text)
    assert [s.name for s in specs] == ["id", "message", "created_time", "updated_time", "comments"]
    comments = specs[-1]
    assert comments.modifiers == (("limit", "100"), ("filter", "stream"), ("since", "123"))
    assert comments.subfields is not None
    assert [s.name for s in comments.subfields] == [
        "id",
        "message",
        "created_time",
        "from",
        "parent",
        "is_hidden",
        "permalink_url",
    ]
    parent = comments.subfields[4]
    assert parent.subfields == (FieldSpec("id"),)
    assert format_fields(specs) == text


def test_parse_fields_whitespace_alias_and_deep_nesting() -> None:
    specs = parse_fields(" id , comments.as(c).limit( 5 ) { id , comments { from { id } } } ")
    assert specs[1].alias == "c"
    assert specs[1].modifier("limit") == "5"
    assert format_fields(specs) == "id,comments.as(c).limit(5){id,comments{from{id}}}"


@pytest.mark.parametrize(
    "bad", ["id,", "id,,message", "comments{id", "comments.limit(5", "id}", "a{}", "x.y"]
)
def test_parse_fields_rejects_bad_syntax(bad: str) -> None:
    with pytest.raises(FieldsSyntaxError):
        parse_fields(bad)


def test_time_helpers() -> None:
    assert format_graph_time(T0) == "2025-01-01T00:00:00+0000"
    assert parse_time(str(T0)) == T0
    assert parse_time("2025-01-01T00:00:00+0000") == T0
    assert parse_time("2025-01-01T01:00:00+01:00") == T0
    assert parse_time("2025-01-01T00:00:00Z") == T0
    assert parse_time("2025-01-01T00:00:00 0000") == T0  # unencoded '+' in a query string
    assert parse_time("2025-01-01") == T0
    with pytest.raises(ValueError):
        parse_time("next tuesday-ish")


# ----------------------------------------------------------------------------- lifecycle


@pytest.mark.asyncio
async def test_start_returns_local_base_url(fake: FakeGraphAPI) -> None:
    base_url = await fake.start()
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert int(base_url.rsplit(":", 1)[1]) > 0
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{base_url}/v25.0/{PAGE_ID}", params={"access_token": PAGE_TOKEN})
        assert response.json() == {"name": "Kommunen", "id": PAGE_ID}
    finally:
        await fake.stop()


def test_start_in_thread_serves_synchronous_clients(fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "Hei", created_time=T0)
    base_url = fake.start_in_thread()
    try:
        fake.add_comment(post_id, "Seeded while running")
        response = httpx.get(f"{base_url}/v25.0/{post_id}/comments", params={"access_token": PAGE_TOKEN})
        assert response.status_code == 200
        assert [c["message"] for c in response.json()["data"]] == ["Seeded while running"]
    finally:
        fake.stop_thread()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/v25.0/{PAGE_ID}", params={"access_token": PAGE_TOKEN})


def test_context_manager_runs_in_thread() -> None:
    with FakeGraphAPI() as fake:
        fake.add_page(PAGE_ID, "Kommunen", PAGE_TOKEN)
        response = httpx.get(fake.url(PAGE_ID, access_token=PAGE_TOKEN, fields="id,name,link"))
        assert response.json()["link"] == f"https://www.facebook.com/{PAGE_ID}"


# ----------------------------------------------------------------------------- tokens


@pytest.mark.asyncio
async def test_missing_and_unknown_tokens(client: httpx.AsyncClient) -> None:
    missing = await get(client, PAGE_ID, token=None)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == 104

    unknown = await get(client, PAGE_ID, token="nope")
    assert unknown.status_code == 400
    error = unknown.json()["error"]
    assert error["code"] == 190
    assert error["type"] == "OAuthException"
    assert error["error_subcode"] is None
    assert error["fbtrace_id"]
    assert "invalid_token" in unknown.headers["WWW-Authenticate"]


@pytest.mark.asyncio
async def test_bearer_header_and_form_token(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    response = await client.get(PAGE_ID, headers={"Authorization": f"Bearer {PAGE_TOKEN}"})
    assert response.status_code == 200
    comment_id = fake.add_comment(fake.add_post(PAGE_ID, "p"), "c")
    response = await client.post(comment_id, data={"access_token": PAGE_TOKEN, "is_hidden": "true"})
    assert response.json() == {"success": True}
    assert fake.comments[comment_id].is_hidden


@pytest.mark.asyncio
async def test_expired_token_answers_190_with_subcode(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.expire_token(PAGE_TOKEN)
    response = await get(client, f"{PAGE_ID}/published_posts")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (190, 463)
    assert error["message"].startswith("Error validating access token: Session has expired on")

    fake.expire_token(PAGE_TOKEN, subcode=460)
    assert (await get(client, PAGE_ID)).json()["error"]["error_subcode"] == 460
    # Other tokens are unaffected, and restoring brings the token back.
    assert (await get(client, OTHER_PAGE_ID, token=OTHER_TOKEN)).status_code == 200
    fake.restore_token(PAGE_TOKEN)
    assert (await get(client, PAGE_ID)).status_code == 200


@pytest.mark.asyncio
async def test_token_of_another_page_cannot_read_objects(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    post_id = fake.add_post(PAGE_ID, "p")
    response = await get(client, f"{post_id}/comments", token=OTHER_TOKEN)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert "Unsupported get request" in error["message"]


@pytest.mark.asyncio
async def test_me_is_the_token_owner(client: httpx.AsyncClient) -> None:
    assert (await get(client, "me")).json() == {"name": "Kommunen", "id": PAGE_ID}
    ig = await get(client, PAGE_ID, fields="instagram_business_account{id,username}")
    assert ig.json()["instagram_business_account"] == {"id": IG_ID, "username": "kommunen"}


# ----------------------------------------------------------------------------- posts and paging


@pytest.mark.asyncio
async def test_published_posts_paging_to_the_end(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_ids = seed_posts(fake, 57)
    first = await get(client, f"{PAGE_ID}/published_posts", limit=10, fields="id,message,created_time")
    items, pages = await collect(client, first)
    assert pages == 6
    assert [item["id"] for item in items] == list(reversed(post_ids))  # newest first, no gaps or repeats
    for item in items:
        assert set(item) == {"id", "message", "created_time"}
        assert item["created_time"].endswith("+0000")

    body = first.json()
    next_url = body["paging"]["next"]
    assert next_url.startswith(f"{fake.base_url}/v25.0/{PAGE_ID}/published_posts?")
    assert f"access_token={PAGE_TOKEN}" in next_url
    assert "limit=10" in next_url
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    assert "previous" not in body["paging"]

    # The last page keeps cursors.after but has no next.
    response = first
    while "next" in response.json()["paging"]:
        response = await client.get(response.json()["paging"]["next"])
    last_body = response.json()
    assert len(last_body["data"]) == 7
    assert "next" not in last_body["paging"]
    assert "after" in last_body["paging"]["cursors"]
    assert "previous" in last_body["paging"]


@pytest.mark.asyncio
async def test_default_limit_is_25_and_max_is_100(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    seed_posts(fake, 130)
    assert len((await get(client, f"{PAGE_ID}/posts")).json()["data"]) == 25
    assert len((await get(client, f"{PAGE_ID}/posts", limit=500)).json()["data"]) == 100
    bad = await get(client, f"{PAGE_ID}/posts", limit="many")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100


@pytest.mark.asyncio
async def test_previous_link_pages_backwards(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    seed_posts(fake, 12)
    first = (await get(client, f"{PAGE_ID}/published_posts", limit=5)).json()
    second = (await client.get(first["paging"]["next"])).json()
    back = (await client.get(second["paging"]["previous"])).json()
    assert [p["id"] for p in back["data"]] == [p["id"] for p in first["data"]]


@pytest.mark.asyncio
async def test_feed_includes_visitor_posts_but_published_posts_does_not(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    own = fake.add_post(PAGE_ID, "Frå kommunen", created_time=T0)
    visitor = fake.add_post(
        PAGE_ID, "Frå ein innbyggjar", created_time=T0 + 60, from_id="999", from_name="Ola"
    )
    feed = [p["id"] for p in (await get(client, f"{PAGE_ID}/feed")).json()["data"]]
    published = [p["id"] for p in (await get(client, f"{PAGE_ID}/published_posts")).json()["data"]]
    assert feed == [visitor, own]
    assert published == [own]


@pytest.mark.asyncio
async def test_posts_since_matches_new_posts_and_posts_with_new_comments(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    old_quiet = fake.add_post(PAGE_ID, "gammal, stille", created_time=T0)
    old_busy = fake.add_post(PAGE_ID, "gammal, ny kommentar", created_time=T0 + 10)
    new = fake.add_post(PAGE_ID, "ny", created_time=T0 + 7200)
    fake.add_comment(old_busy, "ny kommentar", created_time=T0 + 9000)

    since = T0 + 3600
    response = await get(client, f"{PAGE_ID}/published_posts", since=since, fields="id,updated_time")
    data = response.json()["data"]
    assert [p["id"] for p in data] == [old_busy, new]  # ordered by updated_time, newest first
    assert data[0]["updated_time"] == format_graph_time(T0 + 9000)
    assert old_quiet not in {p["id"] for p in data}

    # ISO since works as well; until filters on created_time.
    iso = await get(client, f"{PAGE_ID}/published_posts", since="2025-01-01T01:00:00+0000")
    assert [p["id"] for p in iso.json()["data"]] == [old_busy, new]
    until = await get(client, f"{PAGE_ID}/published_posts", until=T0 + 3600)
    assert [p["id"] for p in until.json()["data"]] == [old_busy, old_quiet]
    bad = await get(client, f"{PAGE_ID}/published_posts", since="not a time")
    assert bad.status_code == 400


@pytest.mark.asyncio
async def test_post_order_by_created_time_option(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.post_order = "created_time"
    first = fake.add_post(PAGE_ID, "a", created_time=T0)
    second = fake.add_post(PAGE_ID, "b", created_time=T0 + 10)
    fake.add_comment(first, "bump", created_time=T0 + 1000)
    data = (await get(client, f"{PAGE_ID}/published_posts")).json()["data"]
    assert [p["id"] for p in data] == [second, first]


@pytest.mark.asyncio
async def test_time_based_paging_option(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.post_paging = "time"
    post_ids = seed_posts(fake, 9)
    first = await get(client, f"{PAGE_ID}/feed", limit=4)
    paging = first.json()["paging"]
    assert "cursors" not in paging
    assert "until=" in paging["next"] and "__paging_token=" in paging["next"]
    items, pages = await collect(client, first)
    assert pages == 3
    assert [p["id"] for p in items] == list(reversed(post_ids))


# ----------------------------------------------------------------------------- nested fields


NESTED_FIELDS = (
    "id,message,created_time,updated_time,"
    "comments.limit(2).filter(stream){id,message,created_time,from,parent{id},is_hidden,permalink_url}"
)


@pytest.mark.asyncio
async def test_nested_comments_expansion(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    busy = fake.add_post(PAGE_ID, "Symjehallen", created_time=T0)
    quiet = fake.add_post(PAGE_ID, "Ingen kommentarar", created_time=T0 - 10)
    top = fake.add_comment(busy, "Når opnar han?", created_time=T0 + 60)
    reply = fake.add_comment(top, "Måndag", from_id=PAGE_ID, from_name="Kommunen", created_time=T0 + 120)
    anonymous = fake.add_comment(busy, "Utan avsendar", created_time=T0 + 180, omit_from=True)
    fake.add_comment(busy, "Skjult", created_time=T0 + 240, is_hidden=True)

    response = await get(client, f"{PAGE_ID}/published_posts", fields=NESTED_FIELDS)
    posts = {p["id"]: p for p in response.json()["data"]}
    assert "comments" not in posts[quiet]  # empty connections are left out
    nested = posts[busy]["comments"]
    assert [c["id"] for c in nested["data"]] == [top, reply]
    assert nested["data"][0]["from"] == {"name": "Kari Nordmann", "id": "5550001"}
    assert "parent" not in nested["data"][0]
    assert nested["data"][1]["parent"] == {"id": top}
    assert nested["data"][1]["permalink_url"].endswith(f"reply_comment_id={reply.split('_')[1]}")
    assert set(nested["data"][0]) == {"id", "message", "created_time", "from", "is_hidden", "permalink_url"}

    # The nested next link continues the same comment stream, with the same fields.
    rest, _ = await collect(client, await client.get(nested["paging"]["next"]))
    assert [c["message"] for c in rest] == ["Utan avsendar", "Skjult"]
    assert "from" not in rest[0]
    assert rest[0]["id"] == anonymous
    assert rest[1]["is_hidden"] is True
    assert set(rest[1]) == {"id", "message", "created_time", "from", "is_hidden", "permalink_url"}


@pytest.mark.asyncio
async def test_nested_since_modifier_and_summary(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    for i in range(5):
        fake.add_comment(post_id, f"c{i}", created_time=T0 + i * 100)
    fields = f"comments.since({T0 + 250}).summary(true){{message}}"
    body = (await get(client, post_id, fields=fields)).json()
    assert [c["message"] for c in body["comments"]["data"]] == ["c3", "c4"]
    assert body["comments"]["summary"] == {"order": "chronological", "total_count": 5, "can_comment": True}
    # Objects always carry their id.
    assert body["id"] == post_id and all("id" in c for c in body["comments"]["data"])


@pytest.mark.asyncio
async def test_default_fields_and_unknown_fields(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    comment_id = fake.add_comment(post_id, "hei", created_time=T0 + 1)
    comment = (await get(client, comment_id)).json()
    assert comment == {
        "created_time": format_graph_time(T0 + 1),
        "from": {"name": "Kari Nordmann", "id": "5550001"},
        "message": "hei",
        "id": comment_id,
    }
    bad = await get(client, comment_id, fields="id,mesage")
    assert bad.status_code == 400
    assert (
        bad.json()["error"]["message"]
        == "(#100) Tried accessing nonexisting field (mesage) on node type (Comment)"
    )
    syntax = await get(client, comment_id, fields="id,{")
    assert syntax.status_code == 400 and "Syntax error" in syntax.json()["error"]["message"]


@pytest.mark.asyncio
async def test_single_comment_fields(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    top = fake.add_comment(post_id, "spørsmål", created_time=T0 + 1, like_count=3)
    fake.add_comment(top, "svar 1", created_time=T0 + 2)
    fake.add_comment(top, "svar 2", created_time=T0 + 3)
    own = fake.add_comment(post_id, "frå sida", from_id=PAGE_ID, from_name="Kommunen")
    fields = "id,message,comment_count,like_count,can_hide,can_remove,is_hidden,is_private,object{id},parent"
    body = (await get(client, top, fields=fields)).json()
    assert body["comment_count"] == 2
    assert body["like_count"] == 3
    assert body["can_hide"] is True and body["can_remove"] is True
    assert body["object"] == {"id": post_id}
    assert "parent" not in body
    assert (await get(client, own, fields="can_hide")).json() == {"can_hide": False, "id": own}


@pytest.mark.asyncio
async def test_user_token_does_not_see_from(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.add_token("USER_TOKEN", kind="user")
    post_id = fake.add_post(PAGE_ID, "p")
    comment_id = fake.add_comment(post_id, "hei")
    assert "from" not in (await get(client, comment_id, token="USER_TOKEN")).json()
    assert "from" in (await get(client, comment_id)).json()


# ----------------------------------------------------------------------------- comments edge


@pytest.fixture
def thread(fake: FakeGraphAPI) -> dict[str, str]:
    post_id = fake.add_post(PAGE_ID, "Trådtest", created_time=T0)
    a = fake.add_comment(post_id, "A", created_time=T0 + 10)
    a1 = fake.add_comment(a, "A1", created_time=T0 + 20)
    b = fake.add_comment(post_id, "B", created_time=T0 + 30)
    a2 = fake.add_comment(post_id, "A2", parent_id=a, created_time=T0 + 40)
    a1x = fake.add_comment(a1, "A1x", created_time=T0 + 50)
    return {"post": post_id, "a": a, "a1": a1, "b": b, "a2": a2, "a1x": a1x}


@pytest.mark.asyncio
async def test_comments_filter_and_order(client: httpx.AsyncClient, thread: dict[str, str]) -> None:
    post_id = thread["post"]

    async def messages(path: str, **params: Any) -> list[str]:
        response = await get(client, path, **params)
        assert response.status_code == 200, response.text
        return [c["message"] for c in response.json()["data"]]

    assert await messages(f"{post_id}/comments") == ["A", "B"]
    assert await messages(f"{post_id}/comments", filter="stream") == ["A", "A1", "B", "A2", "A1x"]
    assert await messages(f"{post_id}/comments", filter="stream", order="reverse_chronological") == [
        "A1x",
        "A2",
        "B",
        "A1",
        "A",
    ]
    assert await messages(f"{thread['a']}/comments") == ["A1", "A2"]
    assert await messages(f"{thread['a']}/comments", filter="stream") == ["A1", "A2", "A1x"]
    assert await messages(f"{post_id}/comments", filter="stream", since=T0 + 30) == ["B", "A2", "A1x"]
    assert await messages(f"{post_id}/comments", filter="stream", since=T0 + 30, until=T0 + 40) == ["B", "A2"]
    bad = await get(client, f"{post_id}/comments", filter="everything")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100


@pytest.mark.asyncio
async def test_comments_summary(client: httpx.AsyncClient, thread: dict[str, str]) -> None:
    body = (await get(client, f"{thread['post']}/comments", summary="true", filter="stream", limit=2)).json()
    assert len(body["data"]) == 2
    assert body["summary"]["total_count"] == 5
    assert body["summary"]["order"] == "chronological"
    top_level = (await get(client, f"{thread['post']}/comments", summary="true")).json()
    assert top_level["summary"]["total_count"] == 2


@pytest.mark.asyncio
async def test_comment_paging_to_the_end_and_cursor_stability(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    ids = [fake.add_comment(post_id, f"c{i}", created_time=T0 + i) for i in range(60)]
    first = await get(client, f"{post_id}/comments", filter="stream", limit=25)
    # A comment deleted and one added between page requests neither shifts nor repeats items.
    fake.delete_comment(ids[3])
    newest = fake.add_comment(post_id, "late", created_time=T0 + 1000)
    items, pages = await collect(client, first)
    got = [c["id"] for c in items]
    assert pages == 3
    assert got == ids[:25] + ids[25:] + [newest]
    assert len(got) == len(set(got))


@pytest.mark.asyncio
async def test_deleted_comment_is_gone(
    client: httpx.AsyncClient, thread: dict[str, str], fake: FakeGraphAPI
) -> None:
    fake.delete_comment(thread["a"])  # replies go with it
    response = await get(client, thread["a1"])
    assert response.status_code == 400
    assert response.json()["error"]["error_subcode"] == 33
    stream = (await get(client, f"{thread['post']}/comments", filter="stream")).json()["data"]
    assert [c["message"] for c in stream] == ["B"]


@pytest.mark.asyncio
async def test_edited_comment_shows_new_text(
    client: httpx.AsyncClient, thread: dict[str, str], fake: FakeGraphAPI
) -> None:
    fake.edit_comment(thread["b"], "B (endra)")
    assert (await get(client, thread["b"], fields="message")).json()["message"] == "B (endra)"


@pytest.mark.asyncio
async def test_unknown_edge_and_object(client: httpx.AsyncClient, thread: dict[str, str]) -> None:
    edge = await get(client, f"{thread['post']}/likes_of_cats")
    assert edge.status_code == 400 and edge.json()["error"]["code"] == 2500
    missing = await get(client, "111_999")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100


# ----------------------------------------------------------------------------- Instagram


@pytest.fixture
def ig_media(fake: FakeGraphAPI) -> dict[str, Any]:
    media_ids = [fake.add_media(IG_ID, f"Bilete {i}", timestamp=T0 + i * 3600) for i in range(3)]
    comment_ids = [fake.add_ig_comment(media_ids[2], f"k{i}", timestamp=T0 + 10_000 + i) for i in range(120)]
    reply_ids = [fake.add_ig_reply(comment_ids[0], f"svar{i}", timestamp=T0 + 20_000 + i) for i in range(3)]
    return {"media": media_ids, "comments": comment_ids, "replies": reply_ids}


@pytest.mark.asyncio
async def test_ig_media_listing_with_nested_comments(
    client: httpx.AsyncClient, ig_media: dict[str, Any]
) -> None:
    fields = (
        "id,caption,timestamp,comments_count,comments.limit(2){id,text,timestamp,from{id,username},username}"
    )
    body = (await get(client, f"{IG_ID}/media", token=IG_TOKEN, fields=fields)).json()
    media = body["data"]
    assert [m["id"] for m in media] == list(reversed(ig_media["media"]))
    newest = media[0]
    assert newest["comments_count"] == 123  # replies are counted
    assert [c["text"] for c in newest["comments"]["data"]] == ["k119", "k118"]
    comment = newest["comments"]["data"][0]
    assert comment["from"] == {"id": "17841400000000501", "username": "kari.nordmann"}
    assert comment["username"] == "kari.nordmann"
    assert comment["timestamp"] == format_graph_time(T0 + 10_119)
    assert "comments" not in media[1]  # no comments: left out
    # The linked Page's token may read the account as well (Facebook Login).
    assert (await get(client, f"{IG_ID}/media")).status_code == 200
    assert (await get(client, f"{IG_ID}/media", token=OTHER_TOKEN)).status_code == 400


@pytest.mark.asyncio
async def test_ig_comments_newest_first_top_level_and_at_most_50(
    client: httpx.AsyncClient, ig_media: dict[str, Any]
) -> None:
    media_id = ig_media["media"][2]
    fields = "id,text,timestamp,hidden,parent_id,replies{id,text,parent_id}"
    first = await get(client, f"{media_id}/comments", token=IG_TOKEN, limit=100, fields=fields)
    body = first.json()
    assert len(body["data"]) == 50
    assert body["data"][0]["text"] == "k119"
    items, pages = await collect(client, first)
    assert pages == 3
    assert [c["id"] for c in items] == list(reversed(ig_media["comments"]))  # no replies at top level
    oldest = items[-1]
    assert oldest["hidden"] is False
    assert "parent_id" not in oldest
    assert [r["text"] for r in oldest["replies"]["data"]] == ["svar0", "svar1", "svar2"]
    assert oldest["replies"]["data"][0]["parent_id"] == ig_media["comments"][0]

    default = await get(client, f"{media_id}/comments", token=IG_TOKEN)
    assert len(default.json()["data"]) == 50
    small = await get(client, f"{media_id}/comments", token=IG_TOKEN, limit=5)
    assert len(small.json()["data"]) == 5


@pytest.mark.asyncio
async def test_ig_replies_edge(client: httpx.AsyncClient, ig_media: dict[str, Any]) -> None:
    top = ig_media["comments"][0]
    body = (await get(client, f"{top}/replies", token=IG_TOKEN, fields="id,text,parent_id,username")).json()
    assert [r["id"] for r in body["data"]] == ig_media["replies"]
    assert all(r["parent_id"] == top for r in body["data"])
    single = (
        await get(client, ig_media["replies"][0], token=IG_TOKEN, fields="id,parent_id,media{id}")
    ).json()
    assert single["media"] == {"id": ig_media["media"][2]}


@pytest.mark.asyncio
async def test_ig_media_since(client: httpx.AsyncClient, ig_media: dict[str, Any]) -> None:
    body = (await get(client, f"{IG_ID}/media", token=IG_TOKEN, since=T0 + 3600)).json()
    assert [m["id"] for m in body["data"]] == list(reversed(ig_media["media"][1:]))


# ----------------------------------------------------------------------------- writes


@pytest.mark.asyncio
async def test_fb_reply_is_stored_as_a_page_comment(
    client: httpx.AsyncClient, fake: FakeGraphAPI, thread: dict[str, str]
) -> None:
    response = await client.post(
        f"{thread['b']}/comments", data={"message": "Takk for spørsmålet!", "access_token": PAGE_TOKEN}
    )
    assert response.status_code == 200
    new_id = response.json()["id"]
    assert new_id.startswith(thread["post"].split("_")[1] + "_")
    stored = fake.comments[new_id]
    assert (stored.from_id, stored.from_name, stored.parent_id) == (PAGE_ID, "Kommunen", thread["b"])

    stream = (
        await get(client, f"{thread['post']}/comments", filter="stream", fields="id,from,parent")
    ).json()
    echoed = stream["data"][-1]
    assert echoed["id"] == new_id
    assert echoed["from"] == {"name": "Kommunen", "id": PAGE_ID}
    assert echoed["parent"]["id"] == thread["b"]

    empty = await client.post(f"{thread['b']}/comments", data={"message": " ", "access_token": PAGE_TOKEN})
    assert empty.status_code == 400


@pytest.mark.asyncio
async def test_fb_hide_unhide_edit_delete(
    client: httpx.AsyncClient, fake: FakeGraphAPI, thread: dict[str, str]
) -> None:
    comment_id = thread["b"]
    hide = await client.post(comment_id, params={"is_hidden": "true", "access_token": PAGE_TOKEN})
    assert hide.json() == {"success": True}
    assert (await get(client, comment_id, fields="is_hidden")).json()["is_hidden"] is True
    unhide = await client.post(comment_id, data={"is_hidden": "false", "access_token": PAGE_TOKEN})
    assert unhide.json() == {"success": True}
    assert fake.comments[comment_id].is_hidden is False

    own = fake.add_comment(thread["post"], "Frå sida", from_id=PAGE_ID, from_name="Kommunen")
    cannot = await client.post(own, data={"is_hidden": "true", "access_token": PAGE_TOKEN})
    assert cannot.status_code == 400 and cannot.json()["error"]["code"] == 100
    edit = await client.post(own, data={"message": "Retta", "access_token": PAGE_TOKEN})
    assert edit.json() == {"success": True} and fake.comments[own].message == "Retta"
    not_ours = await client.post(comment_id, data={"message": "Hijack", "access_token": PAGE_TOKEN})
    assert not_ours.status_code == 403

    delete = await client.delete(comment_id, params={"access_token": PAGE_TOKEN})
    assert delete.json() == {"success": True}
    assert fake.comments[comment_id].deleted
    again = await client.delete(comment_id, params={"access_token": PAGE_TOKEN})
    assert again.status_code == 400 and "Unsupported delete request" in again.json()["error"]["message"]


@pytest.mark.asyncio
async def test_json_body_is_accepted(
    client: httpx.AsyncClient, fake: FakeGraphAPI, thread: dict[str, str]
) -> None:
    response = await client.post(thread["b"], json={"is_hidden": True, "access_token": PAGE_TOKEN})
    assert response.json() == {"success": True}
    assert fake.comments[thread["b"]].is_hidden


@pytest.mark.asyncio
async def test_ig_reply_hide_and_delete(
    client: httpx.AsyncClient, fake: FakeGraphAPI, ig_media: dict[str, Any]
) -> None:
    top, reply = ig_media["comments"][5], ig_media["replies"][0]
    response = await client.post(f"{top}/replies", params={"message": "Hei!", "access_token": IG_TOKEN})
    assert response.status_code == 200
    new_id = response.json()["id"]
    stored = fake.ig_comments[new_id]
    assert (stored.parent_id, stored.from_id, stored.from_username) == (top, IG_ID, "kommunen")

    to_reply = await client.post(f"{reply}/replies", params={"message": "Nei", "access_token": IG_TOKEN})
    assert to_reply.status_code == 400 and to_reply.json()["error"]["code"] == 100

    hide = await client.post(top, data={"hide": "true", "access_token": IG_TOKEN})
    assert hide.json() == {"success": True} and fake.ig_comments[top].hidden
    to_hidden = await client.post(f"{top}/replies", data={"message": "Nei", "access_token": IG_TOKEN})
    assert to_hidden.status_code == 400
    assert (await get(client, top, token=IG_TOKEN, fields="hidden")).json()["hidden"] is True
    own = await client.post(new_id, data={"hide": "true", "access_token": IG_TOKEN})
    assert own.status_code == 400

    delete = await client.delete(top, params={"access_token": IG_TOKEN})
    assert delete.json() == {"success": True}
    assert fake.ig_comments[new_id].deleted  # replies go with it
    assert (await get(client, top, token=IG_TOKEN)).status_code == 400


@pytest.mark.asyncio
async def test_subscribed_apps_and_private_reply(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    subscribe = await client.post(
        f"{PAGE_ID}/subscribed_apps", params={"subscribed_fields": "feed", "access_token": PAGE_TOKEN}
    )
    assert subscribe.json() == {"success": True}
    listed = (await get(client, f"{PAGE_ID}/subscribed_apps")).json()["data"]
    assert listed[0]["subscribed_fields"] == ["feed"]

    comment_id = fake.add_comment(fake.add_post(PAGE_ID, "p"), "Kan de svare privat?")
    payload = {
        "recipient": json.dumps({"comment_id": comment_id}),
        "message": json.dumps({"text": "Hei, vi svarer her."}),
        "access_token": PAGE_TOKEN,
    }
    first = await client.post(f"{PAGE_ID}/messages", data=payload)
    assert first.status_code == 200 and first.json()["message_id"].startswith("m_")
    second = await client.post(f"{PAGE_ID}/messages", data=payload)
    assert second.json()["error"]["code"] == 10900
    assert fake.private_replies[0]["comment_id"] == comment_id


# ----------------------------------------------------------------------------- errors, usage, latency


@pytest.mark.asyncio
async def test_fail_next_rate_limit_then_recovers(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.fail_next(2, code=80001, estimated_time_to_regain_access=7)
    for _ in range(2):
        response = await get(client, f"{PAGE_ID}/published_posts")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 80001
        assert error["message"].startswith("(#80001) ")
        assert error["type"] == "OAuthException"
        assert error["error_subcode"] is None
        assert error["is_transient"] is True
        usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
        assert usage[PAGE_ID][0]["call_count"] == 100
        assert usage[PAGE_ID][0]["estimated_time_to_regain_access"] == 7
    ok = await get(client, f"{PAGE_ID}/published_posts")
    assert ok.status_code == 200
    assert json.loads(ok.headers["X-Business-Use-Case-Usage"])[PAGE_ID][0]["call_count"] == 0


@pytest.mark.parametrize(
    ("code", "status", "header"),
    [
        (1, 500, None),
        (2, 503, None),
        (10, 403, None),
        (200, 403, None),
        (100, 400, None),
        (4, 400, "X-App-Usage"),
        (17, 400, "X-App-Usage"),
        (32, 400, "biz"),
        (613, 400, "biz"),
        (80002, 400, "biz"),
        (368, 400, None),
    ],
)
@pytest.mark.asyncio
async def test_fail_next_status_codes(
    client: httpx.AsyncClient, fake: FakeGraphAPI, code: int, status: int, header: str | None
) -> None:
    fake.fail_next(1, code=code)
    response = await get(client, PAGE_ID)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    app_usage = json.loads(response.headers["X-App-Usage"])
    biz_usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    if header == "X-App-Usage":
        assert app_usage["call_count"] == 100
    elif header == "biz":
        assert biz_usage[PAGE_ID][0]["call_count"] == 100
        assert biz_usage[PAGE_ID][0]["estimated_time_to_regain_access"] == 5
    else:
        assert app_usage["call_count"] == 0 and biz_usage[PAGE_ID][0]["call_count"] == 0
    assert (await get(client, PAGE_ID)).status_code == 200


@pytest.mark.asyncio
async def test_fail_next_with_path_filter_subcode_and_overrides(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    post_id = fake.add_post(PAGE_ID, "p")
    fake.fail_next(1, code=190, subcode=467, path_contains="/comments")
    fake.fail_next(1, code=2, http_status=502, message="Bad gateway", path_contains="/published_posts")
    assert (await get(client, PAGE_ID)).status_code == 200
    comments = await get(client, f"{post_id}/comments")
    assert comments.status_code == 400
    assert (comments.json()["error"]["code"], comments.json()["error"]["error_subcode"]) == (190, 467)
    posts = await get(client, f"{PAGE_ID}/published_posts")
    assert posts.status_code == 502
    assert posts.json()["error"]["message"] == "Bad gateway"
    assert (await get(client, f"{post_id}/comments")).status_code == 200


@pytest.mark.asyncio
async def test_usage_headers_on_every_response_and_set_usage(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    fake.set_usage(call_count=28, total_time=25, total_cputime=25)
    fake.set_usage(call_count=97, page_id=PAGE_ID, total_time=23, total_cputime=23)
    ok = await get(client, PAGE_ID)
    assert json.loads(ok.headers["X-App-Usage"]) == {"call_count": 28, "total_time": 25, "total_cputime": 25}
    assert json.loads(ok.headers["X-Business-Use-Case-Usage"]) == {
        PAGE_ID: [
            {
                "type": "pages",
                "call_count": 97,
                "total_cputime": 23,
                "total_time": 23,
                "estimated_time_to_regain_access": 0,
            }
        ]
    }
    failing = await get(client, PAGE_ID, token="bad")
    assert "X-App-Usage" in failing.headers and "X-Business-Use-Case-Usage" in failing.headers
    ig = await get(client, IG_ID, token=IG_TOKEN)
    assert json.loads(ig.headers["X-Business-Use-Case-Usage"])[IG_ID][0]["type"] == "instagram"


@pytest.mark.asyncio
async def test_throttle_after_budget(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    now = [1000.0]
    fake.clock = lambda: now[0]
    fake.throttle_after(4, page_id=PAGE_ID, recover_after_s=60, extend_lockout_on_call=True)
    percents = []
    for _ in range(4):
        response = await get(client, PAGE_ID)
        assert response.status_code == 200
        percents.append(json.loads(response.headers["X-Business-Use-Case-Usage"])[PAGE_ID][0]["call_count"])
    assert percents == [25, 50, 75, 100]
    limited = await get(client, PAGE_ID)
    assert limited.json()["error"]["code"] == 80001
    assert (await get(client, OTHER_PAGE_ID, token=OTHER_TOKEN)).status_code == 200  # other pages unaffected
    now[0] += 50
    assert (await get(client, PAGE_ID)).status_code == 400  # calling while limited extends the lockout
    now[0] += 50
    assert (await get(client, PAGE_ID)).status_code == 400
    now[0] += 61
    assert (await get(client, PAGE_ID)).status_code == 200
    fake.clear_throttle()


@pytest.mark.asyncio
async def test_latency(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    fake.latency_s = 0.2
    started = time.perf_counter()
    assert (await get(client, PAGE_ID)).status_code == 200
    assert time.perf_counter() - started >= 0.2


@pytest.mark.asyncio
async def test_requests_are_recorded(
    client: httpx.AsyncClient, fake: FakeGraphAPI, thread: dict[str, str]
) -> None:
    fake.reset_requests()
    await get(client, f"{thread['post']}/comments", filter="stream")
    await client.post(
        thread["b"], data={"is_hidden": "true", "access_token": PAGE_TOKEN}, headers={"X-Test": "1"}
    )
    assert fake.call_count == 2
    first, second = fake.requests
    assert (first.method, first.path) == ("GET", f"/v25.0/{thread['post']}/comments")
    assert first.query == {"filter": "stream", "access_token": PAGE_TOKEN}
    assert (second.method, second.form, second.query) == (
        "POST",
        {"is_hidden": "true", "access_token": PAGE_TOKEN},
        {},
    )
    assert second.headers["x-test"] == "1"
    assert second.access_token == PAGE_TOKEN
    assert fake.requests_to("/comments", method="GET") == [first]


@pytest.mark.asyncio
async def test_responses_escape_like_graph(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p")
    comment_id = fake.add_comment(post_id, "Blåbær / tyttebær")
    response = await get(client, comment_id, fields="message,permalink_url")
    assert "\\u00e5" in response.text and "https:\\/\\/www.facebook.com" in response.text
    assert response.json()["message"] == "Blåbær / tyttebær"


# ----------------------------------------------------------------------------- quirks


@pytest.mark.asyncio
async def test_empty_first_page_still_has_next(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_ids = seed_posts(fake, 3)
    fake.empty_first_page = True
    first = await get(client, f"{PAGE_ID}/published_posts")
    assert first.json()["data"] == [] and "next" in first.json()["paging"]
    items, _ = await collect(client, first)
    assert [p["id"] for p in items] == list(reversed(post_ids))


@pytest.mark.asyncio
async def test_ignore_after_cursor_repeats_the_first_page(
    client: httpx.AsyncClient, fake: FakeGraphAPI
) -> None:
    seed_posts(fake, 30)
    fake.ignore_after_cursor = True
    first = (await get(client, f"{PAGE_ID}/published_posts")).json()
    second = (await client.get(first["paging"]["next"])).json()
    assert [p["id"] for p in second["data"]] == [p["id"] for p in first["data"]]
    assert "next" in second["paging"]


@pytest.mark.asyncio
async def test_after_cursor_over_the_max_limit(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    for i in range(30):
        fake.add_comment(post_id, f"c{i}", created_time=T0 + i)
    fake.max_after_offset = 15
    first = (await get(client, f"{post_id}/comments", limit=10)).json()
    second = await client.get(first["paging"]["next"])
    assert second.status_code == 200
    third = await client.get(second.json()["paging"]["next"])
    assert third.status_code == 400
    assert third.json()["error"]["message"] == "(#100) The After Cursor specified exceeds the max limit"


# ----------------------------------------------------------------------------- batch


@pytest.mark.asyncio
async def test_batch(client: httpx.AsyncClient, fake: FakeGraphAPI, thread: dict[str, str]) -> None:
    fake.reset_requests()
    batch = [
        {"method": "GET", "relative_url": f"v25.0/{thread['post']}/comments?filter=stream&limit=2"},
        {"method": "GET", "relative_url": f"{thread['b']}?fields=id,message"},
        {"method": "POST", "relative_url": thread["b"], "body": "is_hidden=true"},
        {"method": "GET", "relative_url": "111_404"},
    ]
    response = await client.post("", data={"access_token": PAGE_TOKEN, "batch": json.dumps(batch)})
    assert response.status_code == 200
    answers = response.json()
    assert [a["code"] for a in answers] == [200, 200, 200, 400]
    assert isinstance(answers[0]["body"], str)
    first = json.loads(answers[0]["body"])
    assert [c["message"] for c in first["data"]] == ["A", "A1"]
    assert json.loads(answers[1]["body"]) == {"id": thread["b"], "message": "B"}
    assert json.loads(answers[2]["body"]) == {"success": True}
    assert json.loads(answers[3]["body"])["error"]["error_subcode"] == 33
    assert {"name": "Content-Type", "value": "application/json; charset=UTF-8"} in answers[0]["headers"]
    assert fake.comments[thread["b"]].is_hidden
    assert fake.call_count == 1 and fake.batch_op_count == 4
    assert sum(r.in_batch for r in fake.requests) == 4


@pytest.mark.asyncio
async def test_batch_limits_nulls_and_failures(client: httpx.AsyncClient, fake: FakeGraphAPI) -> None:
    too_many = [{"method": "GET", "relative_url": PAGE_ID}] * 51
    response = await client.post("", data={"access_token": PAGE_TOKEN, "batch": json.dumps(too_many)})
    assert response.status_code == 400 and response.json()["error"]["code"] == 100

    fake.null_next_batch_ops(1, path_contains="222")
    fake.fail_next(1, code=613, path_contains="/111")
    ops = [
        {"method": "GET", "relative_url": PAGE_ID},
        {"method": "GET", "relative_url": f"{OTHER_PAGE_ID}?access_token={OTHER_TOKEN}"},
        {"method": "GET", "relative_url": PAGE_ID},
    ]
    answers = (await client.post("", data={"access_token": PAGE_TOKEN, "batch": json.dumps(ops)})).json()
    assert answers[1] is None
    assert answers[0]["code"] == 400 and json.loads(answers[0]["body"])["error"]["code"] == 613
    assert answers[2]["code"] == 200

    bad_token = await client.post("", data={"access_token": "nope", "batch": json.dumps(ops)})
    assert bad_token.json()["error"]["code"] == 190


# ----------------------------------------------------------------------------- webhooks


def test_feed_change_payload_shape() -> None:
    payload = feed_change_payload(
        PAGE_ID,
        f"{PAGE_ID}_5",
        "5_9",
        "Når opnar symjehallen?",
        created_time=T0,
        from_id="77",
        from_name="Kari",
    )
    assert payload["object"] == "page"
    entry = payload["entry"][0]
    assert (entry["id"], entry["time"]) == (PAGE_ID, T0)
    change = entry["changes"][0]
    assert change["field"] == "feed"
    value = change["value"]
    assert value["from"] == {"id": "77", "name": "Kari"}
    assert value["post"]["id"] == value["post_id"] == value["parent_id"] == f"{PAGE_ID}_5"
    assert (value["comment_id"], value["item"], value["verb"], value["created_time"]) == (
        "5_9",
        "comment",
        "add",
        T0,
    )
    reply = feed_change_payload(PAGE_ID, f"{PAGE_ID}_5", "5_10", None, parent_id="5_9", verb="edited")
    assert reply["entry"][0]["changes"][0]["value"]["parent_id"] == "5_9"
    assert "message" not in reply["entry"][0]["changes"][0]["value"]


def test_instagram_comment_payload_shape() -> None:
    payload = instagram_comment_payload(
        IG_ID, "c1", "Fint!", "m1", from_id="u1", from_username="ola", entry_time=T0
    )
    assert payload == {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ID,
                "time": T0,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "from": {"id": "u1", "username": "ola"},
                            "media": {"id": "m1", "media_product_type": "FEED"},
                            "id": "c1",
                            "text": "Fint!",
                        },
                    }
                ],
            }
        ],
    }
    reply = instagram_comment_payload(IG_ID, "c2", "Svar", "m1", parent_id="c1")
    assert reply["entry"][0]["changes"][0]["value"]["parent_id"] == "c1"


def test_sign_and_webhook_body() -> None:
    raw = webhook_body(feed_change_payload(PAGE_ID, f"{PAGE_ID}_5", "5_9", "Blåbær?", created_time=T0))
    assert b"Bl\\u00e5b\\u00e6r?" in raw and b"https:\\/\\/" in raw
    expected = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert sign("s3cret", raw) == f"sha256={expected}"
    assert sign(b"s3cret", raw) == sign("s3cret", raw)
    # Re-serialising the parsed body gives other bytes, hence another signature.
    assert sign("s3cret", json.dumps(json.loads(raw)).encode()) != sign("s3cret", raw)


def test_webhook_payload_for_stored_comments(fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p", created_time=T0)
    top = fake.add_comment(post_id, "Spørsmål", created_time=T0 + 5)
    reply = fake.add_comment(top, "Svar", created_time=T0 + 6)
    value = fake.webhook_payload_for(reply)["entry"][0]["changes"][0]["value"]
    assert (value["comment_id"], value["parent_id"], value["post_id"], value["message"]) == (
        reply,
        top,
        post_id,
        "Svar",
    )
    removed = fake.webhook_payload_for(top, verb="remove")["entry"][0]["changes"][0]["value"]
    assert removed["verb"] == "remove" and "message" not in removed
    media_id = fake.add_media(IG_ID, "bilete")
    ig_comment = fake.add_ig_comment(media_id, "Fint")
    ig_value = fake.webhook_payload_for(ig_comment)["entry"][0]["changes"][0]["value"]
    assert (ig_value["id"], ig_value["text"], ig_value["media"]["id"]) == (ig_comment, "Fint", media_id)


# ----------------------------------------------------------------------------- seeding, CLI, control


def test_seeding_helpers_validate(fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(PAGE_ID, "p")
    assert post_id.startswith(f"{PAGE_ID}_")
    comment_id = fake.add_comment(post_id, "c")
    assert comment_id.split("_")[0] == post_id.split("_")[1]
    with pytest.raises(ValueError):
        fake.add_post(PAGE_ID, "dup", post_id=post_id)
    with pytest.raises(KeyError):
        fake.add_comment("nope_1", "c")
    with pytest.raises(KeyError):
        fake.expire_token("unknown-token")
    media_id = fake.add_media(IG_ID, "m")
    top = fake.add_ig_comment(media_id, "t")
    reply = fake.add_ig_reply(top, "r")
    with pytest.raises(ValueError):
        fake.add_ig_reply(reply, "nested")


SEED = {
    "pages": [
        {
            "id": "111",
            "name": "Kommunen",
            "token": "SEED_TOKEN",
            "posts": [
                {
                    "id": "111_1",
                    "message": "Velkomen",
                    "created_time": "2025-01-01T00:00:00+0000",
                    "comments": [
                        {
                            "id": "1_2",
                            "message": "Takk",
                            "from": {"id": "9", "name": "Ola"},
                            "created_time": T0 + 5,
                            "replies": [{"id": "1_3", "message": "Bare hyggeleg", "created_time": T0 + 6}],
                        }
                    ],
                }
            ],
        }
    ],
    "ig_users": [
        {
            "id": IG_ID,
            "username": "kommunen",
            "page_id": "111",
            "media": [
                {
                    "id": "m1",
                    "caption": "c",
                    "timestamp": T0,
                    "comments": [{"text": "hei", "replies": [{"text": "hei"}]}],
                }
            ],
        }
    ],
}


def test_load_seed(tmp_path: Path) -> None:
    fake = FakeGraphAPI()
    fake.load_seed(SEED)
    assert fake.comments["1_3"].parent_id == "1_2"
    assert fake.comments["1_2"].from_name == "Ola"
    assert len(fake.ig_comments) == 2


def test_command_line_server(tmp_path: Path) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(SEED), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.graph_api", "--port", "0", "--seed-file", str(seed_file)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            assert line.startswith("FAKE_GRAPH_API_URL=http://127.0.0.1:")
            base_url = line.split("=", 1)[1]
            response = httpx.get(
                f"{base_url}/v25.0/111_1/comments", params={"access_token": "SEED_TOKEN", "filter": "stream"}
            )
            assert [c["id"] for c in response.json()["data"]] == ["1_2", "1_3"]

            control = httpx.post(
                f"{base_url}/__fake__/call",
                json={"method": "fail_next", "kwargs": {"n": 1, "code": 80001}},
            )
            assert control.status_code == 200
            assert (
                httpx.get(f"{base_url}/v25.0/111", params={"access_token": "SEED_TOKEN"}).status_code == 400
            )
            recorded = httpx.get(f"{base_url}/__fake__/requests").json()
            assert [r["path"] for r in recorded] == ["/v25.0/111_1/comments", "/v25.0/111"]
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert process.returncode == 0
