# Loopline: one image for every service (see deploy/README.md). Needs BuildKit (Docker 23+ default).
#
#   docker build -t loopline .
#   docker run loopline                         # = loopline serve gateway
#   docker run loopline serve ingest            # any of: gateway ingest writer query evaluator classifier loop-agent
#   docker run loopline serve ingest,query      # several services in one process
#   docker run loopline keys create --name ops  # any other CLI command
#
# Build stage: uv installs the workspace from uv.lock (frozen: the lock is never re-resolved) into a
# virtualenv at /opt/loopline; workspace members are installed as wheels, not editable, so the
# runtime stage needs nothing but that directory.
ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# Web stage: the web app (web/, TypeScript + Vite) built from npm with the committed lockfile;
# only its output (index.html + hashed assets) goes into the image, where the gateway serves it.
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build


FROM ${PYTHON_IMAGE} AS build
# the uv the repository's ./dev bootstraps; from PyPI, like everything else this build fetches
ARG UV_VERSION=0.13.9
RUN PIP_ROOT_USER_ACTION=ignore pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/loopline
WORKDIR /src

# 1) third-party dependencies only: this layer is rebuilt only when the lock or a manifest changes.
#    Every workspace member's pyproject.toml must be listed here (tests/test_deploy_manifests.py checks).
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY libs/btql/pyproject.toml libs/btql/pyproject.toml
COPY libs/providers/pyproject.toml libs/providers/pyproject.toml
COPY services/gateway/pyproject.toml services/gateway/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/query/pyproject.toml services/query/pyproject.toml
COPY services/evaluator/pyproject.toml services/evaluator/pyproject.toml
COPY services/classifier/pyproject.toml services/classifier/pyproject.toml
COPY services/loop-agent/pyproject.toml services/loop-agent/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --all-packages --no-dev --no-install-workspace

# 2) the workspace itself (.dockerignore keeps tests, deploy files and local state out)
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --all-packages --no-dev --no-editable \
 && /opt/loopline/bin/loopline --help >/dev/null


FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" loopline \
 && useradd --system --uid "${APP_UID}" --gid loopline --home-dir /var/lib/loopline \
        --no-create-home --shell /usr/sbin/nologin loopline \
 && install -d -o loopline -g loopline -m 0750 /var/lib/loopline
COPY --from=build /opt/loopline /opt/loopline
# the gateway finds the app at <prefix>/share/loopline/web (LOOPLINE_WEB_DIR overrides)
COPY --from=web /web/dist /opt/loopline/share/loopline/web

# Containers listen on every interface; state that must survive a restart (transaction-id lease,
# blob signing key, development key) lives in LOOPLINE_DATA_DIR: mount a volume there.
ENV PATH="/opt/loopline/bin:${PATH}" \
    VIRTUAL_ENV=/opt/loopline \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/loopline \
    LOOPLINE_HOST=0.0.0.0 \
    LOOPLINE_PORT=8000 \
    LOOPLINE_DATA_DIR=/var/lib/loopline \
    LOOPLINE_LOG_FORMAT=json
WORKDIR /var/lib/loopline
USER ${APP_UID}:${APP_UID}
EXPOSE 8000

# /readyz: 200 once the bus (and the store, for services that own one) answer; 503 otherwise
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('LOOPLINE_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["loopline"]
CMD ["serve", "gateway"]
