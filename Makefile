# The README's commands are the entry points; these targets are conveniences.
BIN := $(CURDIR)/.cache/bin
export PATH := $(BIN):$(PATH)

.PHONY: generate test build serve

# Regenerates internal/gen from proto/ exactly (CI checks the diff is empty).
generate:
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go connectrpc.com/connect/cmd/protoc-gen-connect-go
	cd tools/gen && GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf
	$(BIN)/buf lint
	$(BIN)/buf generate

build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/liveplane ./cmd/liveplane

test:
	./scripts/test

serve:
	go run ./cmd/liveplane serve
