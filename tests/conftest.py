"""Shared fixtures: real databases (a SQLite file and, when configured, PostgreSQL)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.migrations import upgrade

POSTGRES_ENV = "KOMMENTARVAKT_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection to an address outside this machine fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not str(host).startswith(("127.", "::1", "localhost", "0.0.0.0")):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


# Empties every table but alembic_version, waiting at most a few seconds for locks.
EMPTY_ALL_TABLES = """
SET lock_timeout = '5s';
DO $$ DECLARE tables text;
BEGIN
  SELECT string_agg(format('%I', tablename), ', ') INTO tables
  FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version';
  IF tables IS NOT NULL THEN
    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
  END IF;
END $$;
"""


def in_thread(function, *args):  # type: ignore[no-untyped-def]
    """Run blocking set-up (which may start its own event loop) outside the test's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


class DatabaseFactory:
    """Hands out empty, migrated databases: SQLite files copied from a template, PostgreSQL emptied."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_created: list[str] = []
        self._pg_work: str | None = None

    def sqlite_url(self) -> str:
        if self._sqlite_template is None:
            self._sqlite_template = self.tmp / "template.db"
            in_thread(upgrade, f"sqlite+aiosqlite:///{self._sqlite_template}")
        target = self.tmp / f"{uuid.uuid4().hex}.db"
        shutil.copy(self._sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"

    def postgres_url(self) -> str:
        """An empty, migrated PostgreSQL database: the session's one, emptied (much faster than a new one)."""
        base = postgres_url()
        if base is None:
            pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run)")
        if self._pg_template is None:
            self._pg_template = f"kv_tmpl_{uuid.uuid4().hex[:12]}"
            self._admin(base, f'CREATE DATABASE "{self._pg_template}"')
            self._pg_created.append(self._pg_template)
            in_thread(upgrade, self._with_db(base, self._pg_template))
        if self._pg_work is not None:
            try:
                self._admin(self._with_db(base, self._pg_work), EMPTY_ALL_TABLES)
                return self._with_db(base, self._pg_work)
            except Exception:  # something still holds a lock: start a new database instead
                pass
        self._pg_work = f"kv_{uuid.uuid4().hex[:12]}"
        self._admin(base, f'CREATE DATABASE "{self._pg_work}" TEMPLATE "{self._pg_template}"')
        self._pg_created.append(self._pg_work)
        return self._with_db(base, self._pg_work)

    def url(self, backend: str) -> str:
        return self.sqlite_url() if backend == "sqlite" else self.postgres_url()

    @staticmethod
    def _with_db(base: str, name: str) -> str:
        return make_url(base).set(database=name).render_as_string(hide_password=False)

    @staticmethod
    def _admin(base: str, sql: str) -> None:
        import asyncpg

        async def run() -> None:
            url = make_url(base)
            connection = await asyncpg.connect(
                host=url.host,
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                database=url.database,
            )
            try:
                await connection.execute(sql)
            finally:
                await connection.close()

        in_thread(asyncio.run, run())

    def cleanup(self) -> None:
        base = postgres_url()
        if base is None:
            return
        for name in reversed(self._pg_created):
            with contextlib.suppress(Exception):  # cleanup is best effort
                self._admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.cleanup()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    """A fresh, migrated database on each backend."""
    return database_factory.url(request.param)


@pytest.fixture
def sqlite_url(database_factory: DatabaseFactory) -> str:
    return database_factory.sqlite_url()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()
