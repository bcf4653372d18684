//go:build tools

// Package gen pins buf, the schema tool `make generate` runs. The protoc
// plugins are built from the root module instead, so the generated code always
// matches the protobuf and connect runtime versions the binary links.
package gen

import _ "github.com/bufbuild/buf/cmd/buf"
