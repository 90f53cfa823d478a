#!/usr/bin/env bash
# Starts the web server and a Celery worker together; Ctrl-C stops both.
# Called by `make run` after the virtual environment is ready and migrated.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$PY manage.py seed_demo --if-missing
# The platform courses: an update in place, so a new release's lessons reach existing installs.
$PY manage.py load_curriculum

# Two workers, as in production: a training job holds its worker for minutes, and the short
# tasks (cleaning events, embedding imported products) must not wait behind it.
# -B: the first also runs the beat that finds fine-tuning jobs whose worker died.
$PY -m celery -A platform_site worker -B --queues default --concurrency 1 -n default@%h --loglevel INFO &
default_worker=$!
$PY -m celery -A platform_site worker --queues gpu --concurrency 1 -n gpu@%h --loglevel INFO &
gpu_worker=$!
stop_workers() {
  kill -TERM "$default_worker" "$gpu_worker" 2>/dev/null || true
  wait "$default_worker" "$gpu_worker" 2>/dev/null || true
}
trap stop_workers EXIT INT TERM

echo
echo "  Merchant console:  http://$HOST:$PORT/"
echo "  API docs:          http://$HOST:$PORT/api/v1/docs"
$PY manage.py seed_demo --print-login
echo "  Stop with Ctrl-C."
echo
$PY manage.py runserver "$HOST:$PORT"
