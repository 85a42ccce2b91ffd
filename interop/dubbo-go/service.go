package main

// The EchoService semantics both server modes share: a subset of what Trident's test service does
// (tests/src/service.rs), so that `call` can run against either.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	tp "dubbo.apache.org/dubbo-go/v3/protocol/triple/triple_protocol"

	testv1 "trident.dev/interop/dubbogo/gen/testv1"
)

// statsText is the EchoPost text that asks for the counters instead of an echo.
const statsText = "__stats__"

// counters are per process, shared by every implementation and both modes.
var counters struct {
	// Handler invocations (the stats request itself excluded).
	calls atomic.Int64
	// Wait and delaying handlers that saw their context's deadline expire.
	sawDeadline atomic.Int64
	// Wait and delaying handlers that saw their context cancelled before its deadline.
	sawCancel atomic.Int64
}

func statsJSON() string {
	b, _ := json.Marshal(map[string]int64{
		"calls":        counters.calls.Load(),
		"saw_deadline": counters.sawDeadline.Load(),
		"saw_cancel":   counters.sawCancel.Load(),
	})
	return string(b)
}

// echoCore is one implementation: the default one (prefix "") or a group/version variant.
type echoCore struct {
	// Prepended to every response text ("g1/1.0.0:" for group g1, version 1.0.0).
	prefix string
	// hl: business errors (code 17) are plain Go errors, which dubbo-go's stub server turns into
	// code 17; raw: they are *tp.Error with code 17.
	hl bool
}

// ended turns the end of ctx into the error a handler reports, counting what it saw. A plain
// ctx.Err() would become a business error (17) behind dubbo-go's stub server, so the code is
// explicit.
func ended(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		counters.sawDeadline.Add(1)
		return tp.NewError(tp.CodeDeadlineExceeded, ctx.Err())
	}
	counters.sawCancel.Add(1)
	return tp.NewError(tp.CodeCanceled, ctx.Err())
}

// delay sleeps ms milliseconds unless ctx ends first.
func delay(ctx context.Context, ms uint32) error {
	if ms == 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ended(ctx)
	}
}

// buildError is the error an ErrorSpec describes.
func (c *echoCore) buildError(spec *testv1.ErrorSpec) error {
	if spec.GetCode() == uint32(tp.CodeBizError) && c.hl {
		return errors.New(spec.GetMessage())
	}
	code := tp.Code(spec.GetCode())
	if code < tp.CodeCanceled || code > tp.CodeBizError {
		code = tp.CodeUnknown
	}
	e := tp.NewError(code, errors.New(spec.GetMessage()))
	if spec.GetWithFailureInfo() {
		if d, err := tp.NewErrorDetail(&testv1.FailureInfo{Reason: spec.GetMessage(), Attempt: 1}); err == nil {
			e.AddDetail(d)
		}
	}
	if spec.GetRetryDelay() != nil {
		if d, err := tp.NewErrorDetail(spec.GetRetryDelay()); err == nil {
			e.AddDetail(d)
		}
	}
	for _, h := range spec.GetHeaders() {
		e.Meta().Add(h.GetName(), h.GetValue())
	}
	return e
}

// echoOf is the echo of req: its (prefixed) text, payload and the request headers it names.
func (c *echoCore) echoOf(req *testv1.EchoRequest, header http.Header, index uint32) *testv1.EchoResponse {
	resp := &testv1.EchoResponse{
		Text:    c.prefix + req.GetText(),
		Payload: req.GetPayload(),
		Index:   index,
	}
	for _, name := range req.GetEchoHeaders() {
		for _, v := range header.Values(name) {
			resp.Headers = append(resp.Headers, &testv1.Header{Name: name, Value: v})
		}
	}
	return resp
}

// decorate copies the response headers and trailers req asks for.
func decorate(req *testv1.EchoRequest, header, trailer http.Header) {
	for _, h := range req.GetResponseHeaders() {
		header.Add(h.GetName(), h.GetValue())
	}
	for _, t := range req.GetResponseTrailers() {
		trailer.Add(t.GetName(), t.GetValue())
	}
}

