"""The buttons under an answer: the keyboard ("More", one "Source" per quoted sentence), its
callback data (parsed strictly: anything else is forged), and the presses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import render
from bot.answers import AnswerState
from bot.sending import NO_PREVIEW, send_html
from bot.services import SLOW_DOWN_TEXT, BotServices, check_action, services

EXPIRED_TEXT = "This answer is too old to expand; please ask again."


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
