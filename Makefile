# tasklease developer entry points. Logic lives in scripts/; run `make` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help deps test lint db-up db-down migrate demo bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install PostgreSQL + pg_cron + pgTAP (apt) and the .venv (idempotent)
	@scripts/bootstrap.sh

test: ## lint, then pgTAP + pytest against a throwaway cluster (what CI runs)
	@scripts/test.sh

lint: deps ## sqlfluff, ruff, hadolint, compose check, shellcheck (if installed)
	@scripts/lint.sh

db-up: ## start the persistent dev cluster in .pgdata/ and migrate it
	@scripts/devdb.sh up

db-down: ## stop the dev cluster (data kept)
	@scripts/devdb.sh down

migrate: ## tasklease migrate against TASKLEASE_DSN if set, else the db-up cluster
	@scripts/devdb.sh migrate

demo: ## run the demo (scripts/demo.sh)
	@scripts/run-if-present.sh demo scripts/demo.sh bash scripts/demo.sh

bench: ## run the benchmark (bench/run.py)
	@scripts/run-if-present.sh bench bench/run.py .venv/bin/python bench/run.py

clean: ## remove caches and build output (keeps .venv and .pgdata)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist python/*.egg-info
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean ## also stop and delete the dev cluster, and remove .venv
	@scripts/devdb.sh destroy
	rm -rf .venv
