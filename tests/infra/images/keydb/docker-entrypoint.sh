#!/bin/bash
# Entrypoint of clikd-testbed/keydb:6: runs redis-server in the foreground as user redis with
# port 6379, bind 0.0.0.0, protected-mode no, dir /data, and requirepass $REDIS_PASSWORD when set.
# `keydb-server [CONFIG] [--option value ...]`, `redis-server ...` or bare `--option value` arguments
# are accepted; any other command is executed as given.
set -Eeuo pipefail

if [[ $# -eq 0 || "$1" == -* ]]; then
    set -- keydb-server "$@"
fi
case "$1" in
    keydb-server | redis-server) shift ;;
    *) exec "$@" ;;
esac

config=()
if [[ $# -gt 0 && "$1" != -* ]]; then
    config=("$1")
    shift
fi
args=(--port 6379 --bind 0.0.0.0 --protected-mode no --dir /data --daemonize no)
if [[ -n "${REDIS_PASSWORD:-}" ]]; then
    args+=(--requirepass "$REDIS_PASSWORD")
fi

if [[ $(id -u) == 0 ]]; then
    mkdir -p /data
    if [[ $(stat -c %U /data) != redis ]]; then
        chown -R redis:redis /data
    fi
    exec setpriv --reuid=redis --regid=redis --init-groups -- redis-server "${config[@]}" "${args[@]}" "$@"
fi
exec redis-server "${config[@]}" "${args[@]}" "$@"
