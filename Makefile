# nnrunner build, test and demo targets.
GO      ?= go
BIN     ?= bin/runner
# Use OpenBLAS (cgo) for the network's GEMM when the library is installed.
OPENBLAS := $(shell test -e /usr/include/x86_64-linux-gnu/cblas.h -o -e /usr/include/cblas.h -o -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h && echo 1)
TAGS    ?= $(if $(OPENBLAS),openblas,)
DEMO    ?= workflows/quickstart.yaml

.PHONY: build test test-openblas demo docs bench vet clean

# The binary is rebuilt only when a source file changed, so a second
# `make demo` costs no more than the no-op apply itself.
SOURCES := go.mod go.sum $(shell find . -path ./.git -prune -o -path ./.runner -prune -o \( -name '*.go' -o -name '*.s' \) -print)

build: $(BIN)

$(BIN): $(SOURCES)
	$(GO) build -tags '$(TAGS)' -o $(BIN) ./runner

# The test command (README, .ci/run): the pure-Go build, then the OpenBLAS
# build of the packages that use BLAS when OpenBLAS is installed.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
ifneq ($(OPENBLAS),)
	$(GO) test -count=1 -tags openblas ./stages/nn/...
endif

demo: $(BIN)
	$(BIN) apply $(DEMO)

# Regenerates README.md's workflow file reference from the stage types and
# the schema; TestREADMEReference fails while it is stale.
docs:
	$(GO) test -count=1 -run '^TestREADMEReference$$' ./runner -args -update

bench:
	$(GO) test -run '^$$' -bench . -benchmem -tags '$(TAGS)' ./...

clean:
	rm -rf bin
