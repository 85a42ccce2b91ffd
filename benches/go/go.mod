// The connect-go peer of the benchmark suite. Its code under gen/ is generated at bench time from
// ../proto by protoc-gen-go and protoc-gen-connect-go (the tools below), driven by `benches/run`.
module trident-benches/go

go 1.24.0

require (
	connectrpc.com/connect v1.19.1
	google.golang.org/protobuf v1.36.10
)

tool (
	connectrpc.com/connect/cmd/protoc-gen-connect-go
	google.golang.org/protobuf/cmd/protoc-gen-go
)
