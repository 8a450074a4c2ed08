# The two commands at the top of README.md are `make demo` and `make test`.

CARGO ?= cargo
RELEASE := target/release
LMSCTL := $(RELEASE)/lmsctl
SCALE ?= seed
WORKERS ?= 2

.PHONY: demo test services tools build lint fmt clean bench-migrate bench-verify bench-grpc cutover-rehearsal

## demo: start (or install) PostgreSQL and Redis, create the databases, seed the
## legacy EDU stand-in at production scale, apply the LMS schema, migrate it
## with two worker processes and print the coverage report.
demo: services build
	./scripts/demo.sh

## test: every test, against the real local PostgreSQL and Redis.
test: services tools lint
	GRPCURL=$(CURDIR)/target/tools/python/bin/grpcurl $(CARGO) test --workspace --all-targets --locked

## bench-migrate: a full migration with worker processes, timed against a
## COPY floor measured in the same run (SCALE=seed|small|N, WORKERS=2,
## CONCURRENCY=1 chunk per worker).
bench-migrate: services
	SCALE=$(SCALE) WORKERS=$(WORKERS) CONCURRENCY=$(or $(CONCURRENCY),1) ./scripts/bench-migrate.sh

## bench-verify: `lmsctl migrate verify` over a migrated seed-scale LMS, timed
## against the same COPY floor (SCALE=seed|small|N, RUNS=1).
bench-verify: services
	SCALE=$(SCALE) RUNS=$(or $(RUNS),1) ./scripts/bench-verify.sh

## bench-grpc: lms-loadgen (GetStudent, ListEnrollments by student) against
## lms-server on seed-scale migrated data, beside a health-check baseline
## (CONCURRENCY=32, CONNECTIONS=1, DURATION=10s).
bench-grpc: services
	CONCURRENCY=$(or $(CONCURRENCY),32) CONNECTIONS=$(or $(CONNECTIONS),1) DURATION=$(or $(DURATION),10s) ./scripts/bench-grpc.sh

## cutover-rehearsal: the cutover-night runbook on a database pair of its own
## (lms_rehearsal_*): first load, a delta, a mass change held, approve,
## verify, undo, the re-run (SCALE=seed|small). README's "Cutover night".
cutover-rehearsal: services build
	SCALE=$(SCALE) ./scripts/cutover-rehearsal.sh

## services: make sure PostgreSQL and Redis answer on 127.0.0.1.
services:
	./scripts/ensure-services.sh

## tools: the command-line tools tests drive (grpcurl), into target/tools.
tools:
	./scripts/install-tools.sh

build:
	$(CARGO) build --release --locked --bins

## lint: formatting and clippy, as CI expects them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
