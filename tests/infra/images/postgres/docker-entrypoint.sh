#!/bin/bash
# Entrypoint of clikd-testbed/postgres:15, modelled on the official postgres image.
#
# Env: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (default postgres),
# POSTGRES_DB (default $POSTGRES_USER), POSTGRES_HOST_AUTH_METHOD (default scram-sha-256; md5 and trust work),
# POSTGRES_INITDB_ARGS (extra initdb flags), PGDATA (default /var/lib/postgresql/data).
# On first start (no PG_VERSION in $PGDATA) it copies the cluster initdb'd at build time (or runs initdb when
# POSTGRES_INITDB_ARGS is set), sets the superuser's name and password, creates POSTGRES_DB and runs
# /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh. Copies share one system identifier (no replication). Then the server runs as user postgres in the foreground,
# listening on 0.0.0.0:5432 and logging to stderr. SIGTERM and SIGINT both mean a fast shutdown.
set -Eeuo pipefail

if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi
if [[ "${1:-}" != postgres ]]; then
    exec "$@"
fi
shift

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
PG_TEMPLATE=${PG_TEMPLATE:-/usr/share/clikd-testbed/pg-template}

log() { printf '%s entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2; }

as_postgres() {
    if [[ $(id -u) == 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    if [[ $(stat -c %U "$PGDATA") != postgres ]]; then
        chown -R postgres:postgres "$PGDATA"
    fi
    chmod 700 "$PGDATA"
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
fi

require_password() {
    if [[ -z "${POSTGRES_PASSWORD:-}" && "$AUTH_METHOD" != trust ]]; then
        log "Database is uninitialized and superuser password is not specified."
        log "Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)."
        exit 1
    fi
}

sql_ident() { local q='"'; printf '"%s"' "${1//$q/$q$q}"; }
sql_literal() { local q="'"; printf "'%s'" "${1//$q/$q$q}"; }

# Run SQL lines from stdin (one statement per line) in single-user mode, connected to database postgres
# as the role named like the OS user (postgres); fail on any ERROR or FATAL.
single_user() {
    local out
    if ! out=$(as_postgres postgres --single -D "$PGDATA" -c fsync=off postgres 2>&1) ||
        grep -qE '(ERROR|FATAL):' <<<"$out"; then
        printf '%s\n' "$out" >&2
        return 1
    fi
}

write_access_config() {
    cat >"$PGDATA/pg_hba.conf" <<EOF
# Written by the clikd-testbed/postgres entrypoint.
local all all trust
local replication all trust
host all all 127.0.0.1/32 $AUTH_METHOD
host all all ::1/128 $AUTH_METHOD
host replication all all $AUTH_METHOD
host all all all $AUTH_METHOD
EOF
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    if [[ "$AUTH_METHOD" == md5 ]]; then
        printf "password_encryption = md5\n" >>"$PGDATA/postgresql.conf"
    fi
    chown postgres:postgres "$PGDATA/pg_hba.conf" 2>/dev/null || true
}

# Fast path: copy the cluster initdb'd at image build time, then rename its superuser, set the password
# and create the database in single-user mode (initdb costs seconds of CPU, this a fraction of one).
init_from_template() {
    log "initialising $PGDATA from $PG_TEMPLATE (user $POSTGRES_USER, host auth $AUTH_METHOD)"
    as_postgres cp -a "$PG_TEMPLATE/." "$PGDATA/"
    write_access_config
    local user
    user=$(sql_ident "$POSTGRES_USER")
    # The template has the bootstrap superuser "postgres" and a helper superuser "tb_init". A session
    # cannot rename its own session user, so it becomes tb_init to rename postgres, then drops tb_init.
    {
        if [[ "$POSTGRES_USER" != postgres ]]; then
            echo "SET SESSION AUTHORIZATION tb_init"
            echo "ALTER ROLE postgres RENAME TO $user"
            echo "SET SESSION AUTHORIZATION $user"
        fi
        echo "DROP ROLE tb_init"
        if [[ "$AUTH_METHOD" == md5 ]]; then
            echo "SET password_encryption = 'md5'"
        fi
        if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
            echo "ALTER ROLE $user PASSWORD $(sql_literal "$POSTGRES_PASSWORD")"
        fi
        if [[ "$POSTGRES_DB" != postgres ]]; then
            echo "CREATE DATABASE $(sql_ident "$POSTGRES_DB")"
        fi
    } | single_user
}

# Slow path, as the official image does it: initdb (used with POSTGRES_INITDB_ARGS or odd passwords).
init_with_initdb() {
    local pwfile="" initdb_args=()
    if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        chown postgres "$pwfile" 2>/dev/null || true
        initdb_args+=("--pwfile=$pwfile")
    fi
    log "initdb in $PGDATA (user $POSTGRES_USER, host auth $AUTH_METHOD)"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags, split on purpose
    as_postgres initdb --username="$POSTGRES_USER" "${initdb_args[@]}" \
        --auth-local=trust --auth-host="$AUTH_METHOD" \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync ${POSTGRES_INITDB_ARGS:-} >/dev/null
    [[ -n "$pwfile" ]] && rm -f "$pwfile"
    write_access_config
}

# CREATE DATABASE (when the slow path needs it) and /docker-entrypoint-initdb.d scripts, through a
# temporary server listening on the Unix socket only.
run_init_sql() {
    local create=$1 f found=0
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] && found=1
    done
    ((found || create)) || return 0
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
        -w -s start
    local psql=(as_postgres psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER")
    if ((create)); then
        "${psql[@]}" --dbname postgres <<<"CREATE DATABASE $(sql_ident "$POSTGRES_DB")"
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) log "running $f"; PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB bash "$f" ;;
            *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
            *) ;;
        esac
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w -s stop
}

init_database() {
    require_password
    if [[ -d "$PG_TEMPLATE" && -z "${POSTGRES_INITDB_ARGS:-}" && "${POSTGRES_PASSWORD:-}" != *$'\n'* ]]; then
        init_from_template
        run_init_sql 0
    else
        init_with_initdb
        run_init_sql "$([[ "$POSTGRES_DB" != postgres ]] && echo 1 || echo 0)"
    fi
    log "initialisation complete"
}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    init_database
fi

# Run the server as a child so that SIGTERM can be turned into SIGINT (fast shutdown: open sessions are
# cut instead of being waited for, which is what a test bed and `docker stop` want).
# Started directly (not through the as_postgres function) so that $! is the postmaster itself.
if [[ $(id -u) == 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- postgres "$@" &
else
    postgres "$@" &
fi
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
status=0
while :; do
    wait "$pid" && status=0 || status=$?
    kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
