#!/usr/bin/env bash
# Stop the stack start.sh started, by the PIDs it recorded, in reverse order:
# the worker first (Prefect workers need two SIGINTs), then the Prefect server,
# MLflow and S3. Each service is a session leader, so its PID is also its process
# group and the group (e.g. MLflow's uvicorn worker) is stopped with it.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack.env
source "$HERE/stack.env"
PIDS="$GENFORGE_STACK_DIR/pids"

alive() { kill -0 "$1" 2>/dev/null; }

wait_gone() {  # wait_gone PID SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
  return 1
}

ours() {  # ours PID WORD: the PID still runs the program we started (not a reused PID)
  alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

stop() {  # stop NAME PROGRAM SIGNAL...: each signal to the group, up to 10 s apart, then TERM/KILL
  local name=$1 program=$2; shift 2
  local pidfile="$PIDS/$name.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid; pid="$(cat "$pidfile")"
  if ours "$pid" "$program"; then
    for sig in "$@"; do
      kill -s "$sig" -- "-$pid" 2>/dev/null
      wait_gone "$pid" 10 && break  # a worker's graceful stop is slow on a loaded machine
    done
    wait_gone "$pid" 20 || kill -s TERM -- "-$pid" 2>/dev/null
    wait_gone "$pid" 10 || kill -s KILL -- "-$pid" 2>/dev/null
    kill -s KILL -- "-$pid" 2>/dev/null  # whatever of its group outlived it
    echo "$name: stopped (PID $pid)"
  fi
  rm -f "$pidfile"
}

stop worker prefect INT INT
stop prefect-server prefect TERM
stop mlflow mlflow TERM
stop s3 rclone TERM
