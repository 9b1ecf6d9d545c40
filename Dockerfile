# The helpline assistant as one image: code, pinned packages and the trained model.
#   docker compose up -d --build          (see docker-compose.yml and deploy/env.example)
# Rasa 3.6 needs Python 3.10.
FROM python:3.10-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1

# The service runs as an unprivileged user; the code and the model stay owned by root
# (read-only for the service).
RUN useradd --create-home --uid 10001 --user-group helpline

WORKDIR /app

# Packages first: this layer is rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .

# Train at build time so that every replica started from this image answers with the
# very same model (nothing is trained or downloaded when a container starts).
# data/ is only used when DATABASE_URL is unset (SQLite, a single container).
RUN RASA_TELEMETRY_ENABLED=false python -m bot train \
    && rm -rf .rasa \
    && mkdir -p data && chown helpline:helpline data

USER helpline

EXPOSE 5005

# Sanic finishes the requests in flight on SIGTERM (docker stop, compose down).
STOPSIGNAL SIGTERM

# Liveness only (no curl in the slim image). docker-compose.yml checks /readyz instead,
# which also needs the database and Redis.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5005/healthz', timeout=4)"]

CMD ["python", "-m", "bot", "serve", "--host", "0.0.0.0", "--port", "5005"]
