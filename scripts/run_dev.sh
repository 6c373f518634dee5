#!/usr/bin/env bash
# Serves the admin with a Celery worker and beat beside it (file-based broker under var/: no server needed).
#
# Stops within seconds, every time, leaving nothing behind: on SIGTERM (a closed terminal, systemd, docker), SIGHUP
# or Ctrl-C it sends TERM to the three servers, gives them RUN_DEV_STOP_SECONDS (5) to finish, then KILLs whatever
# is left of them. Each server runs in its own process group (setsid), so that the KILL also reaches its children.
# The worker uses the solo pool: one task at a time in the worker's own process. The prefork pool's main process
# could block for good on a multiprocessing lock once its pool children died of the same TERM; a development server
# needs no parallel tasks, and production runs its workers itself (docs/operations.md).
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
VAR="${FAPIAO_VAR_DIR:-var}"
STOP_SECONDS="${RUN_DEV_STOP_SECONDS:-5}"
BIN=.venv/bin
mkdir -p "$VAR/log"
pids=()

alive() {  # is any process of the servers' groups still there?
  local p
  for p in "${pids[@]}"; do kill -0 -- "-$p" 2>/dev/null && return 0; done
  return 1
}

stop() {
  local code=$1 p i
  trap '' HUP INT TERM  # stopping already: a second Ctrl-C cannot leave half of it running
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < STOP_SECONDS * 10; i++)); do
    alive || break
    sleep 0.1
  done
  if alive; then
    echo "run_dev.sh: still running after ${STOP_SECONDS} s, killing what is left" >&2
    for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  fi
  wait 2>/dev/null
  exit "$code"
}
trap 'stop 129' HUP
trap 'stop 130' INT
trap 'stop 143' TERM

start() {  # start "$@" in its own process group and remember it
  setsid "$@" &
  pids+=($!)
}

start $BIN/celery -A invoicing worker --pool=solo --loglevel=INFO >"$VAR/log/worker.log" 2>&1
start $BIN/celery -A invoicing beat --loglevel=INFO --schedule="$VAR/celerybeat-schedule" >"$VAR/log/beat.log" 2>&1
cat <<MSG

  发票台 Fapiao Desk is running:  http://$HOST:$PORT/admin/
  Celery worker and beat log to $VAR/log/.

MSG
$BIN/python manage.py seed_demo --logins
echo
start $BIN/python manage.py runserver "$HOST:$PORT" --noreload
# Until one of them ends (then the others are stopped too) or a signal arrives (its trap stops them all).
wait -n
stop $?
