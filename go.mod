module github.com/liveplane/liveplane

go 1.26.8

require (
	connectrpc.com/connect v1.21.1
	github.com/google/uuid v1.6.0
	google.golang.org/protobuf v1.36.12
)
