# shellcheck shell=bash
# Helpers shared by tests/infra/up and tests/infra/down. Source, don't execute.

TB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
TB_INFRA="$TB_REPO/tests/infra"
TB_STATE=${CLIKD_TESTBED_HOME:-$HOME/.cache/clikd-testbed}
TB_PY=${CLIKD_PYTHON:-.venv/bin/python}
case "$TB_PY" in
    /*) ;;
    */*) TB_PY="$TB_REPO/$TB_PY" ;;
    *) TB_PY=$(command -v "$TB_PY" || echo "$TB_PY") ;;
esac

TB_REGISTRY_HOST=127.0.0.1:5000
TB_REGISTRY_USER=clikd
TB_NAMESPACE=clikd-org
TB_SERVICES=(auth api realtime media studio)
TB_IMG_BASE=clikd-testbed/base:bookworm-1
TB_IMG_POSTGRES=clikd-testbed/postgres:15
TB_IMG_KEYDB=clikd-testbed/keydb:6
TB_IMG_SERVICE=clikd-testbed/service:1
# SeaweedFS's image, tagged with the Go module version tests/infra/seaweedfs/up builds (as env.standin's)
TB_IMG_SEAWEEDFS=clikd-testbed/seaweedfs:$(tr -d ' \n' <"$TB_INFRA/images/seaweedfs/version" 2>/dev/null)
TB_DOCKERD_LOG=/var/log/clikd-dockerd.log

TB_SUMMARY=()

tb_now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

tb_log() { printf '[testbed] %s\n' "$*" >&2; }

tb_die() {
    printf '[testbed] ERROR: %s\n' "$*" >&2
    exit 1
}

# tb_step NAME ACTION START_MS: record a summary line ("NAME: ACTION (1.2s)").
tb_step() {
    local ms=$(($(tb_now_ms) - $3))
    TB_SUMMARY+=("$(printf '%-10s %-46s %5d.%01ds' "$1" "$2" $((ms / 1000)) $((ms % 1000 / 100)))")
}

tb_summary() {
    local line
    printf '[testbed] summary:\n' >&2
    for line in "${TB_SUMMARY[@]}"; do printf '  %s\n' "$line" >&2; done
}

# The docker engine this script manages: only a local default socket may be started by us.
tb_docker_is_local() {
    [[ -z "${DOCKER_HOST:-}" || "${DOCKER_HOST}" == "unix:///var/run/docker.sock" ]]
}

tb_docker_host() { echo "${DOCKER_HOST:-unix:///var/run/docker.sock}"; }

tb_pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# HTTP status of GET http://$TB_REGISTRY_HOST/v2/ (000 when nothing answers).
tb_registry_status() {
    curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$TB_REGISTRY_HOST/v2/" 2>/dev/null || true
}
