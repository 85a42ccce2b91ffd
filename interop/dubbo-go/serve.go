package main

// `serve`: EchoService on 127.0.0.1, through dubbo-go's high-level server (hl) or its low-level
// triple_protocol server (raw).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/global"
	"dubbo.apache.org/dubbo-go/v3/protocol"
	tp "dubbo.apache.org/dubbo-go/v3/protocol/triple/triple_protocol"
	"dubbo.apache.org/dubbo-go/v3/server"

	testv1 "trident.dev/interop/dubbogo/gen/testv1"
)

// The group/version variant both modes serve next to the default implementation.
const (
	variantGroup   = "g1"
	variantVersion = "1.0.0"
	variantPrefix  = variantGroup + "/" + variantVersion + ":"
)

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "hl", "hl (server.NewServer + stub registration) or raw (triple_protocol server)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var (
		port int
		err  error
	)
	switch *mode {
	case "hl":
		port, err = serveHL()
	case "raw":
		port, err = serveRaw()
	default:
		err = fmt.Errorf("unknown mode %q (want hl or raw)", *mode)
	}
	if err != nil {
		logf("serve: %v", err)
		return 1
	}
	emit("LISTENING " + strconv.Itoa(port))
	select {} // until killed
}

// freePort asks the OS for a free loopback port. Both dubbo-go servers listen on an address they
// are given (http.Server.ListenAndServe), so the port is picked here and released just before.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// awaitListening waits until addr accepts connections, or failed reports an error, or 15 s pass.
func awaitListening(addr string, failed <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-failed:
			return err
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening within 15 s", addr)
}

// ---------------------------------------------------------------------------------------------------
// hl: dubbo-go's server package with the hand-written stub registration.

// EchoImpl is the default implementation behind the stub. dubbo-go names a registration after the
// handler's (exported) Go type, hence a second type for the variant.
type EchoImpl struct {
	core *echoCore
}

// G1EchoImpl is the group g1, version 1.0.0 implementation.
type G1EchoImpl struct {
	EchoImpl
}

// attachmentHeader is the request metadata dubbo-go's stub server hands every handler as
// attachments (lower-cased header names, []string values).
func attachmentHeader(ctx context.Context) http.Header {
	h := http.Header{}
	if raw, ok := ctx.Value(constant.AttachmentKey).(map[string]any); ok {
		for k, v := range raw {
			switch v := v.(type) {
			case []string:
				for _, s := range v {
					h.Add(k, s)
				}
			case string:
				h.Add(k, v)
			}
		}
	}
	return h
}

func (h *EchoImpl) unary(ctx context.Context, req *testv1.EchoRequest, stats bool) (*testv1.EchoResponse, error) {
	header, ok := tp.FromIncomingContext(ctx)
	if !ok {
		header = attachmentHeader(ctx)
	}
	respHeader, respTrailer := http.Header{}, http.Header{}
	resp, err := h.core.unary(ctx, req, header, respHeader, respTrailer, stats)
	if err != nil {
		return nil, err
	}
	if len(respHeader) > 0 {
		if err := tp.SetHeader(ctx, respHeader); err != nil {
			logf("hl: cannot set response headers: %v", err)
		}
	}
	if len(respTrailer) > 0 {
		if err := tp.SetTrailer(ctx, respTrailer); err != nil {
			logf("hl: cannot set response trailers: %v", err)
		}
	}
	return resp, nil
}

func (h *EchoImpl) Echo(ctx context.Context, req *testv1.EchoRequest) (*testv1.EchoResponse, error) {
	return h.unary(ctx, req, false)
}

func (h *EchoImpl) EchoPost(ctx context.Context, req *testv1.EchoRequest) (*testv1.EchoResponse, error) {
	return h.unary(ctx, req, true)
}

func (h *EchoImpl) Wait(ctx context.Context, _ *testv1.EchoRequest) (*testv1.EchoResponse, error) {
	return nil, h.core.wait(ctx)
}

func (h *EchoImpl) Repeat(ctx context.Context, req *testv1.EchoRequest, stream testv1.EchoService_RepeatServer) error {
	return h.core.repeat(ctx, req, attachmentHeader(ctx), stream.ResponseHeader(), stream.ResponseTrailer(), stream.Send)
}

func (h *EchoImpl) WaitStream(ctx context.Context, req *testv1.EchoRequest, stream testv1.EchoService_WaitStreamServer) error {
	return h.core.waitStream(ctx, req, attachmentHeader(ctx), stream.Send)
}

func (h *EchoImpl) Collect(ctx context.Context, stream testv1.EchoService_CollectServer) (*testv1.EchoResponse, error) {
	recv := func() (*testv1.EchoRequest, bool, error) {
		if stream.Recv() {
			return stream.Msg(), true, nil
		}
		return nil, false, stream.Err()
	}
	resp, _, err := h.core.collect(ctx, stream.RequestHeader(), recv)
	return resp, err
}

func (h *EchoImpl) Chat(ctx context.Context, stream testv1.EchoService_ChatServer) error {
	return h.core.chat(ctx, stream.RequestHeader(), chatRecv(stream.Recv), stream.Send)
}

// chatRecv adapts a Receive that returns io.EOF at the end of the request stream.
func chatRecv(recv func() (*testv1.EchoRequest, error)) func() (*testv1.EchoRequest, bool, error) {
	return func() (*testv1.EchoRequest, bool, error) {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return msg, true, nil
	}
}

