#!/usr/bin/env bash
# Regenerates gen/testv1/test.pb.go from tests/proto/trident/test/v1/test.proto with buf and
# protoc-gen-go. The Triple stubs (gen/testv1/test.triple.go) are written by hand: update them
# when the service changes.
#
# Needs buf on PATH (scripts/go-tools-test installs it) and installs protoc-gen-go at the version of
# google.golang.org/protobuf this module builds with, so the generated code matches the runtime.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
gobin="$(go env GOPATH)/bin"
version="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)"
GOBIN="$gobin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
PATH="$gobin:$PATH" buf generate ../../tests/proto --template buf.gen.yaml \
  --path ../../tests/proto/trident/test/v1/test.proto
gofmt -l gen
