"""Settings of fetching and of the live updater (``NEWSBOT_*`` env / ``.env``), apart from ``IndexSettings``.

They govern how politely and how defensively we talk to other people's web servers; the
index itself does not depend on them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.settings import load_settings

#: Far more than a news feed lists at once (typically 10-100 items), so a normal feed is taken
#: whole in one round.
DEFAULT_FEED_MAX_ITEMS = 200
#: The feeds benchmark's first round (docs/feeds.md): 1,000 pages fetched, embedded with the
#: default model and published in about 9 minutes on two cores, within a 15-minute ``--every``.
DEFAULT_ROUND_MAX_ARTICLES = 1000


def project_version() -> str:
    """The installed newsbot version (``0`` when running from an uninstalled checkout)."""
    try:
        return version("newsbot")
    except PackageNotFoundError:  # pragma: no cover - the package is installed in dev and prod
        return "0"


def default_user_agent() -> str:
    """A User-Agent that names the project, so site operators can tell who is fetching."""
    return f"newsbot/{project_version()} (+https://github.com/newsbot/newsbot)"


class LiveSettings(BaseSettings):
    """Timeouts, limits and politeness of feed and page fetching."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    #: Seconds allowed for one request: one deadline from connect through status line and
    #: headers to the last body byte (a trickling server is cut off too).
    fetch_timeout: float = Field(default=15.0, gt=0)
    #: Minimum seconds between two requests to the same host.
    politeness_delay: float = Field(default=1.0, ge=0)
    #: Bodies larger than this are abandoned while streaming ("page larger than 10 MB").
    max_page_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Redirect hops followed before giving up (each hop is checked by the URL policy).
    max_redirects: int = Field(default=5, ge=0)
    user_agent: str = Field(default_factory=default_user_agent)
    #: A failing feed or page is retried next round, then skipped for 1, 3, 7… rounds, at most this.
    backoff_max_rounds: int = Field(default=16, ge=0)
    #: New or changed items one watch round takes from one feed (newest first); the rest wait for
    #: the next rounds. A feed listing 100,000 items then costs many bounded rounds, not one
    #: that fetches and embeds for a day.
    feed_max_items: int = Field(default=DEFAULT_FEED_MAX_ITEMS, gt=0)
    #: New or changed items one watch round takes from all feeds together (taken round-robin
    #: across feeds, so one big feed cannot starve the others); bounds the round's one update.
    round_max_articles: int = Field(default=DEFAULT_ROUND_MAX_ARTICLES, gt=0)


def load_live_settings(**overrides: object) -> LiveSettings:
    """Live settings from env/.env with explicit overrides; a bad value is one ConfigError line."""
    return load_settings(LiveSettings, **overrides)
