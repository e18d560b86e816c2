# Wren API image: the package and its dependencies, run as an unprivileged user.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The locked dependencies first (their own layer, rebuilt only when the lock changes), then
# the package alone: pip resolves nothing beyond the lock.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . && useradd --system --uid 10001 wren

USER wren
EXPOSE 8000
ENV WREN_HOST=0.0.0.0 \
    WREN_PORT=8000

# Readiness (the database answers): urlopen raises on the 503 of an unready instance.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"

CMD ["wren", "serve"]
