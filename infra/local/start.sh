#!/usr/bin/env bash
# Start the whole genforge stack on this machine, without Docker:
#   S3 (rclone serve s3) -> MLflow server (sqlite + S3 artifacts) -> Prefect server
#   -> a Prefect process worker on pool $WORK_POOL.
# Everything binds $GENFORGE_STACK_HOST (127.0.0.1); each service runs in its own
# session and its PID goes to $GENFORGE_STACK_DIR/pids/<name>.pid; stop.sh stops them
# by those PIDs. Settings: infra/local/stack.env. Idempotent: running services are kept.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=stack.env
source "$HERE/stack.env"
BIN="${GENFORGE_BIN:-$REPO/.venv/bin}"
STATE="$GENFORGE_STACK_DIR"
mkdir -p "$STATE/s3/$S3_BUCKET" "$STATE/logs" "$STATE/pids" "$STATE/prefect"

running() {  # running NAME: its recorded PID is alive
  local pidfile="$STATE/pids/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$GENFORGE_STACK_HOST/$1") 2>/dev/null; }

launch() {  # launch NAME PORT CMD...: start CMD in its own session, record its PID
  local name=$1 port=$2; shift 2
  if running "$name"; then
    echo "$name: already running (PID $(cat "$STATE/pids/$name.pid"))"
    return
  fi
  if [[ -n "$port" ]] && port_open "$port"; then
    echo "error: $name: port $GENFORGE_STACK_HOST:$port is taken by another process;" \
      "choose another port (infra/local/stack.env) or stop that process" >&2
    "$HERE/stop.sh" >&2 || true
    exit 1
  fi
  (cd "$REPO" && exec setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null) &
  echo $! >"$STATE/pids/$name.pid"
}

wait_ready() {  # wait_ready NAME URL SECONDS [worker]: poll until it answers
  if ! "$BIN/python" "$HERE/ready.py" "$@"; then
    echo "error: $1 did not start; last lines of $STATE/logs/$1.log:" >&2
    tail -n 15 "$STATE/logs/$1.log" >&2 || true
    "$HERE/stop.sh" >&2 || true
    exit 1
  fi
}

# 1. S3: a directory per bucket under $STATE/s3; credentials checked by --auth-key,
#    passed through the environment so they never show in `ps`.
RCLONE_AUTH_KEY="\"$AWS_ACCESS_KEY_ID,$AWS_SECRET_ACCESS_KEY\"" launch s3 "$S3_PORT" \
  "$BIN/rclone" serve s3 --addr "$GENFORGE_STACK_HOST:$S3_PORT" --config /dev/null "$STATE/s3"
wait_ready s3 "$AWS_ENDPOINT_URL" 30

# 2. MLflow: runs in sqlite, artifacts proxied to s3://$S3_BUCKET/mlflow.
launch mlflow "$MLFLOW_PORT" \
  "$BIN/mlflow" server --host "$GENFORGE_STACK_HOST" --port "$MLFLOW_PORT" \
  --workers 1 --backend-store-uri "sqlite:///$STATE/mlflow.db" \
  --artifacts-destination "s3://$S3_BUCKET/mlflow"
wait_ready mlflow "$MLFLOW_TRACKING_URI/health" 180

# 3. Prefect server, its database under $STATE/prefect.
PREFECT_HOME="$STATE/prefect" \
PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$STATE/prefect/prefect.db" \
  launch prefect-server "$PREFECT_PORT" "$BIN/prefect" server start --host "$GENFORGE_STACK_HOST" \
  --port "$PREFECT_PORT"
wait_ready prefect-server "$PREFECT_API_URL/health" 180

# 4. A process worker on $WORK_POOL (created if missing), running flows in this checkout.
PREFECT_HOME="$STATE/prefect" launch worker "" "$BIN/prefect" worker start --pool "$WORK_POOL" \
  --type process --name "genforge-local-$WORK_POOL"
wait_ready worker "$PREFECT_API_URL" 120 "$WORK_POOL"

cat <<MSG
genforge stack is up (state in $STATE):
  S3        $AWS_ENDPOINT_URL  (bucket $S3_BUCKET)
  MLflow    $MLFLOW_TRACKING_URI
  Prefect   ${PREFECT_API_URL%/api}  (worker on pool $WORK_POOL)
Use it from a shell:   source infra/local/stack.env && genforge storage check
Stop it:               infra/local/stop.sh
MSG
