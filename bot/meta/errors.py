"""Graph API errors, sorted by what the caller must do about them, with words for the people who act."""

from __future__ import annotations

from typing import Any

from bot.errors import PlatformError
from bot.logs import scrub

# Codes from meta-graph-api.md, "Errors and rate limits".
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80002})
APP_WIDE_RATE_LIMIT_CODES = frozenset({4})
TEMPORARILY_BLOCKED_CODE = 368
TRANSIENT_CODES = frozenset({1, 2})
TOKEN_CODE = 190
INVALID_PARAMETER_CODE = 100
OBJECT_MISSING_SUBCODE = 33

TOKEN_SUBCODE_MEANINGS = {
    458: "appen er ikkje lenger godkjend av brukaren som laga tokenet",
    459: "brukaren som laga tokenet må logge inn på Facebook og stadfeste kontoen",
    460: "passordet til brukaren er endra, eller Facebook har avslutta økta av tryggleiksomsyn",
    463: "tokenet har gått ut",
    464: "brukaren som laga tokenet er ikkje stadfesta",
    467: "tokenet er ugyldig (brukaren har logga ut)",
    492: "brukaren som laga tokenet har ikkje lenger ei rolle på sida",
}


def token_problem(subcode: int | None) -> str:
    """What a 190 subcode means, in Nynorsk."""
    return TOKEN_SUBCODE_MEANINGS.get(subcode or 0, "tokenet er ugyldig")


def is_permission_code(code: int | None) -> bool:
    return code == 10 or (code is not None and 200 <= code <= 299)


class MetaError(PlatformError):
    """A Graph API call failed. `api_message` is Meta's own text (scrubbed of secrets)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        page_id: str | None = None,
        api_message: str = "",
    ) -> None:
        super().__init__(scrub(message))
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.page_id = page_id
        self.api_message = scrub(api_message)

    def plain(self) -> str:
        """The problem in plain Nynorsk, with Meta's own words for whoever digs deeper."""
        meta_said = f" Meta svarte: «{self.api_message}»" if self.api_message else ""
        return f"{self.advice()}{meta_said}"

    def advice(self) -> str:
        return "Meta avviste kallet."


class TransientError(MetaError):
    """Meta or the network failed (codes 1/2, 5xx, timeouts): retrying later can help."""

    def advice(self) -> str:
        return "Meta svarte ikkje som venta (mellombels feil); Kommentarvakt prøver att."


class RateLimited(MetaError):
    """A rate limit: stop calling for this page (or the whole app) for `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: float, app_wide: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s
        self.app_wide = app_wide

    def advice(self) -> str:
        minutes = max(1, round(self.retry_after_s / 60))
        return (
            f"Meta har sett ei fartsgrense for sida; Kommentarvakt ventar om lag {minutes} min og prøver att."
        )


class TokenInvalid(MetaError):
    """Code 190: the page's access token is expired or invalid; the page must be paused."""

    @property
    def meaning(self) -> str:
        return token_problem(self.subcode)

    def advice(self) -> str:
        return f"Tilgangstokenet for sida verkar ikkje: {self.meaning}."


class PermissionDenied(MetaError):
    """Codes 10 and 200-299: the token lacks a permission; retrying never helps."""

    def advice(self) -> str:
        return (
            "Kommentarvakt manglar løyve til dette på sida (tokenet treng pages_manage_engagement "
            "eller instagram_manage_comments), eller Meta tillèt det ikkje for denne kommentaren."
        )


class InvalidRequest(MetaError):
    """Code 100 and other refusals of the request itself; retrying never helps."""

    def advice(self) -> str:
        return "Meta avviste førespurnaden."


class ObjectMissing(InvalidRequest):
    """The comment or post no longer exists (deleted) or cannot be seen with this token."""

    def advice(self) -> str:
        return "Kommentaren eller innlegget finst ikkje lenger (sletta eller ikkje tilgjengeleg)."


def error_from_body(
    body: Any, *, http_status: int, page_id: str | None, eta_minutes: int = 0, retry_after_s: float = 0
) -> MetaError:
    """Turn a Graph error answer into the matching MetaError."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if http_status >= 500:
            return TransientError(
                f"Graph API answered HTTP {http_status}", http_status=http_status, page_id=page_id
            )
        if http_status == 429:
            return RateLimited(
                "Graph API answered HTTP 429",
                retry_after_s=retry_after_s or 60,
                http_status=429,
                page_id=page_id,
            )
        return InvalidRequest(
            f"Graph API answered HTTP {http_status}", http_status=http_status, page_id=page_id
        )
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    api_message = str(error.get("message") or "")
    fields: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "http_status": http_status,
        "page_id": page_id,
        "api_message": api_message,
    }
    summary = f"Graph API error {code}" + (f"/{subcode}" if subcode else "") + f": {api_message}"
    if code in RATE_LIMIT_CODES:
        wait_s = max(eta_minutes * 60, retry_after_s) or DEFAULT_LOCKOUT_S
        return RateLimited(
            summary, retry_after_s=wait_s, app_wide=code in APP_WIDE_RATE_LIMIT_CODES, **fields
        )
    if code == TEMPORARILY_BLOCKED_CODE:
        return RateLimited(summary, retry_after_s=max(eta_minutes * 60, BLOCKED_WAIT_S), **fields)
    if code == TOKEN_CODE:
        return TokenInvalid(summary, **fields)
    if is_permission_code(code):
        return PermissionDenied(summary, **fields)
    if code in TRANSIENT_CODES or http_status >= 500:
        return TransientError(summary, **fields)
    if code == INVALID_PARAMETER_CODE and subcode == OBJECT_MISSING_SUBCODE:
        return ObjectMissing(summary, **fields)
    if error.get("is_transient") is True:
        return TransientError(summary, **fields)
    return InvalidRequest(summary, **fields)


# When Meta gives no estimate: five minutes for a rate limit, ten for a temporary block (code 368).
DEFAULT_LOCKOUT_S = 300.0
BLOCKED_WAIT_S = 600.0


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
