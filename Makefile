# The newcomer's path: `make demo` (run the main job locally), `make test` (run the tests).
SHELL := /bin/bash
VENV := .local/venv/bin
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools build up down status demo test fuzz chaos cost contract lint fmt clippy cfn-lint sam-validate bench sam-build watch sandbox zones

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

tools: ## install the pinned tools (moto, cargo-lambda, SAM CLI, cfn-lint) into .local/venv
	@infra/install-tools.sh

build: ## build the local stack and the functions (debug)
	cargo build --workspace --bins

up: tools build ## start the local stack in the background; endpoints in .local/endpoints.json
	@infra/stack.sh up

down: ## stop the local stack
	@infra/stack.sh down

status: ## is the local stack running?
	@infra/stack.sh status

demo: up ## start the stack, push signed webhooks through, then the estimate follow-up story on virtual time
	@$${CARGO_TARGET_DIR:-target}/debug/local-stack demo

test: tools ## run every test (unit, local-stack integration against moto)
	@if command -v cargo-nextest >/dev/null; then cargo nextest run --workspace --no-fail-fast; \
	else cargo test --workspace --no-fail-fast; fi

fuzz: ## the long fuzz run: 1.2 million inputs into each of the nine targets (make test runs 2,000 each)
	FUZZ_CASES=$${FUZZ_CASES:-1200000} cargo test -p integration-tests --test fuzz -- --nocapture --test-threads 2 \
		2>&1 | grep -E '^fuzz |^test |test result'

chaos: tools ## the fault matrix: the demo story under each fault, CHAOS_ROUNDS rounds each (default 3; make test runs 1)
	set -o pipefail; CHAOS_ROUNDS=$${CHAOS_ROUNDS:-3} cargo test -p integration-tests --test chaos -- --nocapture \
		--test-threads 2 2>&1 | grep -E '^chaos |^test |test result|broke|^  '

cost: tools ## run each unit of work through the local stack, count its AWS calls and rewrite docs/cost.md's table
	COST_WRITE=1 cargo test -p integration-tests --test cost -- --nocapture

contract: up ## contract fuzzing: schemathesis over every operation of docs/api.yaml, against the local stack
	@infra/contract-fuzz/run.sh

fmt: ## check formatting
	cargo fmt --all --check

clippy: ## lint Rust with warnings denied
	cargo clippy --workspace --all-targets -- -D warnings

cfn-lint: tools ## lint the template
	$(VENV)/cfn-lint template.yaml

sam-validate: tools ## validate the template with SAM's linter
	$(VENV)/sam validate --lint

lint: fmt clippy cfn-lint sam-validate ## every static check CI runs

bench: tools ## print the intake hot-path, bootstrap-size and cold-start figures
	infra/bench.sh

sam-build: tools ## build every function for arm64 through cargo-lambda (no Docker)
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/sam build

sandbox: ## run the ServiceTitan sandbox alone on port 8089 with the demo tenant
	cargo run -p servicetitan-sandbox -- --port 8089 --seed demo

watch: tools ## serve the functions with `cargo lambda watch` against the running local stack
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/cargo-lambda lambda watch -A 127.0.0.1 -P 9000 --env-file .local/lambda.env

zones: ## regenerate the ZIP and area-code time zone data from its pinned public datasets (infra/zones)
	python3 infra/zones/generate.py
