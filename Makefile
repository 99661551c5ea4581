# The two commands: `make run` and `make test`. Both start from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install messages run test test-pg bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The English catalogue of the web pages, compiled (the .mo is not committed). The app also
# compiles it when it is missing or older than the .po (api/translations).
MO := api/translations/en/LC_MESSAGES/messages.mo
$(MO): api/translations/en/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d api/translations

install: $(VENV)/.installed $(MO)

## Extract the web pages' texts (babel.cfg) and update the English catalogue; then translate
## what is new in api/translations/en/LC_MESSAGES/messages.po (tests/test_web_english.py)
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --add-location=file --sort-output \
		--project=Sagsflow --version=0.1.0 -o api/translations/messages.pot api/
	$(BIN)/pybabel update -i api/translations/messages.pot -d api/translations \
		--ignore-obsolete --no-fuzzy-matching

# Front-end packages (package.json): bpmn-js for the case page's process diagram, axe-core for
# the browser tests' accessibility check; npm writes the stamp. Without npm the step is left
# out: the case page lists where the process stands instead of drawing it, and the
# accessibility tests skip, saying so.
NPM := $(shell command -v npm 2>/dev/null)
AXE := $(if $(NPM),node_modules/.package-lock.json)
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## Install, migrate, load demo data and serve on http://$(HOST):$(PORT)
run: install $(AXE)
	$(BIN)/sagsflow db upgrade
	SAGSFLOW_DEMO=1 $(BIN)/sagsflow demo
	SAGSFLOW_DEMO=1 $(BIN)/sagsflow serve --host $(HOST) --port $(PORT)

## Run the whole suite (PostgreSQL too when TEST_DATABASE_URL is set)
test: install $(AXE)
	$(BIN)/pytest

## The suite on SQLite and on the local PostgreSQL server
test-pg: install $(AXE)
	TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest

## Benchmarks on SQLite and PostgreSQL (see bench/README.md)
bench: install
	$(BIN)/python -m bench --pg-url $(PG_URL)
	$(BIN)/python -m bench.sel50
	$(BIN)/python -m bench.sel85
	$(BIN)/python -m bench.pages --pg-url $(PG_URL)
	$(BIN)/python -m bench.designer

lint: install
	$(BIN)/ruff check engine api tests bench

clean:
	rm -rf $(VENV) instance .pytest_cache