// unary serves Echo and EchoPost: header is the request metadata; the response metadata the request
// asks for goes into respHeader/respTrailer. With stats (EchoPost), the text "__stats__" returns the
// counters as JSON instead.
func (c *echoCore) unary(ctx context.Context, req *testv1.EchoRequest, header, respHeader, respTrailer http.Header, stats bool) (*testv1.EchoResponse, error) {
	if stats && req.GetText() == statsText {
		return &testv1.EchoResponse{Text: statsJSON()}, nil
	}
	counters.calls.Add(1)
	if err := delay(ctx, req.GetDelayMs()); err != nil {
		return nil, err
	}
	if req.GetError() != nil {
		return nil, c.buildError(req.GetError())
	}
	decorate(req, respHeader, respTrailer)
	return c.echoOf(req, header, 0), nil
}

// wait serves Wait: it answers only when ctx ends.
func (c *echoCore) wait(ctx context.Context) error {
	counters.calls.Add(1)
	<-ctx.Done()
	return ended(ctx)
}

// repeat serves Repeat: `repeat` echoes (or `after_messages` echoes, then the error spec's error).
func (c *echoCore) repeat(ctx context.Context, req *testv1.EchoRequest, header, respHeader, respTrailer http.Header, send func(*testv1.EchoResponse) error) error {
	counters.calls.Add(1)
	spec := req.GetError()
	if spec != nil && spec.GetAfterMessages() == 0 {
		return c.buildError(spec)
	}
	decorate(req, respHeader, respTrailer)
	n := req.GetRepeat()
	if spec != nil {
		n = spec.GetAfterMessages()
	}
	for i := uint32(0); i < n; i++ {
		if err := delay(ctx, req.GetDelayMs()); err != nil {
			return err
		}
		if err := send(c.echoOf(req, header, i)); err != nil {
			return err
		}
	}
	if spec != nil {
		return c.buildError(spec)
	}
	return nil
}

// waitStream serves WaitStream: one echo, then wait for ctx to end.
func (c *echoCore) waitStream(ctx context.Context, req *testv1.EchoRequest, header http.Header, send func(*testv1.EchoResponse) error) error {
	counters.calls.Add(1)
	if err := send(c.echoOf(req, header, 0)); err != nil {
		return err
	}
	<-ctx.Done()
	return ended(ctx)
}

// collect serves Collect: recv yields each request (false at the end); the answer joins the texts.
func (c *echoCore) collect(ctx context.Context, header http.Header, recv func() (*testv1.EchoRequest, bool, error)) (*testv1.EchoResponse, *testv1.EchoRequest, error) {
	counters.calls.Add(1)
	var texts []string
	var first *testv1.EchoRequest
	received := uint32(0)
	for {
		msg, ok, err := recv()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		received++
		if spec := msg.GetError(); spec != nil && received > spec.GetAfterMessages() {
			return nil, nil, c.buildError(spec)
		}
		if msg.GetHang() {
			<-ctx.Done()
			return nil, nil, ended(ctx)
		}
		texts = append(texts, msg.GetText())
		if first == nil {
			first = msg
		}
	}
	if first == nil {
		first = &testv1.EchoRequest{}
	}
	resp := c.echoOf(first, header, 0)
	resp.Text = c.prefix + strings.Join(texts, ",")
	resp.Received = received
	return resp, first, nil
}

// chat serves Chat: one echo per request, until the client closes (recv returns false).
func (c *echoCore) chat(ctx context.Context, header http.Header, recv func() (*testv1.EchoRequest, bool, error), send func(*testv1.EchoResponse) error) error {
	counters.calls.Add(1)
	for index := uint32(0); ; index++ {
		msg, ok, err := recv()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if spec := msg.GetError(); spec != nil && index+1 > spec.GetAfterMessages() {
			return c.buildError(spec)
		}
		if msg.GetHang() {
			<-ctx.Done()
			return ended(ctx)
		}
		if err := delay(ctx, msg.GetDelayMs()); err != nil {
			return err
		}
		out := c.echoOf(msg, header, index)
		out.Received = index + 1
		if err := send(out); err != nil {
			return err
		}
	}
}
