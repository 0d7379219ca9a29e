"""A local fake Telegram Bot API server and the harness that runs the real bot against it.

Used by ``tests/test_bot*.py`` and ``bench/bot_load_bench.py`` (which puts ``tests/`` on
``sys.path``).
"""

from fake_bot_api.server import BOT_ID, BOT_USERNAME, TOKEN, BotApiError, FakeBotApi, parse_telegram_html

__all__ = ["BOT_ID", "BOT_USERNAME", "TOKEN", "BotApiError", "FakeBotApi", "parse_telegram_html"]
