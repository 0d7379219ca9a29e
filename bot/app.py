"""Wiring: the python-telegram-bot ``Application`` with our handlers, retries and hot reload.

Delivery guarantees (what "no lost and no duplicate reply" means here):

* Updates: long polling confirms an update only by asking for the next offset after it was
  handed to the application, so a getUpdates that times out or fails is simply asked again
  and nothing is lost or processed twice. In webhook mode Telegram redelivers until we answer.
* Replies: a request that Telegram refused with 5xx, or that never reached it (connection
  refused/reset before sending, connect or pool timeout), is retried with bounded exponential
  backoff (:class:`RetryingRequest`); a 429 is retried after its ``retry_after`` by
  ``AIORateLimiter``. A request that *was sent* but whose answer timed out is retried only
  for idempotent methods (chat actions, edits, callback answers, getters). ``sendMessage`` is
  not resent then: Telegram may already have delivered it and the Bot API has no idempotency
  key, so resending could duplicate the reply. Such sends are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import handlers as h
from bot.history import ChatHistory
from bot.ratelimit import SlidingWindowLimiter
from bot.settings import BotSettings
from index.errors import ConfigError, NewsbotError
from retrieval.models import Turn
from retrieval.service import AnswerService

log = logging.getLogger("newsbot.bot")
#: python-telegram-bot's Application, whose bot, context and data types we leave open.
BotApplication = Application[Any, Any, Any, Any, Any, Any]

#: Methods whose repetition has no visible effect, so retrying after an ambiguous timeout
#: (request sent, no answer) is safe. Everything else is retried only when Telegram surely
#: did not act on it.
IDEMPOTENT_METHODS = frozenset({
    "getMe", "getUpdates", "getMyCommands", "getWebhookInfo", "getChat", "sendChatAction",
    "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery", "setMyCommands",
    "deleteWebhook", "setWebhook", "deleteMyCommands",
})
#: Requests that do not post a message: Telegram's per-chat message flood limits do not
#: apply, so they skip the shared message limiter (but still honour 429 RetryAfter).
UNLIMITED_METHODS = frozenset({"sendChatAction", "answerCallbackQuery", "getMe", "getUpdates",
                               "setMyCommands", "deleteWebhook", "setWebhook", "getMyCommands"})


def _surely_not_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached Telegram's logic."""
    cause = exc.__cause__
    return isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout,
                              httpx.WriteError, httpx.UnsupportedProtocol))


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that retries transient failures with bounded exponential backoff.

    5xx answers and failures before the request was sent are retried for every method;
    timeouts after sending only for :data:`IDEMPOTENT_METHODS` (see the module doc).
    """

    def __init__(self, *args: Any, max_retries: int = 4, base_delay: float = 0.25, max_delay: float = 5.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        #: Retries are logged at DEBUG instead of WARNING (start-up reports one line instead).
        self.quiet = False
        #: The last failure retried, for a start-up deadline that cuts the retries short.
        self.last_error: BaseException | None = None

    @property
    def _level(self) -> int:
        return logging.DEBUG if self.quiet else logging.WARNING

    def _delay(self, attempt: int) -> float:
        # Full jitter: many chats failing at once must not retry in lockstep.
        return random.uniform(0.5, 1.0) * min(self.max_delay, self.base_delay * 2.0**attempt)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        attempt = 0
        while True:
            try:
                code, payload = await super().do_request(
                    url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
                )
            except (TimedOut, NetworkError) as exc:
                retry = _surely_not_sent(exc) or api_method in IDEMPOTENT_METHODS
                if not retry or attempt >= self.max_retries:
                    raise
                self.last_error = exc
                log.log(self._level, "%s failed (%s); retry %d/%d", api_method,
                        type(exc.__cause__ or exc).__name__, attempt + 1, self.max_retries)
            else:
                if code < 500 or attempt >= self.max_retries:
                    return code, payload
                self.last_error = NetworkError(f"HTTP {code}")
                log.log(self._level, "%s answered HTTP %d; retry %d/%d", api_method, code, attempt + 1,
                        self.max_retries)
            await asyncio.sleep(self._delay(attempt))
            attempt += 1


class FloodLimiter(AIORateLimiter):
    """AIORateLimiter for messages only; other requests just get its RetryAfter handling.

    Without this, "typing…" actions and callback answers would eat the 30 messages/second
    budget that Telegram applies to messages.
    """

    async def process_request(self, callback: Any, args: Any, kwargs: dict[str, Any], endpoint: str,
                              data: dict[str, Any], rate_limit_args: int | None) -> Any:
        if endpoint in UNLIMITED_METHODS:
            data = {k: v for k, v in data.items() if k != "chat_id"}
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


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


def make_services(settings: BotSettings, service: AnswerService) -> h.BotServices:
    return h.BotServices(
        settings=settings,
        service=service,
        executor=ThreadPoolExecutor(max_workers=settings.answer_workers, thread_name_prefix="answer"),
        history=ChatHistory[Turn](settings.history_turns, settings.history_max_age_seconds),
        limiter=SlidingWindowLimiter(settings.rate_limit_per_user, settings.rate_limit_window_seconds),
        action_limiter=SlidingWindowLimiter(settings.rate_limit_per_user * h.ACTIONS_PER_QUESTION,
                                            settings.rate_limit_window_seconds),
    )


async def reload_loop(svc: h.BotServices) -> None:
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


def beat(svc: h.BotServices) -> None:
    """Write the heartbeat file (the health check reads its age): proof the loop is alive."""
    try:
        svc.settings.heartbeat_file.write_text(f"{time.time():.0f} {svc.service.version}\n")
    except OSError as exc:
        log.warning("cannot write heartbeat file %s: %s", svc.settings.heartbeat_file, exc)


async def post_init(app: BotApplication) -> None:
    """Register the commands (admins see theirs too) and start the reload loop."""
    svc: h.BotServices = app.bot_data[h.SERVICES_KEY]
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
    svc: h.BotServices = app.bot_data[h.SERVICES_KEY]
    svc.executor.shutdown(wait=False, cancel_futures=True)


def make_request(settings: BotSettings) -> RetryingRequest:
    """The HTTP client of every Bot API call but getUpdates: timeouts and retries from settings."""
    timeout = settings.request_timeout_seconds
    return RetryingRequest(
        connection_pool_size=64, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout,
        pool_timeout=timeout, max_retries=settings.max_retries,
    )


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
    app.bot_data[h.SERVICES_KEY] = make_services(settings, service)

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
    app.add_handler(CallbackQueryHandler(h.on_callback))
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


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def _not_bot_api(exc: BaseException) -> bool:
    """The server answered, but not with the Bot API's JSON (a wrong URL, a proxy's error page):
    python-telegram-bot then raises a plain TelegramError "Invalid server response"."""
    return any(type(err) is TelegramError and err.message == "Invalid server response" for err in _chain(exc))


def failure_reason(exc: BaseException, timeout: float) -> str:
    """Why a request failed, in a few words: the OS's words for a network error when there
    are any ("connection refused"), else the library's message."""
    chain = _chain(exc)
    if _not_bot_api(exc):
        return "the server there does not answer like the Bot API (is TELEGRAM_API_BASE_URL right?)"
    for err in chain:
        if isinstance(err, ssl.SSLError):
            return f"TLS error ({err.reason or err})"
        if isinstance(err, socket.gaierror):
            return f"cannot resolve the host name ({err.strerror})"
        if isinstance(err, OSError) and err.errno and err.errno > 0:
            return os.strerror(err.errno).lower()
    if any(isinstance(err, (TimedOut, TimeoutError, httpx.TimeoutException)) for err in chain):
        return f"no answer within {timeout:g} s"
    text = " ".join(str(exc).split())
    if text.startswith("httpx.") and ": " in text:  # PTB's "httpx.ConnectError: <message>"
        text = text.split(": ", 1)[1]
    return text or type(exc).__name__


