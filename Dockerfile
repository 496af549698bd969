# syntax=docker/dockerfile:1
# trackstream image: the `trackstream` command (worker, api, migrate, ...) on python:3.11-slim.
#   docker build -t trackstream .
#   docker run --rm trackstream config        # every TRACKSTREAM_* setting with its default

# --- build: wheels for trackstream and every pinned dependency --------------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

# --- runtime ------------------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRACKSTREAM_DATA_DIR=/data \
    TRACKSTREAM_HTTP_HOST=0.0.0.0

RUN groupadd --system --gid 10001 trackstream \
    && useradd --system --uid 10001 --gid trackstream --create-home --home-dir /home/trackstream \
       --shell /usr/sbin/nologin trackstream \
    && mkdir -p /data /metrics \
    && chown trackstream:trackstream /data /metrics

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels trackstream

USER trackstream:trackstream
WORKDIR /home/trackstream
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["trackstream"]
CMD ["api"]
