"""One exception hierarchy, with messages written for the person who must act on them."""


class KommentarvaktError(Exception):
    """Base class for every error Kommentarvakt raises on purpose."""


class ConfigError(KommentarvaktError):
    """The configuration file or environment is wrong; the message names the key and the fix."""


class InputError(KommentarvaktError):
    """An input record (JSONL/CSV line, webhook body) is malformed."""

    def __init__(self, message: str, record: int | None = None) -> None:
        self.record = record
        super().__init__(f"record {record}: {message}" if record is not None else message)


class PlatformError(KommentarvaktError):
    """A platform (Graph API, Slack, SMTP) refused or failed a call."""


class NotAllowedError(KommentarvaktError):
    """A user tried an action that their role does not permit."""
