package main

// `call`: every scenario against a server speaking EchoService with Trident's test semantics, through
// dubbo-go's high-level client (hl: gRPC on the wire, even for unary) or its low-level
// triple_protocol client (triple: Triple unary, gRPC streams).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"dubbo.apache.org/dubbo-go/v3/client"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/graceful_shutdown"
	tp "dubbo.apache.org/dubbo-go/v3/protocol/triple/triple_protocol"
	"golang.org/x/net/http2"

	testv1 "trident.dev/interop/dubbogo/gen/testv1"
)

// defaultScenarios run with `--scenario all` (the default), in this order.
var defaultScenarios = []string{
	"unary", "metadata", "server_stream", "client_stream", "bidi", "error", "deadline", "group",
}

// extraScenarios run only when named.
var extraScenarios = []string{"business"}

// scenarioTimeout bounds every scenario, so that a hung call fails instead of blocking the run.
const scenarioTimeout = 10 * time.Second

// chatStream is one Chat call, client side.
type chatStream interface {
	Send(*testv1.EchoRequest) error
	Recv() (*testv1.EchoResponse, error)
	CloseRequest() error
	CloseResponse() error
}

// target is one way of calling EchoService.
type target interface {
	// unary calls a unary method with request headers; returns the response headers and trailers.
	unary(ctx context.Context, method, group, version string, req *testv1.EchoRequest, header http.Header) (*testv1.EchoResponse, http.Header, http.Header, error)
	repeat(ctx context.Context, req *testv1.EchoRequest) ([]*testv1.EchoResponse, error)
	collect(ctx context.Context, reqs []*testv1.EchoRequest) (*testv1.EchoResponse, error)
	chat(ctx context.Context) (chatStream, error)
}

func call(args []string) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	addr := fs.String("addr", "", "server address, host:port (required)")
	mode := fs.String("mode", "hl", "hl (client.NewClient + stub; gRPC on the wire) or triple (triple_protocol client: Triple unary, gRPC streams)")
	codec := fs.String("codec", "proto", "proto or json")
	httpVersion := fs.String("http", "2", "triple mode, unary calls: 2 (h2c, prior knowledge) or 1 (HTTP/1.1); streams always use h2c")
	scenarioList := fs.String("scenario", "all", "comma-separated scenarios; all = "+strings.Join(defaultScenarios, ",")+"; extra: "+strings.Join(extraScenarios, ","))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" {
		logf("call: --addr is required")
		return 2
	}
	if *codec != "proto" && *codec != "json" {
		logf("call: unknown codec %q (want proto or json)", *codec)
		return 2
	}
	var scenarios []string
	for _, s := range strings.Split(*scenarioList, ",") {
		if s == "all" {
			scenarios = append(scenarios, defaultScenarios...)
		} else {
			scenarios = append(scenarios, s)
		}
	}
	for _, s := range scenarios {
		if !known(s) {
			logf("call: unknown scenario %q", s)
			return 2
		}
	}

	var t target
	var err error
	switch *mode {
	case "hl":
		t, err = newHLTarget(*addr, *codec == "json")
	case "triple":
		if *httpVersion != "1" && *httpVersion != "2" {
			logf("call: unknown --http %q (want 1 or 2)", *httpVersion)
			return 2
		}
		t = newTripleTarget(*addr, *codec == "json", *httpVersion == "1")
	default:
		logf("call: unknown mode %q (want hl or triple)", *mode)
		return 2
	}
	if err != nil {
		logf("call: %v", err)
		return 1
	}

	status := 0
	for _, name := range scenarios {
		ok, detail := runScenario(t, *mode, name)
		line, _ := json.Marshal(struct {
			Scenario string `json:"scenario"`
			OK       bool   `json:"ok"`
			Detail   string `json:"detail"`
		}{name, ok, detail})
		emit(string(line))
		if !ok {
			status = 1
		}
	}
	return status
}

