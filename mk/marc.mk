# MARC codec benchmark (pkg/marc/internal/mkbench). Included by the Makefile.
MARCBENCH_SIZE ?= 100
MARCBENCH_RUNS ?= 3

.PHONY: bench-marc
bench-marc: ## MARC codecs on ~100 MB of the shared records, beside yaz-marcdump (MARCBENCH_SIZE, MARCBENCH_RUNS)
	$(GO) run ./pkg/marc/internal/mkbench -size $(MARCBENCH_SIZE) -runs $(MARCBENCH_RUNS)
