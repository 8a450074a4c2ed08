# The two commands at the top of README.md are `make demo` and `make test`.

CARGO ?= cargo
RELEASE := target/release
LMSCTL := $(RELEASE)/lmsctl

.PHONY: demo test services build lint fmt clean

## demo: start (or install) PostgreSQL and Redis, create the databases, seed the
## legacy EDU stand-in at production scale and apply the LMS schema.
demo: services build
	$(LMSCTL) db up
	$(LMSCTL) legacy seed --scale seed --force

## test: every test, against the real local PostgreSQL and Redis.
test: services lint
	$(CARGO) test --workspace --all-targets --locked

## services: make sure PostgreSQL and Redis answer on 127.0.0.1.
services:
	./scripts/ensure-services.sh

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