func known(name string) bool {
	for _, s := range append(append([]string{}, defaultScenarios...), extraScenarios...) {
		if s == name {
			return true
		}
	}
	return false
}

// runScenario runs one scenario, turning a panic (dubbo-go panics on some setup failures) into a
// failure.
func runScenario(t target, mode, name string) (ok bool, detail string) {
	defer func() {
		if r := recover(); r != nil {
			ok, detail = false, fmt.Sprintf("panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	var err error
	switch name {
	case "unary":
		detail, err = scenarioUnary(ctx, t)
	case "metadata":
		detail, err = scenarioMetadata(ctx, t)
	case "server_stream":
		detail, err = scenarioServerStream(ctx, t)
	case "client_stream":
		detail, err = scenarioClientStream(ctx, t)
	case "bidi":
		detail, err = scenarioBidi(ctx, t)
	case "error":
		detail, err = scenarioError(ctx, t, mode != "hl")
	case "deadline":
		detail, err = scenarioDeadline(ctx, t)
	case "group":
		detail, err = scenarioGroup(ctx, t)
	case "business":
		detail, err = scenarioBusiness(ctx, t, mode)
	default:
		err = fmt.Errorf("unknown scenario")
	}
	if err != nil {
		return false, err.Error()
	}
	return true, detail
}

// describe is an error as "code: message".
func describe(err error) string {
	var te *tp.Error
	if errors.As(err, &te) && te == err {
		return err.Error() // already "code: message"
	}
	return fmt.Sprintf("%s: %v", tp.CodeOf(err), err)
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

func scenarioUnary(ctx context.Context, t target) (string, error) {
	payload := []byte{0, 1, 2, 0xfe, 0xff}
	resp, _, _, err := t.unary(ctx, "Echo", "", "", &testv1.EchoRequest{Text: "hello", Payload: payload}, nil)
	if err != nil {
		return "", fmt.Errorf("Echo failed: %s", describe(err))
	}
	if resp.GetText() != "hello" || !bytes.Equal(resp.GetPayload(), payload) {
		return "", fmt.Errorf("Echo answered text %q payload %x, want \"hello\" %x", resp.GetText(), resp.GetPayload(), payload)
	}
	return "text and payload echoed", nil
}

func scenarioMetadata(ctx context.Context, t target) (string, error) {
	req := &testv1.EchoRequest{
		Text: "meta",
		// The extra names only report what else the client sends (dubbo-go's hl client turns its
		// invocation attachments into headers); they are not checked.
		EchoHeaders:      []string{"x-attach", "timeout", "retries", "interface"},
		ResponseHeaders:  []*testv1.Header{{Name: "x-resp", Value: "r1"}},
		ResponseTrailers: []*testv1.Header{{Name: "x-trail", Value: "t1"}},
	}
	resp, header, trailer, err := t.unary(ctx, "Echo", "", "", req, http.Header{"X-Attach": {"v1"}})
	if err != nil {
		return "", fmt.Errorf("Echo failed: %s", describe(err))
	}
	var problems, attached, others []string
	for _, h := range resp.GetHeaders() {
		if h.GetName() == "x-attach" {
			attached = append(attached, h.GetValue())
		} else {
			others = append(others, fmt.Sprintf("%s=%q", h.GetName(), h.GetValue()))
		}
	}
	if len(attached) != 1 || attached[0] != "v1" {
		problems = append(problems, fmt.Sprintf("request header x-attach echoed as %q, want [v1]", attached))
	}
	if got := header.Values("x-resp"); len(got) != 1 || got[0] != "r1" {
		problems = append(problems, fmt.Sprintf("response header x-resp = %q, want [r1] (headers %v)", got, header))
	}
	if got := trailer.Values("x-trail"); len(got) != 1 || got[0] != "t1" {
		problems = append(problems, fmt.Sprintf("response trailer x-trail = %q, want [t1] (trailers %v)", got, trailer))
	}
	if len(problems) > 0 {
		return "", errors.New(strings.Join(problems, "; "))
	}
	detail := "x-attach echoed; x-resp header and x-trail trailer received"
	if len(others) > 0 {
		detail += "; the server also saw " + strings.Join(others, " ")
	}
	return detail, nil
}

func scenarioServerStream(ctx context.Context, t target) (string, error) {
	msgs, err := t.repeat(ctx, &testv1.EchoRequest{Text: "r", Repeat: 3})
	if err != nil {
		return "", fmt.Errorf("Repeat failed after %d messages: %s", len(msgs), describe(err))
	}
	if len(msgs) != 3 {
		return "", fmt.Errorf("Repeat sent %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if m.GetText() != "r" || m.GetIndex() != uint32(i) {
			return "", fmt.Errorf("message %d: text %q index %d, want \"r\" %d", i, m.GetText(), m.GetIndex(), i)
		}
	}
	return "3 messages, indexes 0..2", nil
}

func scenarioClientStream(ctx context.Context, t target) (string, error) {
	var reqs []*testv1.EchoRequest
	for _, s := range []string{"a", "b", "c"} {
		reqs = append(reqs, &testv1.EchoRequest{Text: s})
	}
	resp, err := t.collect(ctx, reqs)
	if err != nil {
		return "", fmt.Errorf("Collect failed: %s", describe(err))
	}
	if resp.GetText() != "a,b,c" || resp.GetReceived() != 3 {
		return "", fmt.Errorf("Collect answered text %q received %d, want \"a,b,c\" 3", resp.GetText(), resp.GetReceived())
	}
	return "a,b,c received 3", nil
}

func scenarioBidi(ctx context.Context, t target) (string, error) {
	s, err := t.chat(ctx)
	if err != nil {
		return "", fmt.Errorf("Chat failed to start: %s", describe(err))
	}
	defer func() { _ = s.CloseResponse() }()
	for i, text := range []string{"one", "two"} {
		if err := s.Send(&testv1.EchoRequest{Text: text}); err != nil {
			return "", fmt.Errorf("Chat send %q: %s", text, describe(err))
		}
		m, err := s.Recv()
		if err != nil {
			return "", fmt.Errorf("Chat receive after %q: %s", text, describe(err))
		}
		if m.GetText() != text || m.GetIndex() != uint32(i) {
			return "", fmt.Errorf("Chat answered text %q index %d, want %q %d", m.GetText(), m.GetIndex(), text, i)
		}
	}
	if err := s.CloseRequest(); err != nil {
		return "", fmt.Errorf("Chat close request: %s", describe(err))
	}
	m, err := s.Recv()
	if err == nil {
		return "", fmt.Errorf("Chat sent %q after the request stream closed, want the end", m.GetText())
	}
	if !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("Chat ended with %s, want a clean end", describe(err))
	}
	return "two echoes (indexes 0, 1), clean end after close", nil
}

func scenarioError(ctx context.Context, t target, wantDetail bool) (string, error) {
	req := &testv1.EchoRequest{Text: "e", Error: &testv1.ErrorSpec{
		Code: uint32(tp.CodeNotFound), Message: "no such thing", WithFailureInfo: true,
	}}
	_, _, _, err := t.unary(ctx, "Echo", "", "", req, nil)
	if err == nil {
		return "", errors.New("Echo succeeded, want not_found")
	}
	var te *tp.Error
	if !errors.As(err, &te) {
		return "", fmt.Errorf("error %T %v is not a *triple_protocol.Error", err, err)
	}
	if te.Code() != tp.CodeNotFound || te.Message() != "no such thing" {
		return "", fmt.Errorf("got %s %q, want not_found \"no such thing\"", te.Code(), te.Message())
	}
	var reasons []string
	for _, d := range te.Details() {
		v, err := d.Value()
		if err != nil {
			reasons = append(reasons, "undecodable "+d.Type())
			continue
		}
		if fi, ok := v.(*testv1.FailureInfo); ok {
			reasons = append(reasons, fi.GetReason())
		}
	}
	found := len(reasons) == 1 && reasons[0] == "no such thing"
	if wantDetail && !found {
		return "", fmt.Errorf("not_found as expected, but FailureInfo details %q (of %d details), want one with reason \"no such thing\"", reasons, len(te.Details()))
	}
	if found {
		return "not_found \"no such thing\" with FailureInfo detail", nil
	}
	return fmt.Sprintf("not_found \"no such thing\" (FailureInfo not checked in this mode; %d details)", len(te.Details())), nil
}

func scenarioDeadline(ctx context.Context, t target) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, _, err := t.unary(ctx, "Wait", "", "", &testv1.EchoRequest{Text: "w"}, nil)
	elapsed := time.Since(start)
	if err == nil {
		return "", errors.New("Wait succeeded, want deadline_exceeded")
	}
	note := ""
	if tp.CodeOf(err) != tp.CodeDeadlineExceeded {
		// dubbo-go's client reports its own deadline, when it fires while the response's first
		// envelope prefix is being read, as invalid_argument "protocol error: incomplete envelope:
		// context deadline exceeded" (triple_protocol envelope.go, envelopeReader.Read: no
		// wrapIfContextError there). That race with the server's own deadline_exceeded answer is
		// dubbo-go's, not the server's: accept it, and say so.
		if tp.CodeOf(err) != tp.CodeInvalidArgument || !errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("Wait failed with %s after %v, want deadline_exceeded", describe(err), elapsed.Round(time.Millisecond))
		}
		note = fmt.Sprintf(" (dubbo-go client race: its own deadline surfaced as %q)", err.Error())
	}
	if elapsed > 2*time.Second {
		return "", fmt.Errorf("deadline_exceeded only after %v, want within 2 s", elapsed.Round(time.Millisecond))
	}
	return fmt.Sprintf("deadline_exceeded after %v%s", elapsed.Round(time.Millisecond), note), nil
}

func scenarioGroup(ctx context.Context, t target) (string, error) {
	resp, _, _, err := t.unary(ctx, "Echo", variantGroup, variantVersion, &testv1.EchoRequest{Text: "hi"}, nil)
	if err != nil {
		return "", fmt.Errorf("group g1 version 1.0.0: %s", describe(err))
	}
	if resp.GetText() != variantPrefix+"hi" {
		return "", fmt.Errorf("group g1 version 1.0.0 answered %q, want %q", resp.GetText(), variantPrefix+"hi")
	}
	_, _, _, err = t.unary(ctx, "Echo", "nope", "9", &testv1.EchoRequest{Text: "hi"}, nil)
	if err == nil {
		return "", errors.New("group nope version 9 succeeded, want unimplemented")
	}
	if tp.CodeOf(err) != tp.CodeUnimplemented {
		return "", fmt.Errorf("group nope version 9: %s, want unimplemented", describe(err))
	}
	resp, _, _, err = t.unary(ctx, "Echo", "", "", &testv1.EchoRequest{Text: "hi"}, nil)
	if err != nil {
		return "", fmt.Errorf("no group: %s", describe(err))
	}
	if resp.GetText() != "hi" {
		return "", fmt.Errorf("no group answered %q, want \"hi\"", resp.GetText())
	}
	return "g1/1.0.0 hit the variant, nope/9 unimplemented, no group hit the default", nil
}

// scenarioBusiness: an ErrorSpec with code 17 (Dubbo's business error). dubbo-go's hl client sees
// it as a wire error with code 17 (and its failover cluster does not retry it); its Triple-unary
// client cannot represent 17 (triple_protocol's tripleWireError.asError maps codes outside 1..16 to
// unknown).
func scenarioBusiness(ctx context.Context, t target, mode string) (string, error) {
	req := &testv1.EchoRequest{Text: "b", Error: &testv1.ErrorSpec{Code: uint32(tp.CodeBizError), Message: "biz failure"}}
	_, _, _, err := t.unary(ctx, "Echo", "", "", req, nil)
	if err == nil {
		return "", errors.New("Echo succeeded, want a business error")
	}
	want := tp.CodeBizError
	if mode == "triple" {
		want = tp.CodeUnknown
	}
	if tp.CodeOf(err) != want || !tp.IsWireError(err) {
		return "", fmt.Errorf("got %s (wire error: %v), want %s from the wire", describe(err), tp.IsWireError(err), want)
	}
	var te *tp.Error
	if errors.As(err, &te) && te.Message() != "biz failure" {
		return "", fmt.Errorf("message %q, want \"biz failure\"", te.Message())
	}
	return fmt.Sprintf("%s \"biz failure\"", want), nil
}

// ---------------------------------------------------------------------------------------------------
// hl: client.NewClient + the stub.

type hlTarget struct {
	cli      *client.Client
	services map[string]testv1.EchoService
}

func newHLTarget(addr string, useJSON bool) (*hlTarget, error) {
	opts := []client.ClientOption{
		client.WithClientURL("tri://" + addr),
		// The default failover cluster retries every error but a business error (code 17) twice.
		client.WithClientRetries(0),
		client.WithClientShutdown(graceful_shutdown.WithoutInternalSignal()),
	}
	if useJSON {
		opts = append(opts, client.WithClientSerializationJSON())
	}
	cli, err := client.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &hlTarget{cli: cli, services: map[string]testv1.EchoService{}}, nil
}

// service is the stub for one group/version pair (dialled once; dubbo-go panics on some failures).
func (t *hlTarget) service(group, version string) (svc testv1.EchoService, err error) {
	key := group + "/" + version
	if s, ok := t.services[key]; ok {
		return s, nil
	}
	var opts []client.ReferenceOption
	if group != "" {
		opts = append(opts, client.WithGroup(group))
	}
	if version != "" {
		opts = append(opts, client.WithVersion(version))
	}
	defer func() {
		if r := recover(); r != nil {
			svc, err = nil, fmt.Errorf("dial panicked: %v", r)
		}
	}()
	svc, err = testv1.NewEchoService(t.cli, opts...)
	if err != nil {
		return nil, err
	}
	t.services[key] = svc
	return svc, nil
}

func (t *hlTarget) unary(ctx context.Context, method, group, version string, req *testv1.EchoRequest, header http.Header) (*testv1.EchoResponse, http.Header, http.Header, error) {
	svc, err := t.service(group, version)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(header) > 0 {
		attachments := map[string]any{}
		for k, v := range header {
			attachments[strings.ToLower(k)] = append([]string(nil), v...)
		}
		ctx = context.WithValue(ctx, constant.AttachmentKey, attachments)
	}
	var respHeader, respTrailer http.Header
	opts := []client.CallOption{client.WithResponseHeader(&respHeader), client.WithResponseTrailer(&respTrailer)}
	var resp *testv1.EchoResponse
	switch method {
	case "Echo":
		resp, err = svc.Echo(ctx, req, opts...)
	case "EchoPost":
		resp, err = svc.EchoPost(ctx, req, opts...)
	case "Wait":
		resp, err = svc.Wait(ctx, req, opts...)
	default:
		err = fmt.Errorf("no unary method %q", method)
	}
	return resp, respHeader, respTrailer, err
}

func (t *hlTarget) repeat(ctx context.Context, req *testv1.EchoRequest) ([]*testv1.EchoResponse, error) {
	svc, err := t.service("", "")
	if err != nil {
		return nil, err
	}
	s, err := svc.Repeat(ctx, req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Close() }()
	var msgs []*testv1.EchoResponse
	for s.Recv() {
		msgs = append(msgs, s.Msg())
	}
	return msgs, s.Err()
}

func (t *hlTarget) collect(ctx context.Context, reqs []*testv1.EchoRequest) (*testv1.EchoResponse, error) {
	svc, err := t.service("", "")
	if err != nil {
		return nil, err
	}
	s, err := svc.Collect(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	return s.CloseAndRecv()
}

func (t *hlTarget) chat(ctx context.Context) (chatStream, error) {
	svc, err := t.service("", "")
	if err != nil {
		return nil, err
	}
	return svc.Chat(ctx)
}

// ---------------------------------------------------------------------------------------------------
// triple: the low-level triple_protocol client. WithTriple() makes unary calls Triple
// (application/proto or application/json, Triple-Protocol-Version: 0.1.0); such a client cannot
// stream, so streams go through a second client without it (gRPC).

type tripleTarget struct {
	url        string // http://host:port/trident.test.v1.EchoService
	json       bool
	unaryHTTP  *http.Client
	streamHTTP *http.Client
	clients    map[string]*tp.Client
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func newTripleTarget(addr string, useJSON, http1 bool) *tripleTarget {
	streamHTTP := h2cClient()
	unaryHTTP := streamHTTP
	if http1 {
		unaryHTTP = &http.Client{Transport: &http.Transport{}}
	}
	return &tripleTarget{
		url:        "http://" + addr + "/" + testv1.EchoServiceName,
		json:       useJSON,
		unaryHTTP:  unaryHTTP,
		streamHTTP: streamHTTP,
		clients:    map[string]*tp.Client{},
	}
}

func (t *tripleTarget) client(triple bool, group, version string) *tp.Client {
	key := fmt.Sprintf("%v/%s/%s", triple, group, version)
	if c, ok := t.clients[key]; ok {
		return c
	}
	var opts []tp.ClientOption
	httpClient := t.streamHTTP
	if triple {
		opts = append(opts, tp.WithTriple())
		httpClient = t.unaryHTTP
	}
	if t.json {
		opts = append(opts, tp.WithProtoJSON())
	}
	if group != "" {
		opts = append(opts, tp.WithGroup(group))
	}
	if version != "" {
		opts = append(opts, tp.WithVersion(version))
	}
	c := tp.NewClient(httpClient, t.url, opts...)
	t.clients[key] = c
	return c
}

func (t *tripleTarget) unary(ctx context.Context, method, group, version string, req *testv1.EchoRequest, header http.Header) (*testv1.EchoResponse, http.Header, http.Header, error) {
	request := tp.NewRequest(req)
	for k, vs := range header {
		for _, v := range vs {
			request.Header().Add(k, v)
		}
	}
	msg := new(testv1.EchoResponse)
	response := tp.NewResponse(msg)
	err := t.client(true, group, version).CallUnary(ctx, request, method, response)
	return msg, response.Header(), response.Trailer(), err
}

func (t *tripleTarget) repeat(ctx context.Context, req *testv1.EchoRequest) ([]*testv1.EchoResponse, error) {
	s, err := t.client(false, "", "").CallServerStream(ctx, tp.NewRequest(req), "Repeat")
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Close() }()
	var msgs []*testv1.EchoResponse
	for {
		m := new(testv1.EchoResponse)
		if !s.Receive(m) {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs, s.Err()
}

func (t *tripleTarget) collect(ctx context.Context, reqs []*testv1.EchoRequest) (*testv1.EchoResponse, error) {
	s, err := t.client(false, "", "").CallClientStream(ctx, "Collect")
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	msg := new(testv1.EchoResponse)
	if err := s.CloseAndReceive(tp.NewResponse(msg)); err != nil {
		return nil, err
	}
	return msg, nil
}

func (t *tripleTarget) chat(ctx context.Context) (chatStream, error) {
	s, err := t.client(false, "", "").CallBidiStream(ctx, "Chat")
	if err != nil {
		return nil, err
	}
	return &rawChat{s}, nil
}

type rawChat struct {
	*tp.BidiStreamForClient
}

func (c *rawChat) Send(m *testv1.EchoRequest) error {
	return c.BidiStreamForClient.Send(m)
}

func (c *rawChat) Recv() (*testv1.EchoResponse, error) {
	m := new(testv1.EchoResponse)
	if err := c.BidiStreamForClient.Receive(m); err != nil {
		return nil, err
	}
	return m, nil
}
