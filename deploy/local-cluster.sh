#!/usr/bin/env bash
# deploy/docker-compose.yml's topology on loopback, without docker:
#   3 ZooKeeper servers (Debian's zookeeper package, run by `python -m zk.server ensemble`),
#   2 gateway replicas (the installed soa-gateway, config deploy/compose/gateway.toml),
#   nginx in front of them (deploy/nginx.conf) when nginx is installed.
#
#   deploy/local-cluster.sh start|stop|status [DIR]
#
# DIR (default .cluster at the repository root) holds the pids (NAME.pid), the logs
# (NAME.log), ZooKeeper's data (zk/), the replicas' config and the generated key. Data stays
# across stop and start; remove DIR to start afresh. DIR and all in it are readable by their
# owner only: the key is in there, and nginx's error log prints the request line of a request
# it fails, key=... included. `start` refuses to run twice; `stop` stops everything it
# started (SIGQUIT for nginx, SIGTERM for the rest, SIGKILL after 45 s).
#
# Environment:
#   CLUSTER_LB_PORT        nginx                                     (9090)
#   CLUSTER_GATEWAY_PORTS  one gateway replica per port              ("9091 9092")
#   CLUSTER_ZK_PORTS       ZooKeeper client ports, one per server    ("2281 2282 2283")
#   CLUSTER_WORKERS        gunicorn workers per replica              (the config's)
#   CLUSTER_CONFIG         the replicas' config; its zkidc qa is pointed at the ensemble
#                                                                    (deploy/compose/gateway.toml)
#   CLUSTER_NGINX          the nginx program, or "no" for none       (nginx, when installed)
#   SOA_GATEWAY_KEY_OPS    the ops key's secret                      (generated, kept in DIR/key)
#   SOA_GATEWAY_BIN        the gateway program (.venv/bin/soa-gateway, else soa-gateway on PATH)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
STOP_TIMEOUT=45  # above gunicorn's graceful_timeout (35 s): long polls finish first
REPLICA_NAMES=(a b c d e f g h)

