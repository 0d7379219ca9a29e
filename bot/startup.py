"""Start-up: reaching the Bot API (``getMe``) within ``request_timeout_seconds``, and saying
why not in one line (a rejected token, a wrong URL, the OS's words for a network error)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from typing import Any

import httpx
from telegram import Bot
from telegram.error import InvalidToken, TelegramError, TimedOut
from telegram.ext import Application

from bot.settings import BotSettings
from bot.transport import RetryingRequest, make_request
from index.errors import ConfigError, NewsbotError

log = logging.getLogger("newsbot.bot")
#: python-telegram-bot's Application, whose bot, context and data types we leave open.
BotApplication = Application[Any, Any, Any, Any, Any, Any]


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