async def connect(target: BotApplication | Bot, settings: BotSettings) -> None:
    """Start-up: reach the Bot API (``getMe``) within ``request_timeout_seconds``, retries included.

    ``target`` (the application, or a bare bot) is initialized. A token Telegram rejects is a
    :class:`ConfigError`; an API that cannot be reached in that time is a :class:`NewsbotError`
    naming the URL and the reason: one line at the CLI, instead of python-telegram-bot's retry
    loop and tracebacks. Retries in between are logged at DEBUG only.
    """
    bot = target.bot if isinstance(target, Application) else target
    retrying = bot.request if isinstance(bot.request, RetryingRequest) else None
    timeout = settings.request_timeout_seconds
    # PTB logs a traceback for an answer that is not JSON; the error below says it in one line.
    ptb_request_log = logging.getLogger("telegram.request")
    ptb_level = ptb_request_log.level
    ptb_request_log.setLevel(logging.CRITICAL)
    if retrying is not None:
        retrying.quiet, retrying.last_error = True, None
    reason: str | None
    try:
        async with asyncio.timeout(timeout):
            await target.initialize()
        return
    except InvalidToken as exc:  # 401, or 404 (also what a wrong URL gets)
        reason = failure_reason(exc, timeout) if _not_bot_api(exc) else None
    except TelegramError as exc:
        reason = failure_reason(exc, timeout)
    except TimeoutError:
        last = retrying.last_error if retrying is not None else None
        reason = failure_reason(last, timeout) if last is not None else f"no answer within {timeout:g} s"
    finally:
        ptb_request_log.setLevel(ptb_level)
        if retrying is not None:
            retrying.quiet = False
    with contextlib.suppress(Exception):
        await bot.shutdown()
    if reason is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN: Telegram rejected the token (revoked, or from another bot?)")
    reason = reason.replace(settings.token, "<token>")
    raise NewsbotError(f"cannot reach the Telegram Bot API at {settings.api_base_url}: {reason}")


def check_bot_api(settings: BotSettings) -> None:
    """Reach the Bot API once before the slow part of start-up (loading the model), so an
    unreachable API or a rejected token is reported in seconds (see :func:`connect`)."""

    async def check() -> None:
        bot = Bot(settings.token, base_url=settings.api_base_url, request=make_request(settings))
        await connect(bot, settings)
        await bot.shutdown()

    asyncio.run(check())


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
