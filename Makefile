# Bindery — run `make` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

BIN := bin/bindery
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 30s

.PHONY: help services build demo test test-race bench lint fuzz clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

services: ## Start PostgreSQL and Redis if they are not already answering
	@scripts/services.sh

build: ## Build bin/bindery
	$(GO) build -o $(BIN) ./cmd/bindery

demo: services build ## Import testdata/marc (Metadata Import), run Loan Anonymization on demo loans (LOANS=100000), show reports
	@scripts/demo.sh

test: services ## Run every test (real PostgreSQL and Redis, each test on its own database)
	$(GO) test -count=1 -timeout 20m ./...

test-race: services ## Run the tests with the race detector
	$(GO) test -race -count=1 -timeout 30m ./...

bench: services build ## Print throughput figures beside their references and limits
	@scripts/bench.sh

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz: ## Run every fuzz target for FUZZTIME each (default 30s)
	@scripts/fuzz.sh $(FUZZTIME)

clean: ## Remove build output
	rm -rf bin

-include $(wildcard mk/*.mk)
