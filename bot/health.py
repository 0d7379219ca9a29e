"""Container health check: ``python -m bot.health`` exits 0 while the bot's loop is alive.

The running bot rewrites its heartbeat file every few seconds from the event loop (see
``bot.app.reload_loop``). A missing or stale file means the bot is not running, is stuck, or
its loop is blocked: exactly when a restart helps. It reads only the two heartbeat settings,
so it works without (and never touches) the token.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings import DEFAULT_HEARTBEAT_FILE, ENV_PREFIX


class HealthSettings(BaseSettings):
    """The subset of BotSettings the health check needs (same variables)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    heartbeat_file: Path = DEFAULT_HEARTBEAT_FILE
    heartbeat_max_age_seconds: float = Field(default=60.0, gt=0)


def check(now: float | None = None) -> tuple[bool, str]:
    try:
        settings = HealthSettings()
    except ValidationError as exc:
        return False, f"bad setting: {exc.errors()[0].get('msg')}"
    try:
        age = (now or time.time()) - settings.heartbeat_file.stat().st_mtime
    except OSError:
        return False, f"no heartbeat at {settings.heartbeat_file}"
    if age > settings.heartbeat_max_age_seconds:
        return False, f"heartbeat {age:.0f} s old (limit {settings.heartbeat_max_age_seconds:.0f} s)"
    return True, f"ok: heartbeat {age:.0f} s old"


def main() -> None:
    ok, message = check()
    print(message)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