usage() {
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
COMMAND=$1
DIR=${2:-$ROOT/.cluster}
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac
DIR=${DIR%/}

say() { printf '%s\n' "$*"; }
die() {
    printf 'local-cluster: %s\n' "$*" >&2
    exit 1
}

# --- processes ---------------------------------------------------------------------------
# Every component runs in its own session (setsid), so that its pid is also the id of the
# session holding its children (java servers, gunicorn workers, nginx workers).

pid_of() { cat "$DIR/$1.pid" 2>/dev/null; }

# The pid in NAME.pid, when that process is alive and is ours (its command line names DIR).
running_pid() {
    local pid
    pid=$(pid_of "$1") || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR" || return 1
    echo "$pid"
}

# Live (not zombie) processes of session SID.
session_alive() {
    ps -e -o sid= -o stat= | awk -v sid="$1" '$1 == sid && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

components() {
    local name
    for name in nginx "${GATEWAYS[@]}" zookeeper; do
        [ -e "$DIR/$name.pid" ] && echo "$name"
    done
    return 0
}

# stop_all: nginx first (its idle upstream connections would hold the replicas' graceful
# shutdown), then the replicas together, then ZooKeeper.
stop_all() {
    local name pid signal deadline stopped=0
    for group in nginx "${GATEWAYS[*]}" zookeeper; do
        local sessions=()
        for name in $group; do
            if pid=$(running_pid "$name"); then
                signal=TERM
                [ "$name" = nginx ] && signal=QUIT  # graceful: waiting long polls get their answer
                kill -s "$signal" "$pid" 2>/dev/null || true
                sessions+=("$name:$pid")
                stopped=$((stopped + 1))
            fi
        done
        for entry in ${sessions[@]+"${sessions[@]}"}; do
            name=${entry%%:*}
            pid=${entry#*:}
            deadline=$((SECONDS + STOP_TIMEOUT))
            while session_alive "$pid" && [ $SECONDS -lt $deadline ]; do
                sleep 0.1
            done
            if session_alive "$pid"; then
                say "$name did not stop within $STOP_TIMEOUT s: killed" >&2
                kill -s KILL -- "-$pid" 2>/dev/null || true
            fi
            wait "$pid" 2>/dev/null || true  # when started by this very script (a failed start)
        done
        for name in $group; do
            rm -f "$DIR/$name.pid"
        done
    done
    return 0
}

# Processes whose command line or working directory is inside DIR, this script aside.
leftovers() {
    local proc pid stat own
    own=$(ps -o pgid= -p $$ | tr -d ' ')
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        stat=$(cat "$proc/stat" 2>/dev/null) || continue
        read -r -a stat <<<"${stat##*) }"  # state ppid pgrp ...
        [ "${stat[0]}" != Z ] && [ "${stat[2]}" != "$own" ] || continue
        if tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$DIR/" ||
            [[ "$(readlink "$proc/cwd" 2>/dev/null)/" == "$DIR/"* ]]; then
            echo "$pid"
        fi
    done
    return 0
}

# --- checks --------------------------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# HTTP status of GET PATH on 127.0.0.1:PORT, or nothing.
http_status() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        read -r -t 3 _ code _ <&3 && echo "$code"
    ) 2>/dev/null || true
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds; fails when NAME's process exits.
wait_for() {
    local name=$1 timeout=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        running_pid "$name" >/dev/null || fail "$name exited; see $DIR/$name.log"
        [ $SECONDS -lt $deadline ] || fail "$name not ready after $timeout s; see $DIR/$name.log"
        sleep 0.2
    done
}

ready() { [ "$(http_status "$1" "$2")" = 200 ]; }

# A failed start stops what it started.
fail() {
    printf 'local-cluster: %s\n' "$*" >&2
    local log
    for log in "$DIR"/*.log; do
        [ -s "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
    done
    stop_all
    exit 1
}

# --- settings ------------------------------------------------------------------------------

load_settings() {
    if [ -f "$DIR/cluster.env" ]; then
        # shellcheck source=/dev/null
        . "$DIR/cluster.env"  # what `start` used: stop and status follow it, whatever the environment
    else
        LB_PORT=${CLUSTER_LB_PORT:-9090}
        GATEWAY_PORTS=${CLUSTER_GATEWAY_PORTS:-9091 9092}
        ZK_PORTS=${CLUSTER_ZK_PORTS:-2281 2282 2283}
    fi
    read -r -a GATEWAY_PORT_LIST <<<"$GATEWAY_PORTS"
    read -r -a ZK_PORT_LIST <<<"$ZK_PORTS"
    [ ${#GATEWAY_PORT_LIST[@]} -ge 1 ] && [ ${#GATEWAY_PORT_LIST[@]} -le ${#REPLICA_NAMES[@]} ] ||
        die "CLUSTER_GATEWAY_PORTS: 1 to ${#REPLICA_NAMES[@]} ports"
    [ ${#ZK_PORT_LIST[@]} -ge 1 ] || die "CLUSTER_ZK_PORTS: at least one port"
    GATEWAYS=()
    local i
    for i in "${!GATEWAY_PORT_LIST[@]}"; do
        GATEWAYS+=("gateway-${REPLICA_NAMES[$i]}")
    done
}

find_programs() {
    GATEWAY=${SOA_GATEWAY_BIN:-}
    if [ -z "$GATEWAY" ]; then
        if [ -x "$ROOT/.venv/bin/soa-gateway" ]; then
            GATEWAY=$ROOT/.venv/bin/soa-gateway
        else
            GATEWAY=$(command -v soa-gateway) || die "soa-gateway is not installed (make install, or pip install .)"
        fi
    fi
    # The Python the gateway is installed in also has the zk package.
    PYTHON=$(dirname "$GATEWAY")/python
    [ -x "$PYTHON" ] || PYTHON=$(command -v python3)
    case ${CLUSTER_NGINX:-} in
    no) NGINX= ;;
    "") NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true) ;;
    *) NGINX=$CLUSTER_NGINX ;;
    esac
}

# deploy/nginx.conf on loopback: listen, the replicas, temp paths inside DIR/nginx, and the
# shell's open files limit (raising it needs root).
render_nginx() {
    awk -v lb="$LB_PORT" -v ports="$GATEWAY_PORTS" '
        /^worker_rlimit_nofile/ { next }
        /^[[:space:]]*listen 9090;/ { sub(/listen 9090;/, "listen 127.0.0.1:" lb ";") }
        /^[[:space:]]*server gateway-[a-z0-9]+:9090/ {
            if (done++) next
            n = split(ports, p, " ")
            for (i = 1; i <= n; i++) { line = $0; sub(/gateway-[a-z0-9]+:9090/, "127.0.0.1:" p[i], line); print line }
            next
        }
        { print }
        /^http \{/ {
            print "    client_body_temp_path tmp/client_body;"
            print "    proxy_temp_path tmp/proxy;"
            print "    fastcgi_temp_path tmp/fastcgi;"
            print "    uwsgi_temp_path tmp/uwsgi;"
            print "    scgi_temp_path tmp/scgi;"
        }
    ' "$HERE/nginx.conf"
}

# --- commands ------------------------------------------------------------------------------

print_endpoints() {
    local i
    say "ZooKeeper:  $(cat "$DIR/zk/hosts" 2>/dev/null || echo "not serving")  (zkidc qa, no chroot)"
    for i in "${!GATEWAYS[@]}"; do
        say "Replica:    http://127.0.0.1:${GATEWAY_PORT_LIST[$i]}  (${GATEWAYS[$i]})"
    done
    if running_pid nginx >/dev/null; then
        say "nginx:      http://127.0.0.1:$LB_PORT"
    fi
}

start() {
    umask 077
    mkdir -p "$DIR"
    chmod 700 "$DIR"  # also when an earlier start made it
    local name pid busy=()
    for name in $(components); do
        pid=$(running_pid "$name") && busy+=("$name $pid")
    done
    [ ${#busy[@]} -eq 0 ] || die "already running in $DIR (${busy[*]}); stop it first: $0 stop $DIR"

    find_programs
    local port
    for port in "${ZK_PORT_LIST[@]}" "${GATEWAY_PORT_LIST[@]}" ${NGINX:+"$LB_PORT"}; do
        ! port_busy "$port" || die "port $port is in use (see CLUSTER_*_PORTS in $0)"
    done

    cat >"$DIR/cluster.env" <<EOF
LB_PORT='$LB_PORT'
GATEWAY_PORTS='$GATEWAY_PORTS'
ZK_PORTS='$ZK_PORTS'
EOF
    cp "${CLUSTER_CONFIG:-$HERE/compose/gateway.toml}" "$DIR/gateway.toml"
    local key=${SOA_GATEWAY_KEY_OPS:-}
    if [ -z "$key" ]; then
        [ -s "$DIR/key" ] || (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DIR/key")
        key=$(cat "$DIR/key")
    fi

    local csv=${ZK_PORTS// /,}
    rm -f "$DIR/zk/hosts"  # written again once the quorum serves
    setsid "$PYTHON" -m zk.server ensemble --dir "$DIR/zk" --ports "$csv" >"$DIR/zookeeper.log" 2>&1 </dev/null &
    echo $! >"$DIR/zookeeper.pid"
    wait_for zookeeper 120 test -s "$DIR/zk/hosts"
    local hosts
    hosts=$(cat "$DIR/zk/hosts")

    local i addr
    for i in "${!GATEWAYS[@]}"; do
        name=${GATEWAYS[$i]}
        addr=127.0.0.1:${GATEWAY_PORT_LIST[$i]}
        env SOA_GATEWAY_ZKIDC_QA_HOSTS="$hosts" SOA_GATEWAY_BIND="$addr" SOA_GATEWAY_ADVERTISE="$addr" \
            SOA_GATEWAY_KEY_OPS="$key" \
            ${CLUSTER_WORKERS:+SOA_GATEWAY_WORKERS="$CLUSTER_WORKERS"} \
            setsid "$GATEWAY" serve --config "$DIR/gateway.toml" >"$DIR/$name.log" 2>&1 </dev/null &
        echo $! >"$DIR/$name.pid"
    done
    for i in "${!GATEWAYS[@]}"; do
        wait_for "${GATEWAYS[$i]}" 60 ready "${GATEWAY_PORT_LIST[$i]}" /readyz
    done

    if [ -n "$NGINX" ]; then
        mkdir -p "$DIR/nginx/tmp"
        render_nginx >"$DIR/nginx/nginx.conf"
        local args=(-p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e stderr -g "daemon off; pid \"$DIR/nginx/nginx.pid\";")
        "$NGINX" -t -q "${args[@]}" >"$DIR/nginx.log" 2>&1 || fail "nginx refused its config"
        # Started from DIR/nginx: its workers' command line no longer names DIR, their cwd does.
        (cd "$DIR/nginx" && exec setsid "$NGINX" "${args[@]}" >>"$DIR/nginx.log" 2>&1 </dev/null) &
        echo $! >"$DIR/nginx.pid"
        wait_for nginx 20 ready "$LB_PORT" /healthz
    fi

    print_endpoints
    say "Key (ops):  $key"
    local base=http://127.0.0.1:${GATEWAY_PORT_LIST[0]}
    [ -n "$NGINX" ] && base=http://127.0.0.1:$LB_PORT
    say "Try:        curl -H \"X-Api-Key: $key\" \"$base/servicelist?zkidc=qa\""
    [ -n "$NGINX" ] || say "(no nginx: no load balancer; make cluster installs it)"
    say "Logs, pids: $DIR    stop: $0 stop $DIR"
}

status() {
    local name pid state all=0 up=0 i
    for name in zookeeper "${GATEWAYS[@]}" nginx; do
        [ "$name" = nginx ] && [ ! -e "$DIR/nginx.pid" ] && continue
        all=$((all + 1))
        if pid=$(running_pid "$name"); then
            up=$((up + 1))
            state="running (pid $pid)"
        else
            state="stopped"
        fi
        printf '%-10s %s\n' "$name" "$state"
    done
    [ $up -gt 0 ] || {
        say "not running ($DIR)"
        return 3
    }
    find_programs
    "$PYTHON" -m zk.server status "${ZK_PORT_LIST[@]}" | sed 's/^/zookeeper  /' || true
    for i in "${!GATEWAYS[@]}"; do
        printf '%-10s http://127.0.0.1:%s /readyz %s\n' "${GATEWAYS[$i]}" "${GATEWAY_PORT_LIST[$i]}" \
            "$(http_status "${GATEWAY_PORT_LIST[$i]}" /readyz)"
    done
    [ $up -eq $all ] || return 1
}

stop() {
    if [ -z "$(components)" ]; then
        say "not running ($DIR)"
        return 0
    fi
    stop_all
    local left
    left=$(leftovers | tr '\n' ' ')
    [ -z "$left" ] || die "processes still running in $DIR: $left"
    say "stopped ($DIR)"
}

load_settings
case $COMMAND in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
