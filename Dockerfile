# initw: seeded, byte-reproducible initial weights over HTTP.
#
#   docker build -t initw . && docker run --rm --read-only -p 8000:8000 -e INITW_WORKERS=2 initw
#
# The command is the README's `python -m service serve`; every setting comes from INITW_* variables
# (service/settings.py). Nothing is written at run time, so the root filesystem can be read-only.

# Build stage: the full image has a C compiler. It builds the project's wheel, with the compiled
# kernels (setup.py: service/core/_kernels.c ...), and the wheels of its dependencies.
FROM python:3.11 AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY pyproject.toml setup.py /tmp/initw/
COPY service/ /tmp/initw/service/
RUN pip wheel --no-cache-dir --wheel-dir /wheels "/tmp/initw[server]"

# Run stage: slim, no compiler; installs only the wheels built above, then drops them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels "initw[server]" \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 initw \
    && useradd --system --uid 10001 --gid initw --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin initw

WORKDIR /srv
USER 10001:10001

ENV INITW_HOST=0.0.0.0 \
    INITW_PORT=8000
EXPOSE 8000

# slim has no curl: the standard library asks /healthz; a non-2xx answer or no answer exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('INITW_PORT', '8000'), timeout=4)"]

# Exec form: python is PID 1 and gets SIGTERM itself (uvicorn drains for up to 30 s).
CMD ["python", "-m", "service", "serve"]
