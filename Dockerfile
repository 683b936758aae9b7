# Kommentarvakt: the bot, its HTTP server (webhooks, Slack events, health, metrics) and scheduler.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN python -m pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KOMMENTARVAKT_CONFIG=/config/config.toml \
    KOMMENTARVAKT_LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --create-home kommentarvakt
USER kommentarvakt
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
CMD ["kommentarvakt", "run"]
