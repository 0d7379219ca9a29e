"""Telegram update handlers: who is asking, what they asked, and sending the answer back.

The CPU work (encoding, searching) runs in :class:`BotServices.executor` threads, never on
the event loop; with ``concurrent_updates`` one slow question never stalls other chats.
Rendering lives in :mod:`bot.render` and the bounded state in :mod:`bot.answers`,
:mod:`bot.history`, :mod:`bot.ratelimit` and :mod:`bot.stats`, so this module is only the I/O
edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, TypeVar

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError, TimedOut
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import render
from bot.answers import AnswerState, AnswerStore, BoundedSet
from bot.history import ChatHistory
from bot.ratelimit import Decision, SlidingWindowLimiter
from bot.settings import BotSettings
from bot.stats import BotStats
from index.errors import NewsbotError
from retrieval.models import Turn
from retrieval.service import AnswerService

log = logging.getLogger("newsbot.bot")
R = TypeVar("R")
P = ParamSpec("P")

PUBLIC_COMMANDS = [
    BotCommand("ask", "Ask a question about the news"),
    BotCommand("latest", "The most recently indexed articles"),
    BotCommand("about", "What the index holds"),
    BotCommand("help", "How to use this bot"),
    BotCommand("start", "Start here"),
]
ADMIN_COMMANDS = [
    BotCommand("stats", "Questions served, unanswered share, latency (admins)"),
    BotCommand("reload", "Load the newest published index now (admins)"),
]

HELP_TEXT = (
    "Ask me a question about the news and I answer with sentences quoted from the articles "
    "I have, each with its source. If nothing I have answers it, I say so.\n\n"
    "• In a private chat, just write your question.\n"
    "• In a group, mention me, reply to one of my messages, or use /ask QUESTION.\n"
    "• Follow-up questions work: \"and how many were injured?\"\n"
    "• Under an answer: <b>More</b> shows the next best sentences, <b>Source</b> the passage "
    "around a quoted sentence.\n\n"
    "/latest – the most recently indexed articles\n/about – what I know about"
)
#: Answers carry several links; previews would bury the sentences under a big card.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
REFUSAL_TEXT = "Sorry, this bot is private and is not open to you or this chat."
ADMIN_ONLY_TEXT = "Sorry, that command is for the bot's admins."
APOLOGY_TEXT = "Sorry, something went wrong while answering. Please try again in a moment."
EXPIRED_TEXT = "This answer is too old to expand; please ask again."
SLOW_DOWN_TEXT = "Slow down a little, please: try again in a minute."
#: The budget for buttons and /latest, /about, per question allowed in the same window.
ACTIONS_PER_QUESTION = 3


@dataclass
class BotServices:
    """Everything the handlers share; one per Application (in ``bot_data``)."""

    settings: BotSettings
    #: The one way to retrieval (and so to the index): questions, passages, /latest, /about, reload.
    service: AnswerService
    executor: ThreadPoolExecutor
    history: ChatHistory[Turn]
    limiter: SlidingWindowLimiter
    #: Everything else a user does (buttons, /latest, /about): cheaper than a question, so a
    #: larger budget (``ACTIONS_PER_QUESTION``), but never unlimited.
    action_limiter: SlidingWindowLimiter | None = None
    stats: BotStats = field(default_factory=BotStats)
    answers: AnswerStore = field(default_factory=AnswerStore)
    refused: BoundedSet = field(default_factory=BoundedSet)

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run CPU-bound ``fn`` in the answer threads, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_user_ids

    def is_allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        s = self.settings
        if not s.access_restricted or self.is_admin(user_id):
            return True
        return (user_id is not None and user_id in s.allowed_user_ids) or (
            chat_id is not None and chat_id in s.allowed_chat_ids
        )


SERVICES_KEY = "newsbot"


def services(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    svc = context.bot_data[SERVICES_KEY]
    assert isinstance(svc, BotServices)
    return svc


# --------------------------------------------------------------------------- sending helpers


async def send_html(
    message: Message,
    text: str,
    *,
    quote: bool = False,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send one HTML message to the chat of ``message``; ``None`` if delivery is unknown.

    Retries of failures Telegram reported (5xx, 429) and of requests that never reached it
    happen below (``bot.app.RetryingRequest``, ``AIORateLimiter``). A *timeout after the
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


# --------------------------------------------------------------------------- access control


async def gatekeeper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every other handler (group -1): stop updates from outside the allowlist.

    An outsider gets one polite refusal (per user and chat, so a stream of messages does not
    become a stream of refusals) and nothing from the index.
    """
    svc = services(context)
    user = update.effective_user
    chat = update.effective_chat
    user_id = user.id if user else None
    chat_id = chat.id if chat else None
    if svc.is_allowed(user_id, chat_id):
        return
    svc.stats.record_refused()
    log.info("refused update %s from user %s in chat %s", update.update_id, user_id, chat_id)
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(REFUSAL_TEXT, show_alert=True)
    elif update.effective_message is not None and svc.refused.add((user_id, chat_id)):
        await send_html(update.effective_message, render.esc(REFUSAL_TEXT))
    raise ApplicationHandlerStop


