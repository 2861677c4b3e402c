# stellars-hub: JupyterHub with the platform, configurable-http-proxy and the shipped deploy
# config, spawning one container of the lab image per user through the host's Docker socket.
#
#   docker build -t stellars-hub:latest .
#   docker compose up -d --build          # hub + lab image, see compose.yml and docs/deploy.md
#
# Two stages on the same BASE_IMAGE (Debian bookworm based, Python >= 3.11 with venv):
#   builder  builds the wheel and runs the unit suite and the contract suites' fake side
#            against it; a failing test fails the build.
#   runtime  the wheel with the [postgres] extra in /opt/venv, configurable-http-proxy from npm,
#            tini, the config at /etc/stellars-hub/jupyterhub_config.py, state in the volume
#            /srv/jupyterhub, running as the unprivileged user `jupyterhub`.
# Debian packages a base lacks (python3-venv, nodejs, npm, tini) are installed with apt, so
# python:3.x-slim-bookworm and debian:bookworm-slim both work. The tests build on a base made
# offline by mmdebstrap (tooling/images.py, hub_base_recipe); nothing in this file is specific
# to that host.
ARG BASE_IMAGE=python:3.12-slim-bookworm

# ------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder
# Empty: pip's newest JupyterHub within the package's range. Set it to the version of the lab
# image's jupyterhub-singleuser (compose.yml passes the same value to both builds).
ARG JUPYTERHUB_VERSION=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN python3 -c "import ensurepip, venv" 2>/dev/null \
    || { apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
         && rm -rf /var/lib/apt/lists/*; }
RUN python3 -m venv /opt/build
WORKDIR /src
# Dependencies first, from pyproject.toml alone: this layer stays cached while only the source
# changes. The one-liner prints the build requirements, the dependencies and the named extras
# (self-references such as stellars-hub[postgres,local] expanded).
COPY pyproject.toml ./
RUN /opt/build/bin/python -c "import sys, tomllib; t = tomllib.load(open('pyproject.toml', 'rb')); p = t['project']; o = p['optional-dependencies']; n = p['name'] + '['; x = lambda rs: [r for q in rs for r in (x([s for e in q[len(n):q.index(']')].split(',') for s in o[e.strip()]]) if q.replace(' ', '').startswith(n) else [q])]; print('\n'.join(t['build-system']['requires'] + p['dependencies'] + x([s for e in sys.argv[1:] for s in o[e]])))" test > /tmp/requirements.txt \
    && /opt/build/bin/pip install -r /tmp/requirements.txt \
       ${JUPYTERHUB_VERSION:+"jupyterhub==${JUPYTERHUB_VERSION}"}
# The wheel (the deploy config rides in it, hatch force-include), installed without its
# dependencies (already there), then checked for consistency.
COPY README.md ./
COPY src ./src
COPY deploy ./deploy
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
    && /opt/build/bin/pip install --no-deps /dist/stellars_hub-*.whl \
    && /opt/build/bin/pip check
# The suites that need no backend, against the installed wheel (tests import `stellars` from
# site-packages: src/ is not on their path; docs/ is there for the generated-docs check).
# STELLARS_REQUIRE_BACKENDS stays unset here; Hypothesis draws derandomized (tests/conftest.py).
COPY tests ./tests
COPY tooling ./tooling
COPY docs ./docs
RUN STELLARS_HYPOTHESIS_PROFILE=image /opt/build/bin/python -m pytest -p no:cacheprovider -q -m "not real" \
    tests/unit tests/contract
# Marks the builder stage's image, which the classic builder keeps (untagged) as layer cache, so
# tooling can tell its own leftovers from anyone else's.
LABEL io.stellars-hub.stage=builder

# ------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG JUPYTERHUB_VERSION=
# CHP 5 needs Node.js >= 20; Debian bookworm has 18. Set 5 on a base with a newer Node.js.
ARG CHP_VERSION=4.6.3
ARG HUB_UID=1000
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN set -eu; missing=""; \
    command -v node >/dev/null || missing="$missing nodejs"; \
    command -v npm >/dev/null || missing="$missing npm"; \
    command -v tini >/dev/null || missing="$missing tini"; \
    dpkg -s ca-certificates >/dev/null 2>&1 || missing="$missing ca-certificates"; \
    python3 -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3 python3-venv"; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN npm install --global --omit=dev --no-audit --no-fund "configurable-http-proxy@${CHP_VERSION}" \
    && npm cache clean --force \
    && configurable-http-proxy --version
RUN python3 -m venv /opt/venv
# The runtime dependencies (with the [postgres] extra), cached like the builder's.
COPY pyproject.toml /tmp/stellars/pyproject.toml
RUN cd /tmp/stellars \
    && /opt/venv/bin/python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + [s for e in sys.argv[1:] for s in p['optional-dependencies'][e]]))" postgres > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt \
       ${JUPYTERHUB_VERSION:+"jupyterhub==${JUPYTERHUB_VERSION}"} \
    && rm -rf /tmp/stellars
# The tested wheel; --no-index proves every dependency is already in place.
COPY --from=builder /dist/ /tmp/dist/
RUN /opt/venv/bin/pip install --no-index "$(ls /tmp/dist/stellars_hub-*.whl)[postgres]" \
    && /opt/venv/bin/pip check \
    && rm -rf /tmp/dist
# The deploy config (the wheel carries the same file; this copy is the one CMD names, so a
# deployment may bind-mount its own over it).
COPY deploy/jupyterhub_config.py /etc/stellars-hub/jupyterhub_config.py

# The hub runs unprivileged. It needs the Docker socket: give the container the socket's group
# (`--group-add $(stat -c %g /var/run/docker.sock)`, compose `group_add`). Where the socket
# cannot be shared with a group (rootless engines, some desktop VMs), run it with `--user 0`.
# A new named volume on /srv/jupyterhub takes this directory's owner.
RUN useradd --system --uid "${HUB_UID}" --user-group --home-dir /srv/jupyterhub \
        --no-create-home --shell /usr/sbin/nologin jupyterhub \
    && install -d -o jupyterhub -g jupyterhub -m 0750 /srv/jupyterhub

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    JUPYTERHUB_DATA_DIR=/srv/jupyterhub \
    JUPYTERHUB_IP=0.0.0.0 \
    JUPYTERHUB_PORT=8000 \
    JUPYTERHUB_HUB_BIND_URL=http://0.0.0.0:8081 \
    JUPYTERHUB_NETWORK_NAME=stellars-hub-network \
    STELLARS_SPAWNER=docker
WORKDIR /srv/jupyterhub
VOLUME ["/srv/jupyterhub"]
USER jupyterhub
EXPOSE 8000
# /hub/health through the proxy (HTTPS when JUPYTERHUB_SSL_CERT is set; the certificate names
# the public host, not 127.0.0.1, so it is not verified here).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, ssl, urllib.request; e = os.environ.get; url = ('https' if e('JUPYTERHUB_SSL_CERT') else 'http') + '://127.0.0.1:' + (e('JUPYTERHUB_PORT') or '8000') + (e('JUPYTERHUB_BASE_URL') or '/').rstrip('/') + '/hub/health'; urllib.request.urlopen(url, timeout=8, context=ssl._create_unverified_context())"]
# tini reaps the proxy and the managed services. A container that was killed leaves the proxy's
# pid file behind; in a new container that pid may belong to another process, which JupyterHub
# would then signal, so the pid files go first.
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "-c", "rm -f \"$JUPYTERHUB_DATA_DIR/jupyterhub.pid\" \"$JUPYTERHUB_DATA_DIR/jupyterhub-proxy.pid\"; exec \"$@\"", "stellars-hub"]
CMD ["jupyterhub", "-f", "/etc/stellars-hub/jupyterhub_config.py"]
