"""Telegram update handlers: who is asking, what they asked, and sending the answer back.

The CPU work (encoding, searching) runs in :class:`bot.services.BotServices.executor` threads, never on
the event loop; with ``concurrent_updates`` one slow question never stalls other chats.
What they share is :mod:`bot.services`; sending is :mod:`bot.sending`, the buttons under an
answer :mod:`bot.buttons`, rendering :mod:`bot.render`, and the bounded state
:mod:`bot.answers`, :mod:`bot.history`, :mod:`bot.ratelimit` and :mod:`bot.stats`, so this
module is the commands, the questions and the error handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import BotCommand, Message, MessageEntity, Update
from telegram.error import TelegramError, TimedOut
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import render
from bot.answers import AnswerState
from bot.buttons import keyboard
from bot.sending import is_group, send_html, send_messages, typing
from bot.services import SERVICES_KEY, SLOW_DOWN_TEXT, BotServices, check_action, services
from index.errors import NewsbotError
from retrieval.models import Turn

log = logging.getLogger("newsbot.bot")

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
REFUSAL_TEXT = "Sorry, this bot is private and is not open to you or this chat."
ADMIN_ONLY_TEXT = "Sorry, that command is for the bot's admins."
APOLOGY_TEXT = "Sorry, something went wrong while answering. Please try again in a moment."


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
