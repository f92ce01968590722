# Ventanilla: API, web UI and WhatsApp sessions in one process. PostgreSQL runs beside it (docker-compose.yml).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The `ocr` extra: the offline bot reads tracking numbers on photos (its models ship inside the wheel).
RUN /opt/venv/bin/pip install '.[ocr]'

FROM python:3.11-slim
# OpenCV (under the OCR engine) loads libGL and GLib even without a display.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ventanilla \
    && useradd --system --uid 10001 --gid ventanilla --home-dir /app --shell /usr/sbin/nologin ventanilla
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Alembic revisions are read from ./migrations of the working directory.
COPY migrations ./migrations
RUN mkdir -p /app/data /app/auth_sessions /app/media \
    && chown ventanilla:ventanilla /app/data /app/auth_sessions /app/media \
    && chmod 0700 /app/auth_sessions /app/media
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VENTANILLA_DATA_DIR=/app/data \
    AUTH_SESSIONS_DIR=/app/auth_sessions \
    MEDIA_DIR=/app/media
USER ventanilla
EXPOSE 8000
VOLUME ["/app/data", "/app/auth_sessions", "/app/media"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4).status != 200)"]
# `serve` migrates the database to head before it listens.
CMD ["ventanilla", "serve", "--host", "0.0.0.0", "--port", "8000"]
