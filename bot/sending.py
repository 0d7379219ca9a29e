"""Sending to Telegram: HTML messages (never resent after a timeout), a reply in parts, and
"typing…" while an answer is computed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError, TimedOut

log = logging.getLogger("newsbot.bot")

#: Answers carry several links; previews would bury the sentences under a big card.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def send_html(
    message: Message,
    text: str,
    *,
    quote: bool = False,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send one HTML message to the chat of ``message``; ``None`` if delivery is unknown.

    Retries of failures Telegram reported (5xx, 429) and of requests that never reached it
    happen below (``bot.transport.RetryingRequest``, ``AIORateLimiter``). A *timeout after the
    request was sent* is different: Telegram may have delivered the message, and the Bot API
    has no idempotency key, so resending could duplicate it. We do not resend; we log it.
    """
    try:
        return await message.get_bot().send_message(
            chat_id=message.chat_id,
            text=text,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
            reply_parameters=(
                ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
                if quote else None
            ),
            link_preview_options=NO_PREVIEW,
        )
    except TimedOut:
        log.warning("sendMessage to chat %s timed out after sending; not resent (it may have been "
                    "delivered, and a resend could duplicate it)", message.chat_id)
        return None


async def send_messages(
    message: Message,
    texts: Sequence[str],
    *,
    quote: bool,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> list[int]:
    """Send the parts of one reply in order; the keyboard goes under the last part."""
    ids: list[int] = []
    for i, text in enumerate(texts):
        last = i == len(texts) - 1
        sent = await send_html(message, text, quote=quote and i == 0,
                               reply_markup=reply_markup if last else None)
        if sent is not None:
            ids.append(sent.message_id)
    return ids


@contextlib.asynccontextmanager
async def typing(message: Message, every: float = 4.0) -> AsyncIterator[None]:
    """Show "typing…" while the body runs (Telegram clears it after ~5 s, so repeat it)."""

    async def loop() -> None:
        while True:
            try:
                await message.get_bot().send_chat_action(message.chat_id, ChatAction.TYPING)
            except TelegramError as exc:  # cosmetic: never fail an answer for it
                log.debug("chat action failed: %s", exc)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def is_group(message: Message) -> bool:
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
