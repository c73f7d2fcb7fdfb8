#!/bin/sh
# eventlake-entrypoint ROLE [ARGS...]: start one eventlake service in this container.
#
# The commands are the ones `eventlake demo` starts (platform/demo.py), bound to 0.0.0.0 for a container, with
# Dagster's webserver and daemon as two processes instead of `dagster dev`. Extra ARGS go to the command.
#
#   api                 eventlake api                       the ingestion API (EVENTLAKE_API_PORT, default 8000)
#   consume             eventlake consume                   one stream consumer; run N of them to share the shards
#   dagster-webserver   dagster-webserver -w workspace.yaml the Dagster UI and GraphQL (EVENTLAKE_DAGSTER_PORT, 3000)
#   dagster-daemon      dagster-daemon run -w workspace.yaml sensors, schedules and the run queue
#   dashboard           streamlit run platform/dashboard/app.py (EVENTLAKE_DASHBOARD_PORT, default 8501)
#   healthcheck         the probe of the role this container started with (the image's HEALTHCHECK)
#
# Anything else that is a command on PATH runs as it is: the dagster-aws EcsRunLauncher starts each run as
# `dagster api execute_run ...` in this image, and `docker compose run api eventlake generate ...` works too.
#
# The Dagster instance: DAGSTER_HOME must be writable (Dagster keeps local artifacts and UI state there), so
# the instance file of this deployment, DAGSTER_INSTANCE_TEMPLATE (deploy/dagster/<compose|ecs>/dagster.yaml in
# the image), is installed into it on every start: the image's version always wins.
set -eu

# the source tree (the image's WORKDIR) and the file naming this container's role; overridable for tests/deploy
APP_DIR="${EVENTLAKE_APP_DIR:-/app}"
WORKSPACE="$APP_DIR/workspace.yaml"
DASHBOARD_APP="$APP_DIR/platform/dashboard/app.py"
ROLE_FILE="${EVENTLAKE_ROLE_FILE:-/tmp/eventlake-role}"
API_PORT="${EVENTLAKE_API_PORT:-8000}"
DAGSTER_PORT="${EVENTLAKE_DAGSTER_PORT:-3000}"
DASHBOARD_PORT="${EVENTLAKE_DASHBOARD_PORT:-8501}"

usage() {
    echo "usage: eventlake-entrypoint {api|consume|dagster-webserver|dagster-daemon|dashboard|healthcheck} [ARGS...]" >&2
    exit 2
}

http_ok() {
    # 2xx within 5 s (the slim image has no curl)
    python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1"
}

healthcheck() {
    [ -r "$ROLE_FILE" ] || { echo "healthcheck: no role started yet" >&2; exit 1; }
    role=$(cat "$ROLE_FILE")
    case "$role" in
        # 503 when the job store or the stream is down (api/routers/health.py); Dagster down is only "degraded"
        api) http_ok "http://127.0.0.1:$API_PORT/api/v1/health" ;;
        # the consumer has no port: its process must still run (it exits on a fatal error). The bracket keeps
        # the pattern from matching grep's own command line.
        consume)
            for cmdline in /proc/[0-9]*/cmdline; do
                tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q "eventlake[ ]consume" && return 0
            done
            return 1 ;;
        dagster-webserver) http_ok "http://127.0.0.1:$DAGSTER_PORT/server_info" ;;
        # the daemon's own heartbeat check, read from the instance storage
        dagster-daemon) dagster-daemon liveness-check ;;
        dashboard) http_ok "http://127.0.0.1:$DASHBOARD_PORT/_stcore/health" ;;
        *) echo "healthcheck: unknown role $role" >&2; exit 1 ;;
    esac
}

install_dagster_instance() {
    [ -n "${DAGSTER_INSTANCE_TEMPLATE:-}" ] || return 0
    : "${DAGSTER_HOME:?DAGSTER_HOME must be set with DAGSTER_INSTANCE_TEMPLATE}"
    mkdir -p "$DAGSTER_HOME"
    # copy, then rename: services sharing DAGSTER_HOME (compose) never read a half-written file
    cp "$DAGSTER_INSTANCE_TEMPLATE" "$DAGSTER_HOME/dagster.yaml.$$"
    mv -f "$DAGSTER_HOME/dagster.yaml.$$" "$DAGSTER_HOME/dagster.yaml"
}

[ $# -ge 1 ] || usage
role="$1"
shift

case "$role" in
    healthcheck) healthcheck; exit 0 ;;
    api|consume|dagster-webserver|dagster-daemon|dashboard) echo "$role" >"$ROLE_FILE" ;;
    -h|--help|help) usage ;;
    -*) echo "eventlake-entrypoint: unknown role '$role'" >&2; usage ;;
    *)
        if command -v "$role" >/dev/null 2>&1; then
            install_dagster_instance
            exec "$role" "$@"
        fi
        echo "eventlake-entrypoint: unknown role '$role' (and no such command)" >&2
        usage ;;
esac

install_dagster_instance

cd "$APP_DIR"
case "$role" in
    api)
        exec eventlake api --host 0.0.0.0 --port "$API_PORT" "$@" ;;
    consume)
        exec eventlake consume "$@" ;;
    dagster-webserver)
        exec dagster-webserver -w "$WORKSPACE" -h 0.0.0.0 -p "$DAGSTER_PORT" "$@" ;;
    dagster-daemon)
        # the warehouse pool's limit, stored before the first run is queued (platform/demo.py set_pool_limits
        # does the same for the demo; eventlake.runs.WAREHOUSE_POOL / WAREHOUSE_POOL_LIMIT)
        dagster instance concurrency set warehouse 1
        exec dagster-daemon run -w "$WORKSPACE" "$@" ;;
    dashboard)
        exec streamlit run "$DASHBOARD_APP" --server.address 0.0.0.0 --server.port "$DASHBOARD_PORT" \
            --server.headless true --browser.gatherUsageStats false "$@" ;;
esac
