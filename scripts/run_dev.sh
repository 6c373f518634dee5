#!/usr/bin/env bash
# Serves the admin with a Celery worker and beat beside it (file-based broker under var/: no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
BIN=.venv/bin
mkdir -p var/log
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
$BIN/celery -A invoicing worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 & pids+=($!)
$BIN/celery -A invoicing beat --loglevel=INFO --schedule=var/celerybeat-schedule >var/log/beat.log 2>&1 & pids+=($!)
cat <<MSG

  发票台 Fapiao Desk is running:  http://$HOST:$PORT/admin/
  Celery worker and beat log to var/log/.

MSG
$BIN/python manage.py seed_demo --logins
echo
$BIN/python manage.py runserver "$HOST:$PORT" --noreload
