# The README's commands are the entry points; these targets are conveniences.
BIN := $(CURDIR)/.cache/bin
export PATH := $(BIN):$(PATH)

.PHONY: generate test build serve

# Regenerates internal/gen from proto/ exactly (CI checks the diff is empty).
generate:
	./scripts/generate

build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/liveplane ./cmd/liveplane

test:
	./scripts/test

serve:
	go run ./cmd/liveplane serve
