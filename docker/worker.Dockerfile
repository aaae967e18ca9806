# The tasklease CLI and worker shim, with the example handler of the compose file.
#
#   docker build -f docker/worker.Dockerfile -t tasklease-worker .
#   docker run --rm -e TASKLEASE_DSN=postgresql://... tasklease-worker tasklease migrate
#
# The build context is the repository root: the wheel carries migrations/ and
# sql/, so `tasklease migrate` works from this image without a checkout.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY python/ python/
COPY sql/ sql/
COPY migrations/ migrations/
# The repository itself is the pinned artifact; its dependencies carry lower
# bounds in pyproject.toml.
RUN pip install --no-cache-dir /src

COPY docker/tasklease_example.py /app/tasklease_example.py
ENV PYTHONPATH=/app
WORKDIR /app

RUN useradd --system --uid 10001 --no-create-home tasklease
USER 10001

CMD ["tasklease", "--help"]
