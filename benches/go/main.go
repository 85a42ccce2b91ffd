// The echo service on connect-go (Connect, gRPC and gRPC-Web over HTTP/1.1 and h2c), with the benchmark
// suite's settings: GOMAXPROCS from BENCH_WORKERS (1 by default), the same HTTP/2 windows and
// max-streams as the Rust peers, no compression asked for, TCP_NODELAY (Go's default). Compressed
// requests are answered compressed (connect-go's gzip, built in).
//
// BENCH_DEFAULTS=1 in the environment leaves net/http's HTTP/2 settings (windows, frame size,
// max-streams) at their defaults: the "library defaults" rows. The message limits stay.
//
// Usage: connect-go-echo [ADDR]
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"

	"connectrpc.com/connect"

	benchv1 "trident-benches/go/gen/benchv1"
	"trident-benches/go/gen/benchv1/benchv1connect"
)

const (
	streamWindow         = 1 << 20
	connectionWindow     = 1 << 20
	maxConcurrentStreams = 200
	maxFrameSize         = 16 << 10
	maxMessage           = 8 << 20
)

type echo struct{}

func payload(size int) []byte {
	out := make([]byte, size)
	for i := range out {
		out[i] = byte('a' + i%26)
	}
	return out
}

func (echo) Echo(_ context.Context, req *connect.Request[benchv1.EchoRequest]) (*connect.Response[benchv1.EchoResponse], error) {
	return connect.NewResponse(&benchv1.EchoResponse{Payload: req.Msg.Payload}), nil
}

func (echo) Stream(ctx context.Context, req *connect.Request[benchv1.StreamRequest], stream *connect.ServerStream[benchv1.EchoResponse]) error {
	msg := &benchv1.EchoResponse{Payload: payload(int(req.Msg.Size))}
	for range req.Msg.Count {
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	if req.Msg.Hold {
		<-ctx.Done()
	}
	return nil
}

func (echo) Bidi(_ context.Context, stream *connect.BidiStream[benchv1.EchoRequest, benchv1.EchoResponse]) error {
	for {
		req, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&benchv1.EchoResponse{Payload: req.Payload}); err != nil {
			return err
		}
	}
}

func main() {
	addr := "127.0.0.1:50051"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	workers := 1
	if n, err := strconv.Atoi(os.Getenv("BENCH_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	runtime.GOMAXPROCS(workers)

	mux := http.NewServeMux()
	mux.Handle(benchv1connect.NewEchoServiceHandler(echo{},
		connect.WithReadMaxBytes(maxMessage),
		connect.WithSendMaxBytes(maxMessage),
	))
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	server := &http.Server{
		Addr:      addr,
		Handler:   mux,
		Protocols: protocols,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          maxConcurrentStreams,
			MaxReceiveBufferPerConnection: connectionWindow,
			MaxReceiveBufferPerStream:     streamWindow,
			MaxReadFrameSize:              maxFrameSize,
		},
	}
	if os.Getenv("BENCH_DEFAULTS") == "1" {
		server.HTTP2 = nil
	}
	log.Fatal(server.ListenAndServe())
}
