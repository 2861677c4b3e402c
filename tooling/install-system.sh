#!/bin/bash
# Installs and starts the real backends the test suite needs, on a fresh Debian 12 machine (root).
# Idempotent: a rerun skips every step whose result is already there.
#   - Debian packages: docker.io, postgresql, mmdebstrap, busybox-static, chromium, chromium-driver,
#     openssl, curl
#   - a Docker engine (dockerd) when none answers `docker info`
#   - configurable-http-proxy and playwright-core under <repo>/.tooling/node
# It builds no images: the pytest tooling (tests/backends) builds them lazily and caches them by tag.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_DIR="$REPO_ROOT/.tooling/node"
DOCKERD_LOG=/tmp/dockerd.log
export DEBIAN_FRONTEND=noninteractive

# Server-side tools without their recommends (needrestart, apparmor, git: not needed here).
SERVER_PACKAGES=(docker.io postgresql mmdebstrap busybox-static openssl curl)
# The browser with its recommends (fonts), as the measured recipe installed it.
BROWSER_PACKAGES=(chromium chromium-driver)
NPM_PACKAGES=("configurable-http-proxy@^5" "playwright-core@^1")

die() {
    echo "install-system: ERROR: $*" >&2
    exit 1
}

now() { date +%s.%N; }

# step NAME FUNCTION: runs FUNCTION and prints one line with its duration.
step() {
    local name=$1 start
    shift
    start=$(now)
    local outcome
    outcome=$("$@") || die "step '$name' failed${outcome:+: $outcome}"
    printf 'install-system: %-10s %-32s %6.1f s\n' "$name" "${outcome:-done}" \
        "$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')"
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs Debian packages and starts dockerd)"

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
            || echo "$pkg"
    done
}

install_packages() {
    local -a server browser
    mapfile -t server < <(missing_packages "${SERVER_PACKAGES[@]}")
    mapfile -t browser < <(missing_packages "${BROWSER_PACKAGES[@]}")
    if [ ${#server[@]} -eq 0 ] && [ ${#browser[@]} -eq 0 ]; then
        echo "all installed"
        return 0
    fi
    local log=/tmp/install-system-apt.log
    {
        apt-get update -qq \
            && if [ ${#server[@]} -gt 0 ]; then
                apt-get install -y -qq --no-install-recommends "${server[@]}"
            fi \
            && if [ ${#browser[@]} -gt 0 ]; then
                apt-get install -y -qq "${browser[@]}"
            fi
    } >"$log" 2>&1 || {
        tail -n 30 "$log" >&2
        echo "apt-get failed (log: $log)"
        return 1
    }
    echo "installed ${server[*]} ${browser[*]}"
}

engine_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
    if engine_answers; then
        echo "engine already answers"
        return 0
    fi
    command -v dockerd >/dev/null || {
        echo "dockerd not found (is docker.io installed?)"
        return 1
    }
    # set -m: own process group, so dockerd outlives this script and ignores its signals.
    (
        set -m
        nohup dockerd --host unix:///var/run/docker.sock >"$DOCKERD_LOG" 2>&1 </dev/null &
    )
    local _
    for _ in $(seq 1 60); do
        if engine_answers; then
            echo "started (log: $DOCKERD_LOG)"
            return 0
        fi
        sleep 1
    done
    tail -n 30 "$DOCKERD_LOG" >&2
    echo "no engine answered within 60 s (log: $DOCKERD_LOG)"
    return 1
}

install_node_tools() {
    if [ -x "$NODE_DIR/node_modules/.bin/configurable-http-proxy" ] \
        && [ -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
        echo "already present"
        return 0
    fi
    command -v npm >/dev/null || {
        echo "npm not found"
        return 1
    }
    mkdir -p "$NODE_DIR"
    local log=/tmp/install-system-npm.log
    (
        cd "$NODE_DIR" \
            && { [ -f package.json ] || npm init -y >/dev/null; } \
            && npm install --silent --no-audit --no-fund "${NPM_PACKAGES[@]}"
    ) >"$log" 2>&1 || {
        tail -n 30 "$log" >&2
        echo "npm install failed (log: $log)"
        return 1
    }
    echo "installed into .tooling/node"
}

total_start=$(now)
step apt install_packages
step dockerd start_dockerd
step npm install_node_tools
printf 'install-system: %-10s %-32s %6.1f s\n' total ok \
    "$(awk -v a="$total_start" -v b="$(now)" 'BEGIN { print b - a }')"
