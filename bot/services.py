"""What every handler shares: :class:`BotServices` (settings, the ``AnswerService``, the
answer threads, history, limits, stats, the buttons' state), kept in ``bot_data`` under
``SERVICES_KEY``, and the budget for actions that are not questions."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from telegram.ext import ContextTypes

from bot.answers import AnswerStore, BoundedSet
from bot.history import ChatHistory
from bot.ratelimit import Decision, SlidingWindowLimiter
from bot.settings import BotSettings
from bot.stats import BotStats
from retrieval.models import Turn
from retrieval.service import AnswerService

R = TypeVar("R")
P = ParamSpec("P")

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


def check_action(svc: BotServices, user_id: int | None) -> Decision:
    """Count one non-question action against the user's budget."""
    if svc.action_limiter is None or user_id is None:
        return Decision(allowed=True)
    decision = svc.action_limiter.check(user_id)
    if not decision.allowed:
        svc.stats.record_rate_limited()
    return decision
