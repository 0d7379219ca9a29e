"""Settings of the Telegram bot, read from ``TELEGRAM_*`` environment variables or ``.env``.

Every field maps to one environment variable (``TELEGRAM_`` + the field name in upper case).
A missing or malformed value stops start-up with one :class:`~index.errors.ConfigError` line
that names the variable and never echoes the value (the token is a secret).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.errors import ConfigError

ENV_PREFIX = "TELEGRAM_"

#: ``<bot id>:<secret>`` as BotFather issues it. Checked so a pasted URL or a quoted token
#: fails at start-up with a clear message instead of a 404 from Telegram later.
_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")

DEFAULT_HEARTBEAT_FILE = Path(tempfile.gettempdir()) / "newsbot-bot.heartbeat"

IdList = Annotated[frozenset[int], NoDecode]


def _parse_ids(value: Any) -> Any:
    """Accept ``"1, 2 ,3"`` (the natural way to write ids in .env) as well as lists."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s;]+", value.strip().strip("[]")) if p]
        if not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise ValueError("expected numeric ids separated by commas, e.g. 12345,-100987")
        return frozenset(int(p) for p in parts)
    if isinstance(value, int):
        return frozenset({value})
    return value


class BotSettings(BaseSettings):
    """How the bot talks to Telegram, who may use it and how hard."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    #: From BotFather. Required; a SecretStr so it never shows up in reprs or logs.
    bot_token: SecretStr
    #: Bot API endpoint; the token is appended (``{base}{token}/method``). Point it at a local
    #: Bot API server (``http://127.0.0.1:8081/bot``) to lift the cloud API's limits.
    api_base_url: str = "https://api.telegram.org/bot"

    #: Who may use the bot. Both empty: open to all. Otherwise a user listed in
    #: ``allowed_user_ids`` or any user in a chat listed in ``allowed_chat_ids`` is served.
    allowed_user_ids: IdList = frozenset()
    allowed_chat_ids: IdList = frozenset()
    #: May run /stats and /reload (and are always allowed).
    admin_user_ids: IdList = frozenset()

    #: Questions a user may ask per ``rate_limit_window_seconds``; 0 disables the limit.
    rate_limit_per_user: int = Field(default=10, ge=0)
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)

    #: Turns of conversation kept per chat for follow-up questions, and how old they may get.
    history_turns: int = Field(default=4, ge=0, le=50)
    history_max_age_seconds: float = Field(default=900.0, gt=0)

    #: ``polling`` (default) or ``webhook`` (then ``webhook_url`` and ``webhook_secret_token``
    #: are required).
    mode: Literal["polling", "webhook"] = "polling"
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    #: The public HTTPS URL Telegram posts updates to (e.g. behind a reverse proxy).
    webhook_url: str | None = None
    #: Checked on every webhook request (``X-Telegram-Bot-Api-Secret-Token``).
    webhook_secret_token: SecretStr | None = None

    #: How often to look for a newer published index (seconds).
    reload_interval_seconds: float = Field(default=3.0, gt=0, le=60)
    #: Threads answering questions. Encoding releases the GIL, but 2 cores give little past 2.
    answer_workers: int = Field(default=2, ge=1, le=64)
    #: Telegram's flood limit across all chats (messages per second; 30 for the cloud API).
    max_messages_per_second: float = Field(default=30.0, gt=0)
    #: Retries of a request that failed before Telegram processed it (network error, 5xx),
    #: and of a 429 after waiting its ``retry_after``.
    max_retries: int = Field(default=4, ge=0, le=20)
    #: Seconds to wait for Telegram's answer to one request.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Sentences added by each press of "More".
    more_batch: int = Field(default=3, ge=1, le=10)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Touched every ``reload_interval_seconds`` from the event loop; ``python -m bot.health``
    #: (the container health check) fails when it is older than ``heartbeat_max_age_seconds``.
    heartbeat_file: Path = DEFAULT_HEARTBEAT_FILE
    heartbeat_max_age_seconds: float = Field(default=60.0, gt=0)

    @field_validator("allowed_user_ids", "allowed_chat_ids", "admin_user_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _parse_ids(value)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.match(value.get_secret_value().strip()):
            # Never include the value: it may be a real token with a typo.
            raise ValueError("not a bot token (expected '<digits>:<secret>' as issued by BotFather)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> BotSettings:
        if self.mode == "webhook":
            if not self.webhook_url or not self.webhook_url.startswith("https://"):
                raise ConfigError(f"{ENV_PREFIX}WEBHOOK_URL: webhook mode needs the public https:// URL")
            secret = self.webhook_secret_token.get_secret_value() if self.webhook_secret_token else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise ConfigError(
                    f"{ENV_PREFIX}WEBHOOK_SECRET_TOKEN: webhook mode needs a secret of 1-256 "
                    "characters A-Z, a-z, 0-9, _ and -"
                )
        return self

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value()

    @property
    def access_restricted(self) -> bool:
        return bool(self.allowed_user_ids or self.allowed_chat_ids)


def env_name(field: str) -> str:
    """The environment variable of a BotSettings field."""
    return ENV_PREFIX + field.upper()


def load_bot_settings(**overrides: Any) -> BotSettings:
    """Settings from env/.env plus explicit overrides; one ConfigError line on failure."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return BotSettings(**clean)
    except ConfigError:
        raise
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        name = env_name(loc[0]) if loc else "TELEGRAM_*"
        msg = "missing (required)" if err.get("type") == "missing" else err.get("msg", "invalid value")
        msg = msg.removeprefix("Value error, ")
        # Pydantic's own message never contains the input; we do not add it either.
        raise ConfigError(f"{name}: {msg}") from None
