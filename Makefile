# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test serve status clean bench reliability vocab digest-png help

help:
	@echo "make run    create .venv, install, load PubMed (or the bundled snapshot) into db/evidence.db"
	@echo "make test   run the test suite"
	@echo "make serve  browse db/evidence.db in Datasette"
	@echo "make status the runs ledger and counts"
	@echo "make bench  time \`evidence import\` end to end (N=20000; make bench N=5000; SERVE=1 adds serving 100,000 studies) -> docs/performance.md"
	@echo "make reliability  run the fault, crash and hostile-input tests; write docs/reliability.md"
	@echo "make vocab  regenerate the README's extraction table and db/metadata.yml's vocabulary texts from pipeline/vocab.py"
	@echo "make digest-png  render db/digest.html to db/digest.png (headless chromium)"
	@echo "make clean  remove the virtualenv, database and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/evidence run --source auto

test: $(STAMP)
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/evidence serve

status: $(STAMP)
	$(BIN)/evidence status

# The digest as a picture (needs Debian's chromium: apt-get install chromium).
digest-png: db/digest.html
	scripts/screenshot.sh db/digest.html db/digest.png 1100 4000

db/digest.html:
	$(MAKE) run

bench: $(STAMP)
	$(BIN)/python bench/bench_import.py $(if $(N),--records $(N))
	$(if $(SERVE),$(BIN)/python bench/bench_serve.py --write-doc)

reliability: $(STAMP)
	$(BIN)/python scripts/reliability_report.py

vocab: $(STAMP)
	$(BIN)/python scripts/vocabularies.py

clean:
	rm -rf $(VENV) db/evidence.db db/evidence.db-wal db/evidence.db-shm db/evidence.db.lock *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
