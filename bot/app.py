"""Wiring: the python-telegram-bot ``Application`` with our handlers, hot reload and heartbeat,
and running it (long polling or webhook). Retries and flood limits are :mod:`bot.transport`,
reaching the Bot API at start-up :mod:`bot.startup`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from telegram import BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import buttons
from bot import handlers as h
from bot.history import ChatHistory
from bot.ratelimit import SlidingWindowLimiter
from bot.services import ACTIONS_PER_QUESTION, SERVICES_KEY, BotServices
from bot.settings import BotSettings
from bot.startup import BotApplication, connect, failure_reason
from bot.transport import FloodLimiter, make_request
from index.errors import ConfigError, NewsbotError
from retrieval.models import Turn
from retrieval.service import AnswerService

log = logging.getLogger("newsbot.bot")
class RedactToken(logging.Filter):
    """Replaces the bot token in every log record (URLs in library logs contain it)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            msg = record.getMessage()
            if self.token in msg:
                record.msg = msg.replace(self.token, "<token>")
                record.args = ()
            if record.exc_info and record.exc_info[1] is not None and self.token in str(record.exc_info[1]):
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = text.replace(self.token, "<token>")
        return True


def configure_logging(settings: BotSettings) -> None:
    """Log to stderr; httpx (which logs request URLs, token included) only from WARNING."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    redact = RedactToken(settings.token)
    for handler in root.handlers:
        if not any(isinstance(f, RedactToken) for f in handler.filters):
            handler.addFilter(redact)


def make_services(settings: BotSettings, service: AnswerService) -> BotServices:
    return BotServices(
        settings=settings,
        service=service,
        executor=ThreadPoolExecutor(max_workers=settings.answer_workers, thread_name_prefix="answer"),
        history=ChatHistory[Turn](settings.history_turns, settings.history_max_age_seconds),
        limiter=SlidingWindowLimiter(settings.rate_limit_per_user, settings.rate_limit_window_seconds),
        action_limiter=SlidingWindowLimiter(settings.rate_limit_per_user * ACTIONS_PER_QUESTION,
                                            settings.rate_limit_window_seconds),
    )


async def reload_loop(svc: BotServices) -> None:
    """Every few seconds, swap to a newer published index (the check is a cheap file read).

    Runs in a worker thread: opening a version reads FAISS files. Questions in flight finish
    on the version they started with; a failure is logged and retried next round.
    """
    while True:
        beat(svc)
        await asyncio.sleep(svc.settings.reload_interval_seconds)
        try:
            if await asyncio.to_thread(svc.service.reload_if_newer):
                log.info("now answering from index version %s", svc.service.version)
        except Exception:
            log.exception("index reload failed; still answering from version %s", svc.service.version)


def beat(svc: BotServices) -> None:
    """Write the heartbeat file (the health check reads its age): proof the loop is alive."""
    try:
        svc.settings.heartbeat_file.write_text(f"{time.time():.0f} {svc.service.version}\n")
    except OSError as exc:
        log.warning("cannot write heartbeat file %s: %s", svc.settings.heartbeat_file, exc)


async def post_init(app: BotApplication) -> None:
    """Register the commands (admins see theirs too) and start the reload loop."""
    svc: BotServices = app.bot_data[SERVICES_KEY]
    await app.bot.set_my_commands(h.PUBLIC_COMMANDS, scope=BotCommandScopeDefault())
    for admin in sorted(svc.settings.admin_user_ids):
        try:
            await app.bot.set_my_commands(h.PUBLIC_COMMANDS + h.ADMIN_COMMANDS,
                                          scope=BotCommandScopeChat(admin))
        except TelegramError as exc:  # the admin has not started a chat with the bot yet
            log.warning("could not register admin commands for user %s: %s", admin, exc)
    app.bot_data["reload_task"] = asyncio.create_task(reload_loop(svc), name="newsbot-reload")


async def post_stop(app: BotApplication) -> None:
    task = app.bot_data.pop("reload_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def post_shutdown(app: BotApplication) -> None:
    svc: BotServices = app.bot_data[SERVICES_KEY]
    svc.executor.shutdown(wait=False, cancel_futures=True)


def build_application(settings: BotSettings, service: AnswerService) -> BotApplication:
    """The bot, ready for ``run_polling``/``run_webhook`` (or :func:`running` in tests)."""
    request = make_request(settings)
    # getUpdates gets its own connection and no retry wrapper: the Updater loop retries it.
    timeout = settings.request_timeout_seconds
    updates_request = HTTPXRequest(connection_pool_size=2, read_timeout=timeout, connect_timeout=timeout)
    app = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .request(request)
        .get_updates_request(updates_request)
        .rate_limiter(FloodLimiter(overall_max_rate=settings.max_messages_per_second,
                                   max_retries=settings.max_retries))
        .concurrent_updates(True)
        .job_queue(None)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.bot_data[SERVICES_KEY] = make_services(settings, service)

    app.add_handler(TypeHandler(Update, h.gatekeeper), group=-1)
    # New messages only: an edited "/ask ..." must not be answered twice.
    new = filters.UpdateType.MESSAGE
    for name, callback in (("start", h.cmd_start), ("help", h.cmd_help), ("ask", h.cmd_ask),
                           ("latest", h.cmd_latest), ("about", h.cmd_about), ("stats", h.cmd_stats),
                           ("reload", h.cmd_reload)):
        app.add_handler(CommandHandler(name, callback, filters=new))
    text = new & filters.TEXT
    app.add_handler(MessageHandler(text & ~filters.COMMAND & filters.ChatType.PRIVATE, h.on_private_text))
    app.add_handler(MessageHandler(text & ~filters.COMMAND & filters.ChatType.GROUPS, h.on_group_text))
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, h.cmd_unknown))
    app.add_handler(CallbackQueryHandler(buttons.on_callback))
    app.add_error_handler(h.on_error)
    return app


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


@contextlib.asynccontextmanager
async def running(
    app: BotApplication, poll_timeout: float = 1.0
) -> AsyncIterator[BotApplication]:
    """Run the bot with long polling inside an existing event loop (tests, the bench).

    ``run_polling`` owns the loop and signals; this does the same steps, hooks included.
    """
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=timedelta(seconds=poll_timeout),
                                    allowed_updates=ALLOWED_UPDATES)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        if app.post_stop:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


def webhook_kwargs(settings: BotSettings) -> dict[str, Any]:
    """Arguments of ``run_webhook``/``start_webhook`` from the settings.

    The local path is the public URL's path, so a reverse proxy can forward it unchanged;
    PTB rejects (403) every request without the right ``X-Telegram-Bot-Api-Secret-Token``.
    """
    from urllib.parse import urlsplit

    assert settings.webhook_url and settings.webhook_secret_token
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret_token.get_secret_value(),
        "allowed_updates": ALLOWED_UPDATES,
    }


def run(settings: BotSettings, service: AnswerService) -> None:
    """Run until interrupted: long polling, or a webhook server when ``mode=webhook``.

    The Bot API is reached first (:func:`connect`), on the event loop ``run_polling`` and
    ``run_webhook`` then use (they find the application initialized): a rejected token or an
    unreachable API is one error, raised within ``request_timeout_seconds``.
    """
    configure_logging(settings)
    app = build_application(settings, service)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(connect(app, settings))
    except BaseException:
        loop.close()
        asyncio.set_event_loop(None)
        raise
    try:
        if settings.mode == "webhook":
            log.info("webhook mode: listening on %s:%d, public URL %s", settings.webhook_listen,
                     settings.webhook_port, settings.webhook_url)
            app.run_webhook(**webhook_kwargs(settings), bootstrap_retries=3)
        else:
            log.info("long polling (index version %s)", service.version)
            app.run_polling(allowed_updates=ALLOWED_UPDATES, bootstrap_retries=3)
    except InvalidToken:
        raise ConfigError("TELEGRAM_BOT_TOKEN: Telegram rejected the token (revoked, or from another bot?)"
                          ) from None
    except TelegramError as exc:
        # Start-up only (getMe): once running, errors go to the error handler and retries.
        detail = failure_reason(exc, settings.request_timeout_seconds).replace(settings.token, "<token>")
        raise NewsbotError(f"cannot reach the Telegram Bot API at {settings.api_base_url}: {detail}"
                           ) from None
