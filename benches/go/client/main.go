// The connect-go client under load, for the benchmark driver's client rows: the same command line and
// output as the Rust clients' `client-load` (see benches/src/bin/client-load.rs), so the driver runs
// all four the same way. Calls go over gRPC on h2c (prior knowledge), GOMAXPROCS 1: the client has one
// core. Each connection is its own http.Transport, which Go's HTTP/2 client keeps to one connection
// while the server's stream limit allows.
//
// Usage: connect-go-client --addr HOST:PORT [--connections C] [--inflight N] [--scenario unary|stream]
// [--size BYTES] [--warmup S] [--seconds S] [--runs R] [--server-pid PID]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	benchv1 "trident-benches/go/gen/benchv1"
	"trident-benches/go/gen/benchv1/benchv1connect"
)

const streamCount = 1000

type record struct {
	mu        sync.Mutex
	latencies []uint32
	messages  atomic.Uint64
}

func (r *record) call(started time.Time) {
	micros := time.Since(started).Microseconds()
	r.mu.Lock()
	r.latencies = append(r.latencies, uint32(micros))
	r.mu.Unlock()
}

// cpuMicros is utime+stime of a process (USER_HZ 100) from /proc/PID/stat.
func cpuMicros(pid string) uint64 {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	text := string(stat)
	rest := text[strings.LastIndexByte(text, ')')+1:]
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseUint(fields[11], 10, 64)
	stime, _ := strconv.ParseUint(fields[12], 10, 64)
	return (utime + stime) * 10_000
}

func percentile(sorted []uint32, p float64) uint32 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func payload(size int) []byte {
	out := make([]byte, size)
	for i := range out {
		out[i] = byte('a' + i%26)
	}
	return out
}

func newClient(addr string) benchv1connect.EchoServiceClient {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Protocols: protocols}
	return benchv1connect.NewEchoServiceClient(
		&http.Client{Transport: transport},
		"http://"+addr,
		connect.WithGRPC(),
	)
}

func callLoop(ctx context.Context, client benchv1connect.EchoServiceClient, scenario string, size int, rec *record) error {
	body := payload(size)
	for ctx.Err() == nil {
		started := time.Now()
		switch scenario {
		case "unary":
			resp, err := client.Echo(ctx, connect.NewRequest(&benchv1.EchoRequest{Payload: body}))
			if err != nil {
				return err
			}
			if len(resp.Msg.Payload) != size {
				return fmt.Errorf("echoed %d bytes of %d", len(resp.Msg.Payload), size)
			}
		case "stream":
			stream, err := client.Stream(ctx, connect.NewRequest(&benchv1.StreamRequest{Count: streamCount, Size: uint32(size)}))
			if err != nil {
				return err
			}
			received := 0
			for stream.Receive() {
				if len(stream.Msg().Payload) != size {
					return fmt.Errorf("a message of %d bytes, expected %d", len(stream.Msg().Payload), size)
				}
				received++
				rec.messages.Add(1)
			}
			if err := stream.Err(); err != nil {
				return err
			}
			if received != streamCount {
				return fmt.Errorf("received %d of %d messages", received, streamCount)
			}
		}
		rec.call(started)
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50551", "server address")
	connections := flag.Int("connections", 1, "HTTP/2 connections")
	inflight := flag.Int("inflight", 16, "calls in flight")
	scenario := flag.String("scenario", "unary", "unary or stream")
	size := flag.Int("size", 64, "payload bytes")
	warmup := flag.Float64("warmup", 2, "warm-up seconds")
	seconds := flag.Float64("seconds", 5, "seconds per measured window")
	runs := flag.Int("runs", 1, "measured windows")
	serverPid := flag.String("server-pid", "", "the server's process id, for its CPU time")
	flag.Parse()
	if *scenario != "unary" && *scenario != "stream" {
		fmt.Fprintln(os.Stderr, "connect-go-client: unknown scenario", *scenario)
		os.Exit(2)
	}
	if *connections < 1 || *inflight < *connections {
		fmt.Fprintln(os.Stderr, "connect-go-client: need at least one connection and one call in flight per connection")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)

	clients := make([]benchv1connect.EchoServiceClient, *connections)
	for i := range clients {
		clients[i] = newClient(*addr)
	}
	rec := &record{}
	failed := make(chan error, *inflight)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < *inflight; i++ {
		client := clients[i%*connections]
		go func() {
			if err := callLoop(ctx, client, *scenario, *size, rec); err != nil && ctx.Err() == nil {
				failed <- err
			}
		}()
	}
	wait := func(s float64) {
		select {
		case <-time.After(time.Duration(s * float64(time.Second))):
		case err := <-failed:
			fmt.Fprintln(os.Stderr, "connect-go-client:", err)
			os.Exit(1)
		}
	}
	wait(*warmup)
	for range *runs {
		rec.mu.Lock()
		rec.latencies = rec.latencies[:0]
		rec.mu.Unlock()
		messages := rec.messages.Load()
		clientCPU := cpuMicros("self")
		var serverCPU uint64
		if *serverPid != "" {
			serverCPU = cpuMicros(*serverPid)
		}
		started := time.Now()
		wait(*seconds)
		rec.mu.Lock()
		latencies := rec.latencies
		rec.latencies = make([]uint32, 0, len(latencies))
		rec.mu.Unlock()
		elapsed := time.Since(started).Seconds()
		clientCPU = cpuMicros("self") - clientCPU
		if *serverPid != "" {
			serverCPU = cpuMicros(*serverPid) - serverCPU
		}
		messages = rec.messages.Load() - messages
		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		fmt.Printf("calls=%d seconds=%.4f messages=%d p50_us=%d p99_us=%d client_cpu_us=%d server_cpu_us=%d\n",
			len(latencies), elapsed, messages, percentile(latencies, 50), percentile(latencies, 99), clientCPU, serverCPU)
	}
	os.Exit(0)
}