func serveHL() (int, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	srv, err := server.NewServer(
		server.WithServerProtocol(
			protocol.WithTriple(),
			protocol.WithIp("127.0.0.1"),
			protocol.WithPort(port),
		),
		server.SetServerShutdown(shutdownConfig()),
	)
	if err != nil {
		return 0, err
	}
	if err := testv1.RegisterEchoServiceHandler(srv, &EchoImpl{core: &echoCore{hl: true}}); err != nil {
		return 0, err
	}
	variant := &G1EchoImpl{EchoImpl{core: &echoCore{prefix: variantPrefix, hl: true}}}
	if err := testv1.RegisterEchoServiceHandler(srv, variant,
		server.WithGroup(variantGroup), server.WithVersion(variantVersion)); err != nil {
		return 0, err
	}
	failed := make(chan error, 1)
	go func() {
		err := srv.Serve()
		if err == nil {
			err = errors.New("server stopped")
		}
		failed <- err
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return port, awaitListening(addr, failed)
}

// shutdownConfig keeps dubbo-go from installing its own signal handler (which would turn SIGTERM
// into a graceful shutdown of up to a minute): a signal ends the process at once.
func shutdownConfig() *global.ShutdownConfig {
	cfg := global.DefaultShutdownConfig()
	internalSignal := false
	cfg.InternalSignal = &internalSignal
	return cfg
}

// ---------------------------------------------------------------------------------------------------
// raw: the triple_protocol server, whose handlers return errors (codes, details, metadata) as they are.

func registerRaw(s *tp.Server, core *echoCore, group, version string) error {
	opts := []tp.HandlerOption{tp.WithGroup(group), tp.WithVersion(version)}
	newReq := func() any { return new(testv1.EchoRequest) }
	unary := func(stats bool) func(context.Context, *tp.Request) (*tp.Response, error) {
		return func(ctx context.Context, req *tp.Request) (*tp.Response, error) {
			respHeader, respTrailer := http.Header{}, http.Header{}
			msg, err := core.unary(ctx, req.Msg.(*testv1.EchoRequest), req.Header(), respHeader, respTrailer, stats)
			if err != nil {
				return nil, err
			}
			resp := tp.NewResponse(msg)
			for k, v := range respHeader {
				resp.Header()[k] = v
			}
			for k, v := range respTrailer {
				resp.Trailer()[k] = v
			}
			return resp, nil
		}
	}
	serverStream := func(ctx context.Context, req *tp.Request, stream *tp.ServerStream) error {
		return core.repeat(ctx, req.Msg.(*testv1.EchoRequest), req.Header(),
			stream.ResponseHeader(), stream.ResponseTrailer(), func(m *testv1.EchoResponse) error { return stream.Send(m) })
	}
	waitStream := func(ctx context.Context, req *tp.Request, stream *tp.ServerStream) error {
		return core.waitStream(ctx, req.Msg.(*testv1.EchoRequest), req.Header(),
			func(m *testv1.EchoResponse) error { return stream.Send(m) })
	}
	collect := func(ctx context.Context, stream *tp.ClientStream) (*tp.Response, error) {
		recv := func() (*testv1.EchoRequest, bool, error) {
			msg := new(testv1.EchoRequest)
			if stream.Receive(msg) {
				return msg, true, nil
			}
			return nil, false, stream.Err()
		}
		msg, first, err := core.collect(ctx, stream.RequestHeader(), recv)
		if err != nil {
			return nil, err
		}
		resp := tp.NewResponse(msg)
		decorate(first, resp.Header(), resp.Trailer())
		return resp, nil
	}
	chat := func(ctx context.Context, stream *tp.BidiStream) error {
		recv := func() (*testv1.EchoRequest, error) {
			msg := new(testv1.EchoRequest)
			if err := stream.Receive(msg); err != nil {
				return nil, err
			}
			return msg, nil
		}
		return core.chat(ctx, stream.RequestHeader(), chatRecv(recv), func(m *testv1.EchoResponse) error { return stream.Send(m) })
	}
	wait := func(ctx context.Context, _ *tp.Request) (*tp.Response, error) {
		return nil, core.wait(ctx)
	}
	return errors.Join(
		s.RegisterUnaryHandler(testv1.EchoServiceEchoProcedure, newReq, unary(false), opts...),
		s.RegisterUnaryHandler(testv1.EchoServiceEchoPostProcedure, newReq, unary(true), opts...),
		s.RegisterServerStreamHandler(testv1.EchoServiceRepeatProcedure, newReq, serverStream, opts...),
		s.RegisterClientStreamHandler(testv1.EchoServiceCollectProcedure, collect, opts...),
		s.RegisterBidiStreamHandler(testv1.EchoServiceChatProcedure, chat, opts...),
		s.RegisterUnaryHandler(testv1.EchoServiceWaitProcedure, newReq, wait, opts...),
		s.RegisterServerStreamHandler(testv1.EchoServiceWaitStreamProcedure, newReq, waitStream, opts...),
	)
}

func serveRaw() (int, error) {
	var lastErr error
	// The port is free when picked but may be taken before the server binds it: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s := tp.NewServer(addr, nil)
		if err := registerRaw(s, &echoCore{}, "", ""); err != nil {
			return 0, err
		}
		if err := registerRaw(s, &echoCore{prefix: variantPrefix}, variantGroup, variantVersion); err != nil {
			return 0, err
		}
		failed := make(chan error, 1)
		go func() {
			err := s.Run(constant.CallHTTP2, nil)
			if err == nil {
				err = errors.New("server stopped")
			}
			failed <- err
		}()
		if lastErr = awaitListening(addr, failed); lastErr == nil {
			return port, nil
		}
		logf("serve raw: %s: %v", addr, lastErr)
	}
	return 0, lastErr
}
