# Everything runs from the repo on a plain Debian 12 box: `make test` installs what is
# missing (deploy/local/bootstrap.sh), starts its own services and runs the tests.
SHELL := /bin/bash
IOC := .venv/bin/ioc
# Extra arguments: make test ARGS='-k mosquitto -x', make demo ARGS='--devices 50'
ARGS ?=

.PHONY: demo test up down status lint dashboards bench bench-ingest bench-alerts bench-security bench-rollups bench-timescale bench-dashboards bootstrap fuzz soak chaos

bootstrap:
	@deploy/local/bootstrap.sh

demo: bootstrap
	@deploy/local/demo.sh $(ARGS)

test: bootstrap
	@deploy/local/test.sh $(ARGS)

# The faults of tests/integration/chaos (also part of `make test`): make chaos ARGS='-k postgres'
chaos: bootstrap
	@deploy/local/test.sh tests/integration/chaos $(ARGS)

up: bootstrap
	@$(IOC) stack up
	@$(IOC) stack info

down:
	@$(IOC) stack down

status:
	@$(IOC) stack status

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# Regenerate dashboards/json from dashboards/*.py (commit the result; the unit tests
# and `ioc dashboards check` fail while they disagree).
dashboards: bootstrap
	@$(IOC) dashboards build

# Pictures of the dashboards drawn from their JSON and the running stack's data (Grafana
# cannot be installed here): docs/img/dashboard-<uid>.png. ARGS='--uid ioc-wall --dsn …'
.PHONY: dashboards-preview
dashboards-preview: bootstrap
	.venv/bin/python -m tools.dashboard_preview $(ARGS)

# The benchmarks use the running stack (`make up`); run them on a quiet machine. Ingest,
# alerts and rollups measure TimescaleDB and plain PostgreSQL side by side (one database
# per engine in the stack's cluster, bench/engines.py).
bench: bench-ingest bench-alerts bench-security bench-rollups bench-timescale bench-dashboards

bench-ingest: bootstrap
	.venv/bin/python bench/ingest.py $(ARGS)

bench-alerts: bootstrap
	.venv/bin/python bench/alerts.py $(ARGS)

bench-security: bootstrap
	.venv/bin/python bench/security.py $(ARGS)

bench-rollups: bootstrap
	.venv/bin/python bench/rollups.py $(ARGS)

bench-timescale: bootstrap
	.venv/bin/python bench/timescale_write.py $(ARGS)

bench-dashboards: bootstrap
	.venv/bin/python bench/dashboard_queries.py $(ARGS)

# >= 100,000 fuzzed payloads through a real worker on a test stack of its own (make test
# runs 3,000 of them). make fuzz ARGS='-x', FUZZ_SEED=7 make fuzz.
fuzz: bootstrap
	@FUZZ_PAYLOADS=$${FUZZ_PAYLOADS:-100000} deploy/local/test.sh tests/fuzz -s $(ARGS)

# Memory of every process under the simulators on the running stack; not in CI.
# make soak ARGS='--minutes 5'
soak: up
	.venv/bin/python bench/soak.py $(ARGS)