# --------------------------------------------------------------------------- questions


def keyboard(key: str, state: AnswerState) -> InlineKeyboardMarkup | None:
    """"More" while there are further sentences, and one "Source" per quoted sentence."""
    answer = state.answer
    if not answer.answered or not answer.sentences:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    if not state.exhausted and state.shown_alternatives < len(answer.alternatives):
        rows.append([InlineKeyboardButton("More", callback_data=f"m:{key}")])
    shown = [*answer.sentences, *answer.alternatives[: state.shown_alternatives]]
    labels = render.source_button_labels(shown)
    buttons = [InlineKeyboardButton(label, callback_data=f"s:{key}:{i}") for i, label in enumerate(labels)]
    for start in range(0, min(len(buttons), 12), 4):
        rows.append(buttons[start : start + 4])
    return InlineKeyboardMarkup(rows) if rows else None


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """The one path every question takes: rate limit, typing, ask off-loop, reply, remember."""
    svc = services(context)
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    question = " ".join(question.split())
    if not question:
        await send_html(message, "Ask me a question, e.g. <code>/ask who won the election?</code>")
        return
    if len(question) > 1000:
        question = question[:1000]
    decision = svc.limiter.check(user.id if user else message.chat_id)
    if not decision.allowed:
        svc.stats.record_rate_limited()
        if decision.first_refusal:
            await send_html(
                message,
                f"Slow down a little: you can ask {svc.settings.rate_limit_per_user} questions per "
                f"{svc.settings.rate_limit_window_seconds:g} seconds. "
                f"Try again in {max(1, round(decision.retry_after))} s.",
                quote=is_group(message),
            )
        return

    started = time.perf_counter()
    chat_id = message.chat_id
    history = svc.history.get(chat_id)
    async with typing(message):
        answer = await svc.run(svc.service.ask, question, history or None)
    texts = render.render_answer(answer)
    state = AnswerState(answer=answer, chat_id=chat_id, message_ids=[])
    key = svc.answers.put(state)
    state.message_ids = await send_messages(message, texts, quote=is_group(message),
                                            reply_markup=keyboard(key, state))
    svc.history.add(chat_id, Turn.from_answer(answer))
    svc.stats.record_answer(answer.answered, time.perf_counter() - started)


def group_question(message: Message, bot_id: int, bot_username: str) -> str | None:
    """The question in a group message addressed to the bot, or None if it is chatter.

    Addressed means: it mentions the bot (``@name`` or a text mention), or it replies to one
    of the bot's messages.
    """
    text = message.text or ""
    name = "@" + bot_username.lower()
    mentioned = False
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.MENTION and value.lower() == name:
            mentioned = True
            text = text.replace(value, " ")
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            mentioned = True
    replied = message.reply_to_message
    to_bot = bool(replied and replied.from_user and replied.from_user.id == bot_id)
    if not (mentioned or to_bot):
        return None
    return text


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Private chat: every text message is a question."""
    if update.effective_message and update.effective_message.text:
        await answer_question(update, context, update.effective_message.text)


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group: answer only when addressed; other chatter is ignored."""
    message = update.effective_message
    if message is None or not message.text:
        return
    question = group_question(message, context.bot.id, context.bot.username)
    if question is not None:
        await answer_question(update, context, question)


async def cmd_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await answer_question(update, context, " ".join(context.args or []))


async def cmd_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message:
        await send_html(update.effective_message, "Hello! " + HELP_TEXT)


async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message:
        await send_html(update.effective_message, HELP_TEXT, quote=is_group(update.effective_message))


