# Throwaway PostgreSQL and Redis servers for tests, on loopback, in temporary directories.
# Source this file; every function cleans up after itself through stop_services.
#   start_postgres DIR   sets PG_PORT and PG_URL (database "tally", user "tally", trust auth)
#   start_redis DIR      sets REDIS_PORT and REDIS_URL (with REDIS_PASSWORD set, the server
#                        requires it and REDIS_URL carries it: redis://:PASSWORD@…)
#   stop_services        stops whatever was started (call it from an EXIT trap)

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local dir=$1
    [ -x "$PG_BIN/initdb" ] || { echo "services: PostgreSQL server binaries not found (package postgresql)"; return 1; }
    PG_DIR=$dir
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        # The postgres user must reach the directory through a temporary parent made for root.
        chmod 755 "$(dirname "$dir")"
        chown postgres "$dir"
    fi
    as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U tally >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
    PG_PORT=$(free_port)
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null || { cat "$dir/server.log"; return 1; }
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U tally tally
    PG_URL="postgres://tally@127.0.0.1:$PG_PORT/tally"
    export PG_PORT PG_URL
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}

# Restarts the server on the same port (drops every connection).
restart_postgres() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w restart -l "$PG_DIR/server.log" \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null
}

psql_value() {
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U tally -d tally -tAq -c "$1" 2>/dev/null || echo "-"
}

start_redis() {
    local dir=$1
    command -v redis-server >/dev/null || { echo "services: redis-server not found (package redis-server)"; return 1; }
    mkdir -p "$dir"
    REDIS_DIR=$dir
    REDIS_PORT=${REDIS_PORT:-$(free_port)}
    local auth=() credentials=""
    if [ -n "${REDIS_PASSWORD:-}" ]; then
        auth=(--requirepass "$REDIS_PASSWORD")
        credentials=":$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$REDIS_PASSWORD")@"
    fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${auth[@]}"
    for _ in $(seq 1 100); do
        REDISCLI_AUTH=${REDIS_PASSWORD:-} redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.05
    done
    REDIS_URL="redis://${credentials}127.0.0.1:$REDIS_PORT/0"
    export REDIS_PORT REDIS_URL
}

stop_redis() {
    [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ] || return 0
    local pid
    pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$REDIS_DIR/redis.pid"
}

stop_services() {
    stop_redis
    stop_postgres
}
