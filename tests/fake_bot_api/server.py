"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1), for tests and the load bench.

It speaks the Bot API's JSON for the methods the bot uses, so python-telegram-bot's real
HTTP client (HTTPXRequest) talks to it exactly as it would to Telegram:

* ``getMe``, ``getUpdates`` (long poll with ``timeout`` and ``offset`` confirmation),
  ``sendMessage``, ``editMessageText``, ``answerCallbackQuery``, ``sendChatAction``,
  ``setMyCommands``/``getMyCommands``, ``deleteWebhook``/``setWebhook``, ``close``/``logOut``.
* Messages are checked like Telegram does: HTML must use allowed tags, be balanced and escape
  every stray ``<``, ``>`` and ``&``; the text after parsing must be at most 4,096 UTF-16 units.
  A violation answers 400, as Telegram would, so a rendering bug fails the test.
* Tests inject updates (private and group messages, mentions, replies, callback queries),
  inspect what the bot sent, and inject faults: the next N calls of a method answered with
  429 + ``retry_after``, with 500, or stalled (effect applied, response delayed past the
  client's timeout: the case a client cannot tell apart from a lost request).

Run standalone for manual testing: ``cd tests && python -m fake_bot_api.server --port 8081``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any

from aiohttp import web

BOT_ID = 7000001
BOT_USERNAME = "newsbot_test_bot"
TOKEN = "7000001:TEST-token_for-the_local-fake-server"

_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}
_TOKEN_RE = re.compile(
    r"<(/?)([a-zA-Z-]+)((?:\s+[a-zA-Z-]+=\"[^\"<>]*\")*)\s*>"
    r"|&(?:#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);"
    r"|[<>&]"
)


class BotApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def parse_telegram_html(text: str) -> str:
    """The plain text Telegram would show for ``text`` in HTML mode; raises like Telegram."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        tok = m.group(0)
        if tok in ("<", ">", "&"):
            raise BotApiError(400, f"Bad Request: can't parse entities: stray {tok!r} at {m.start()}")
        if tok.startswith("&"):
            out.append(unescape(tok))
            continue
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag not in _ALLOWED_TAGS:
            raise BotApiError(400, f"Bad Request: can't parse entities: unsupported start tag \"{tag}\"")
        if closing:
            if not stack or stack[-1] != tag:
                raise BotApiError(400, f"Bad Request: can't parse entities: unmatched end tag \"{tag}\"")
            stack.pop()
        else:
            stack.append(tag)
    out.append(text[pos:])
    if stack:
        raise BotApiError(400, f"Bad Request: can't parse entities: unclosed start tag \"{stack[-1]}\"")
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Fault:
    """Answer the next ``times`` calls of ``method`` with ``kind`` (429, 500 or stall)."""

    method: str
    kind: str
    times: int
    retry_after: int = 1
    stall_seconds: float = 2.0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class FakeBotApi:
    """State of the fake server. All mutation happens on the event loop thread."""

    token: str = TOKEN
    bot_id: int = BOT_ID
    bot_username: str = BOT_USERNAME
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    #: Every message the bot sent (sendMessage), in order, as stored (edits update them).
    sent: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    edits: list[dict[str, Any]] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    chat_actions: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    #: Called with every message the bot sends (the bench measures latency with it).
    on_send: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._cb_ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.max_pending = 0

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """What to pass as the bot's ``base_url`` (PTB appends the token)."""
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> FakeBotApi:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- injecting updates
    def user(self, user_id: int, name: str = "Alice") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"}

    def chat(self, chat_id: int, chat_type: str = "private", title: str = "Group") -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "User"
        else:
            chat["title"] = title
        return chat

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = next(self._update_ids)
        update["_pushed_at"] = time.perf_counter()
        self._updates.append(update)
        self.max_pending = max(self.max_pending, len(self._updates))
        self._notify()
        return update

    def message(
        self,
        text: str,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        reply_to: dict[str, Any] | None = None,
        mention: bool = False,
    ) -> dict[str, Any]:
        """Inject a text message; commands and mentions get their entities like Telegram's."""
        chat_id = user_id if chat_id is None else chat_id
        if mention:
            text = f"@{self.bot_username} {text}"
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id),
            "text": text,
        }
        entities = []
        for m in re.finditer(r"(?<!\S)/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text):
            if m.start() == 0:
                entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
        for m in re.finditer(r"@[A-Za-z0-9_]{5,}", text):
            if not any(e["offset"] <= m.start() < e["offset"] + e["length"] for e in entities):
                entities.append({"type": "mention", "offset": utf16_len(text[: m.start()]),
                                 "length": utf16_len(m.group(0))})
        if entities:
            msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        self.messages[(chat_id, msg["message_id"])] = msg
        return self.push_update({"message": msg})

    def callback(self, message: dict[str, Any], data: str, user_id: int = 1001) -> dict[str, Any]:
        """Inject a press of an inline button under ``message`` (one the bot sent)."""
        query = {
            "id": f"cb{next(self._cb_ids)}",
            "from": self.user(user_id),
            "chat_instance": f"ci{message['chat']['id']}",
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

    # ---------------------------------------------------------------- inspecting
    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every request the bot makes)."""
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("condition not met in time")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``."""
        return list(await self.wait_for(lambda: len(self.sent_to(chat_id)) >= count and self.sent_to(chat_id),
                                        timeout))

    def fail(self, method: str, kind: str, times: int = 1, **kw: Any) -> None:
        self.faults.append(Fault(method, kind, times, **kw))

    def _notify(self) -> None:
        if self._changed is None:
            return

        async def _go() -> None:
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(_go())

    # ---------------------------------------------------------------- HTTP
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        # PTB sends nested objects (reply_markup, commands, ...) JSON-encoded inside the form.
        for key, value in list(params.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        params = await self._params(request)
        call = Call(method, params, time.perf_counter())
        self.calls.append(call)
        fault = self._take_fault(method)
        try:
            if fault and fault.kind == "429":
                raise BotApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                                  {"retry_after": fault.retry_after})
            if fault and fault.kind == "500":
                raise BotApiError(500, "Internal Server Error")
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise BotApiError(404, "Not Found: method not found")
            result = await handler(params)
            if fault and fault.kind == "stall":
                # The effect has happened; only the answer is late (past the client's timeout).
                await asyncio.sleep(fault.stall_seconds)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except BotApiError as exc:
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            status = exc.code
        call.status = status
        self._notify()
        return web.json_response(body, status=status)

    # ---------------------------------------------------------------- methods
    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Newsbot", "username": self.bot_username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _api_getMe(self, p: dict[str, Any]) -> Any:
        return self._bot_user()

    async def _api_logOut(self, p: dict[str, Any]) -> Any:
        return True

    async def _api_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _api_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _api_setWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = dict(p)
        return True

    async def _api_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": 0}

    async def _api_setMyCommands(self, p: dict[str, Any]) -> Any:
        self.commands = list(p.get("commands") or [])
        return True

    async def _api_getMyCommands(self, p: dict[str, Any]) -> Any:
        return self.commands

    async def _api_getUpdates(self, p: dict[str, Any]) -> Any:
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        limit = int(p.get("limit") or 100)
        if offset:
            # Confirms every update below the offset, as Telegram does.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        assert self._changed is not None
        async with self._changed:
            while not self._updates and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
        return [{k: v for k, v in u.items() if not k.startswith("_")} for u in self._updates[:limit]]

    def _check_text(self, text: str, parse_mode: str | None) -> str:
        plain = parse_telegram_html(text) if parse_mode == "HTML" else text
        if not plain.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > 4096:
            raise BotApiError(400, "Bad Request: message is too long")
        return plain

    async def _api_sendMessage(self, p: dict[str, Any]) -> Any:
        chat_id = int(p["chat_id"])
        html = str(p.get("text", ""))
        plain = self._check_text(html, p.get("parse_mode"))
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id, "private" if chat_id > 0 else "supergroup"),
            "from": self._bot_user(),
            "text": plain,
        }
        if p.get("reply_markup"):
            msg["reply_markup"] = p["reply_markup"]
        reply = p.get("reply_parameters")
        if isinstance(reply, dict) and (chat_id, int(reply.get("message_id", 0))) in self.messages:
            msg["reply_to_message"] = self.messages[(chat_id, int(reply["message_id"]))]
        self.messages[(chat_id, msg["message_id"])] = msg
        stored = {**msg, "html": html, "_sent_at": time.perf_counter()}
        self.sent.append(stored)
        if self.on_send:
            self.on_send(stored)
        return msg

    async def _api_editMessageText(self, p: dict[str, Any]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        msg = self.messages.get((chat_id, message_id))
        if msg is None:
            raise BotApiError(400, "Bad Request: message to edit not found")
        html = str(p.get("text", ""))
        plain = self._check_text(html, p.get("parse_mode"))
        markup = p.get("reply_markup")
        if plain == msg["text"] and markup == msg.get("reply_markup"):
            raise BotApiError(400, "Bad Request: message is not modified: specified new message content "
                                   "and reply markup are exactly the same as a current content and reply "
                                   "markup of the message")
        msg["text"] = plain
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        for stored in self.sent:
            if stored["chat"]["id"] == chat_id and stored["message_id"] == message_id:
                stored.update(text=plain, html=html)
                if markup:
                    stored["reply_markup"] = markup
                else:
                    stored.pop("reply_markup", None)
        self.edits.append({"chat_id": chat_id, "message_id": message_id, "html": html, "text": plain})
        return msg

    async def _api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        query_id = p.get("callback_query_id")
        if any(a.get("callback_query_id") == query_id for a in self.callback_answers):
            raise BotApiError(400, "Bad Request: query is too old and response timeout expired "
                                   "or query ID is invalid")
        self.callback_answers.append(p)
        return True

    async def _api_sendChatAction(self, p: dict[str, Any]) -> Any:
        self.chat_actions.append(p)
        return True


async def _main() -> None:  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    server = await FakeBotApi(port=args.port).start()
    print(f"fake Bot API on {server.base_url} (token {server.token})")
    await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())