async def cmd_latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The most recently indexed articles, newest first."""
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    if not await _action_allowed(update, svc):
        return
    n = 5
    if context.args and context.args[0].isdigit():
        n = max(1, min(20, int(context.args[0])))
    articles = await svc.run(svc.service.latest, n)
    await send_messages(message, render.render_latest(articles), quote=is_group(message))


async def cmd_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    if not await _action_allowed(update, svc):
        return
    about = await svc.run(svc.service.about)
    await send_html(message, render.render_about(about), quote=is_group(message))


async def _action_allowed(update: Update, svc: BotServices) -> bool:
    """Rate-limit a command; the refusal is said once per streak, like for questions."""
    user = update.effective_user
    decision = check_action(svc, user.id if user else None)
    if decision.allowed:
        return True
    if decision.first_refusal and update.effective_message is not None:
        await send_html(update.effective_message, render.esc(SLOW_DOWN_TEXT))
    return False


def admin_only(
    fn: Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]],
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """Refuse non-admins politely (the command still shows up nowhere for them)."""

    @functools.wraps(fn)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if not services(context).is_admin(user.id if user else None):
            if update.effective_message:
                await send_html(update.effective_message, render.esc(ADMIN_ONLY_TEXT))
            return
        await fn(update, context)

    return wrapper


@admin_only
async def cmd_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    if update.effective_message:
        text = render.render_stats(svc.stats.snapshot(), svc.service.version)
        await send_html(update.effective_message, text)


@admin_only
async def cmd_reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    changed = await asyncio.to_thread(svc.service.reload_if_newer)
    about = await svc.run(svc.service.about)
    head = "Reloaded: now answering from the newest index." if changed else "Already on the newest index."
    await send_html(message, f"{head}\n\n{render.render_about(about)}")


async def cmd_unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message:
        await send_html(update.effective_message, "I don't know that command. See /help.")


# --------------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class ButtonPress:
    """Parsed callback data: "More" (``m:<key>``) or "Source" number ``index`` (``s:<key>:<i>``)."""

    kind: Literal["more", "source"]
    key: str
    index: int = 0


#: Exactly what ``keyboard`` writes: an AnswerStore key, and for "Source" an ASCII number.
_CALLBACK_DATA = re.compile(r"m:([A-Za-z0-9_-]{1,32})|s:([A-Za-z0-9_-]{1,32}):([0-9]{1,3})")


def parse_callback_data(data: str) -> ButtonPress | None:
    """The press ``data`` encodes, or None for anything ``keyboard`` never wrote (forged)."""
    m = _CALLBACK_DATA.fullmatch(data)
    if m is None:
        return None
    if m.group(1) is not None:
        return ButtonPress("more", m.group(1))
    return ButtonPress("source", m.group(2), int(m.group(3)))


def check_action(svc: BotServices, user_id: int | None) -> Decision:
    """Count one non-question action against the user's budget."""
    if svc.action_limiter is None or user_id is None:
        return Decision(allowed=True)
    decision = svc.action_limiter.check(user_id)
    if not decision.allowed:
        svc.stats.record_rate_limited()
    return decision


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``m:<key>`` ("More") edits the answer; ``s:<key>:<i>`` ("Source") sends a passage.

    A press only works in the chat the answer was sent to: a key copied into another chat
    is treated as unknown.
    """
    query = update.callback_query
    if query is None or not query.data:
        return
    svc = services(context)
    press = parse_callback_data(query.data)
    if press is None:
        await query.answer()
        return
    if not check_action(svc, query.from_user.id if query.from_user else None).allowed:
        await query.answer(SLOW_DOWN_TEXT)
        return
    state = svc.answers.get(press.key)
    message = query.message
    if state is None or not isinstance(message, Message) or message.chat_id != state.chat_id:
        await query.answer(EXPIRED_TEXT)
        return
    if press.kind == "more":
        await _more(query, press.key, state, svc)
    else:
        await _source(query, state, press.index, svc)


async def _more(query: CallbackQuery, key: str, state: AnswerState, svc: BotServices) -> None:
    want = state.shown_alternatives + svc.settings.more_batch
    texts, shown = render.render_more(state.answer, want)
    if shown <= state.shown_alternatives:
        state.exhausted = True
        await query.answer("No more sentences fit under this answer.")
        return
    state.shown_alternatives = shown
    # Alternatives that did not fit the message are not offered again: the button goes.
    state.exhausted = shown < want
    await query.answer()  # first: the client shows a spinner until the press is answered
    message = query.message
    assert isinstance(message, Message)
    try:
        await message.edit_text(texts[-1], parse_mode=ParseMode.HTML, reply_markup=keyboard(key, state),
                                link_preview_options=NO_PREVIEW)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def _source(query: CallbackQuery, state: AnswerState, index: int, svc: BotServices) -> None:
    shown = [*state.answer.sentences, *state.answer.alternatives[: state.shown_alternatives]]
    if index >= len(shown):
        await query.answer(EXPIRED_TEXT)
        return
    await query.answer()
    passage = await svc.run(svc.service.context, shown[index].sentence_id, 2)
    message = query.message
    assert isinstance(message, Message)
    await send_html(message, render.render_passage(passage), quote=True)


# --------------------------------------------------------------------------- errors


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the traceback with the update's id; tell the user briefly; keep running.

    The token never reaches the log: the httpx logger is quiet and a logging filter (see
    ``bot.app.configure_logging``) redacts it from any message.
    """
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if SERVICES_KEY in context.bot_data:
        services(context).stats.record_error()
    if isinstance(error, NewsbotError):
        log.error("update %s: %s", update_id, error.one_line())
    else:
        log.error("update %s: unhandled error", update_id, exc_info=error)
    if not isinstance(update, Update) or isinstance(error, TimedOut):
        # A timeout on a send may still have delivered it; an apology could confuse more.
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(APOLOGY_TEXT, show_alert=True)
            return
        except TelegramError:  # already answered (the failure came after): say it in the chat
            pass
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, APOLOGY_TEXT)
    except TelegramError as exc:
        log.warning("update %s: could not send the apology: %s", update_id, exc)
