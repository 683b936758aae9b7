"""Configuration: TOML validated into typed settings. Secrets come only from environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain import Fact, PoliticalMatter
from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = "config.toml"
CONFIG_ENV = "KOMMENTARVAKT_CONFIG"
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*$")


def parse_duration(value: str) -> timedelta:
    """Parse "4h", "30m", "1h30m" or "2d" into a timedelta."""
    match = _DURATION.match(value or "")
    if not match or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration; write it like "4h", "30m" or "1h30m"')
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///kommentarvakt.db"
    pool_size: int = Field(default=5, ge=1)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DB")
        return url


class SlackSettings(Section):
    mode: Literal["socket", "http"] = "socket"
    api_url: str = "https://slack.com/api/"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    admin_channel: str = ""  # where token problems and other admin alerts go
    crisis_channel: str = ""
    messages_per_second: float = Field(default=1.0, gt=0)
    group_after: int = Field(default=5, ge=1)  # low-priority tasks per post before grouping

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, url: str) -> str:
        return url if url.endswith("/") else url + "/"


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class MetaSettings(Section):
    graph_api_url: str = "https://graph.facebook.com"
    api_version: str = "v25.0"
    app_secret_env: str = "META_APP_SECRET"
    verify_token_env: str = "META_VERIFY_TOKEN"
    timeout_s: float = Field(default=20.0, gt=0)
    poll_interval_s: int = Field(default=300, ge=10)
    max_retries: int = Field(default=4, ge=0)
    sync_concurrency: int = Field(default=32, ge=1, le=256)

    @field_validator("graph_api_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


class RoleSettings(Section):
    moderators: list[str] = []
    team_leads: list[str] = []
    admins: list[str] = []
    crisis_approvers: list[str] = []


class PageSettings(Section):
    platform: Literal["facebook", "instagram"] = "facebook"
    id: str
    name: str
    channel: str
    access_token_env: str
    moderators: list[str] = []
    team_leads: list[str] = []
    records_office_email: str = ""  # overrides [forwarding] email_to for this page

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class ClassifierSettings(Section):
    backend: Literal["embedded", "llm"] = "embedded"
    model_path: str = ""  # empty: the model shipped inside the package


class LlmSettings(Section):
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "normistral"
    api_key_env: str = "LLM_API_KEY"
    timeout_s: float = Field(default=20.0, gt=0)
    draft_replies: bool = False


class ReplySettings(Section):
    language: Literal["nn", "nb"] = "nn"
    match_commenter: bool = False
    records_office_email: str = "postmottak@kommune.no"
    inquiry_form_url: str = ""
    phone: str = ""
    signature: str = "Helsing kommunen"
    use_first_name: bool = True
    max_length: int = Field(default=2000, ge=200, le=8000)
    templates_path: str = ""  # empty: the templates shipped inside the package


class FactSettings(Section):
    statement: str
    keywords: list[str] = []
    link: str = ""

    def to_domain(self) -> Fact:
        return Fact(self.statement, tuple(self.keywords), self.link)


class PoliticalMatterSettings(Section):
    title: str
    status: Literal["pending", "decided"] = "pending"
    keywords: list[str] = []
    link: str = ""

    def to_domain(self) -> PoliticalMatter:
        return PoliticalMatter(self.title, self.status, tuple(self.keywords), self.link)


class DeadlineSettings(Section):
    timezone: str = "Europe/Oslo"
    business_hours: str = "08:00-15:30"
    praise: str = "16h"
    neutral: str = "8h"
    negative: str = "4h"
    factual_error: str = "2h"
    case_inquiry: str = "4h"
    urgent: str = "30m"
    reminder_share: float = Field(default=0.75, gt=0, lt=1)
    holiday_country: str = "NO"

    @field_validator("praise", "neutral", "negative", "factual_error", "case_inquiry", "urgent")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Oslo") from None
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        business_hours(value)
        return value

    def duration(self, name: str) -> timedelta:
        return parse_duration(getattr(self, name))


def business_hours(value: str) -> tuple[time, time]:
    """Parse "08:00-15:30" into (start, end)."""
    try:
        start_text, end_text = value.split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError:
        raise ValueError(f'{value!r} is not a range of hours; write it like "08:00-15:30"') from None
    if start >= end:
        raise ValueError(f"{value!r}: the start must be before the end")
    return start, end


class ForwardingSettings(Section):
    email_to: str = ""
    email_from: str = "kommentarvakt@kommune.no"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username_env: str = "SMTP_USERNAME"
    smtp_password_env: str = "SMTP_PASSWORD"
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    archive_url: str = ""
    archive_token_env: str = "ARCHIVE_TOKEN"
    publish_referral_reply: bool = False
    max_attempts: int = Field(default=5, ge=1)


class RetentionSettings(Section):
    days: int = Field(default=90, ge=1)
    keep_forwarded: bool = True


class ScheduleSettings(Section):
    """Cron expressions (five fields) in the deadline time zone."""

    reminders: str = "*/5 * * * *"
    digest: str = "0 8 * * mon-fri"
    weekly_report: str = "0 8 * * mon"
    retention: str = "30 2 * * *"


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    slack: SlackSettings = SlackSettings()
    http: HttpSettings = HttpSettings()
    meta: MetaSettings = MetaSettings()
    roles: RoleSettings = RoleSettings()
    pages: list[PageSettings] = []
    classifier: ClassifierSettings = ClassifierSettings()
    llm: LlmSettings = LlmSettings()
    replies: ReplySettings = ReplySettings()
    facts: list[FactSettings] = []
    political_matters: list[PoliticalMatterSettings] = []
    deadlines: DeadlineSettings = DeadlineSettings()
    forwarding: ForwardingSettings = ForwardingSettings()
    retention: RetentionSettings = RetentionSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @model_validator(mode="after")
    def _unique_pages(self) -> Settings:
        seen: set[tuple[str, str]] = set()
        for page in self.pages:
            key = (page.platform, page.id)
            if key in seen:
                raise ValueError(f"page {page.platform}/{page.id} is listed twice in [[pages]]")
            seen.add(key)
        return self

    def page(self, platform: str, page_id: str) -> PageSettings | None:
        return next((p for p in self.pages if p.platform == platform and p.id == page_id), None)

    @property
    def fact_list(self) -> list[Fact]:
        return [fact.to_domain() for fact in self.facts]

    @property
    def matter_list(self) -> list[PoliticalMatter]:
        return [matter.to_domain() for matter in self.political_matters]


def secret(env_name: str, key: str) -> str:
    """Read a secret from the environment variable that config key `key` names."""
    value = os.environ.get(env_name, "")
    if not value:
        raise ConfigError(
            f"{key} names the environment variable {env_name}, but it is not set; "
            f"export {env_name}=... before starting"
        )
    return value


def resolve_config_path(path: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $KOMMENTARVAKT_CONFIG, else ./config.toml (None if that does not exist)."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG_PATH)
    return default if default.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None, *, required: bool = False) -> Settings:
    """Load and validate the config; raise ConfigError with the key and the fix."""
    resolved = resolve_config_path(path)
    if resolved is None:
        if required:
            raise ConfigError(
                f"no config file: pass --config FILE, set ${CONFIG_ENV}, or create ./{DEFAULT_CONFIG_PATH} "
                "(start from config.example.toml)"
            )
        return Settings()
    try:
        raw = tomllib.loads(resolved.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{resolved}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{resolved}: cannot read the config file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{resolved}: not valid TOML: {error}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{resolved}: {describe_validation_error(error)}") from None


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: the dotted key and what to do."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown key {key!r}: remove it or check its spelling against config.example.toml")
        elif problem["type"] == "missing":
            lines.append(f"key {key!r} is required: add it (see config.example.toml)")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"key {key!r}: {message} (got {problem.get('input')!r})")
    return "; ".join(lines)
