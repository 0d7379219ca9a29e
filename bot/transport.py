"""The HTTP layer under every Bot API call: retries and the message flood limiter.

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
import logging
import random
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.settings import BotSettings

log = logging.getLogger("newsbot.bot")

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


def make_request(settings: BotSettings) -> RetryingRequest:
    """The HTTP client of every Bot API call but getUpdates: timeouts and retries from settings."""
    timeout = settings.request_timeout_seconds
    return RetryingRequest(
        connection_pool_size=64, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout,
        pool_timeout=timeout, max_retries=settings.max_retries,
    )
