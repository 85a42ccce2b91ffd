// Triple stubs for trident.test.v1.EchoService, written by hand for dubbo-go v3.3.2.
//
// protoc-gen-go-triple (the dubbo-go plugin that would normally emit this file) cannot be installed
// here, so this file provides the same shape of API it emits for v3.3.2: a client built on
// client.ClientInfo + Client.DialWithInfo + Connection.Call*, and a server registration built on
// server.ServiceInfo + Server.Register. Keep it in step with tests/proto/trident/test/v1/test.proto.

package testv1

import (
	"context"
	"net/http"

	"dubbo.apache.org/dubbo-go/v3/client"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	tp "dubbo.apache.org/dubbo-go/v3/protocol/triple/triple_protocol"
	"dubbo.apache.org/dubbo-go/v3/server"
)

// EchoServiceName is the fully-qualified name of the service (the first path segment).
const EchoServiceName = "trident.test.v1.EchoService"

// Procedures of EchoService, as they appear on the wire.
const (
	EchoServiceEchoProcedure       = "/trident.test.v1.EchoService/Echo"
	EchoServiceEchoPostProcedure   = "/trident.test.v1.EchoService/EchoPost"
	EchoServiceRepeatProcedure     = "/trident.test.v1.EchoService/Repeat"
	EchoServiceCollectProcedure    = "/trident.test.v1.EchoService/Collect"
	EchoServiceChatProcedure       = "/trident.test.v1.EchoService/Chat"
	EchoServiceWaitProcedure       = "/trident.test.v1.EchoService/Wait"
	EchoServiceWaitStreamProcedure = "/trident.test.v1.EchoService/WaitStream"
)

// ---------------------------------------------------------------------------------------------------
// Client

// EchoService is the client side of trident.test.v1.EchoService.
type EchoService interface {
	Echo(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error)
	EchoPost(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error)
	Repeat(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (EchoService_RepeatClient, error)
	Collect(ctx context.Context, opts ...client.CallOption) (EchoService_CollectClient, error)
	Chat(ctx context.Context, opts ...client.CallOption) (EchoService_ChatClient, error)
	Wait(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error)
	WaitStream(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (EchoService_WaitStreamClient, error)
}

// NewEchoService dials EchoService through cli. Reference options (group, version, ...) apply to
// this service only.
func NewEchoService(cli *client.Client, opts ...client.ReferenceOption) (EchoService, error) {
	conn, err := cli.DialWithInfo(EchoServiceName, &EchoService_ClientInfo, opts...)
	if err != nil {
		return nil, err
	}
	return &EchoServiceImpl{conn: conn}, nil
}

// EchoServiceImpl implements EchoService over a dubbo-go client connection.
type EchoServiceImpl struct {
	conn *client.Connection
}

// EchoService_ClientInfo describes the service to the dubbo-go client.
var EchoService_ClientInfo = client.ClientInfo{
	InterfaceName: EchoServiceName,
	MethodNames:   []string{"Echo", "EchoPost", "Repeat", "Collect", "Chat", "Wait", "WaitStream"},
	ConnectionInjectFunc: func(dubboCliRaw any, conn *client.Connection) {
		dubboCliRaw.(*EchoServiceImpl).conn = conn
	},
}

func (c *EchoServiceImpl) unary(ctx context.Context, method string, req *EchoRequest, opts []client.CallOption) (*EchoResponse, error) {
	resp := new(EchoResponse)
	if err := c.conn.CallUnary(ctx, []any{req}, resp, method, opts...); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *EchoServiceImpl) serverStream(ctx context.Context, method string, req *EchoRequest, opts []client.CallOption) (*echoServerStreamClient, error) {
	raw, err := c.conn.CallServerStream(ctx, req, method, opts...)
	if err != nil {
		return nil, err
	}
	return &echoServerStreamClient{ServerStreamForClient: raw.(*tp.ServerStreamForClient)}, nil
}

func (c *EchoServiceImpl) Echo(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error) {
	return c.unary(ctx, "Echo", req, opts)
}

func (c *EchoServiceImpl) EchoPost(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error) {
	return c.unary(ctx, "EchoPost", req, opts)
}

func (c *EchoServiceImpl) Wait(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (*EchoResponse, error) {
	return c.unary(ctx, "Wait", req, opts)
}

func (c *EchoServiceImpl) Repeat(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (EchoService_RepeatClient, error) {
	return c.serverStream(ctx, "Repeat", req, opts)
}

func (c *EchoServiceImpl) WaitStream(ctx context.Context, req *EchoRequest, opts ...client.CallOption) (EchoService_WaitStreamClient, error) {
	return c.serverStream(ctx, "WaitStream", req, opts)
}

func (c *EchoServiceImpl) Collect(ctx context.Context, opts ...client.CallOption) (EchoService_CollectClient, error) {
	raw, err := c.conn.CallClientStream(ctx, "Collect", opts...)
	if err != nil {
		return nil, err
	}
	return &echoCollectClient{ClientStreamForClient: raw.(*tp.ClientStreamForClient)}, nil
}

func (c *EchoServiceImpl) Chat(ctx context.Context, opts ...client.CallOption) (EchoService_ChatClient, error) {
	raw, err := c.conn.CallBidiStream(ctx, "Chat", opts...)
	if err != nil {
		return nil, err
	}
	return &echoChatClient{BidiStreamForClient: raw.(*tp.BidiStreamForClient)}, nil
}

// EchoService_RepeatClient receives the responses of a Repeat call.
type EchoService_RepeatClient interface {
	// Recv reads the next message; false at the end of the stream or on error (see Err).
	Recv() bool
	// Msg is the message the last successful Recv read.
	Msg() *EchoResponse
	// Err is the error that ended the stream, nil at a clean end.
	Err() error
	ResponseHeader() http.Header
	ResponseTrailer() http.Header
	Close() error
}

// EchoService_WaitStreamClient receives the responses of a WaitStream call.
type EchoService_WaitStreamClient = EchoService_RepeatClient

type echoServerStreamClient struct {
	*tp.ServerStreamForClient
}

func (s *echoServerStreamClient) Recv() bool {
	return s.ServerStreamForClient.Receive(new(EchoResponse))
}

func (s *echoServerStreamClient) Msg() *EchoResponse {
	m, _ := s.ServerStreamForClient.Msg().(*EchoResponse)
	return m
}

// EchoService_CollectClient sends the requests of a Collect call.
type EchoService_CollectClient interface {
	Send(*EchoRequest) error
	// CloseAndRecv half-closes the request stream and waits for the single response.
	CloseAndRecv() (*EchoResponse, error)
	// CloseAndRecvResponse is CloseAndRecv keeping the response metadata.
	CloseAndRecvResponse() (*EchoResponse, http.Header, http.Header, error)
}

type echoCollectClient struct {
	*tp.ClientStreamForClient
}

func (c *echoCollectClient) Send(req *EchoRequest) error {
	return c.ClientStreamForClient.Send(req)
}

func (c *echoCollectClient) CloseAndRecv() (*EchoResponse, error) {
	msg, _, _, err := c.CloseAndRecvResponse()
	return msg, err
}

func (c *echoCollectClient) CloseAndRecvResponse() (*EchoResponse, http.Header, http.Header, error) {
	msg := new(EchoResponse)
	resp := tp.NewResponse(msg)
	if err := c.ClientStreamForClient.CloseAndReceive(resp); err != nil {
		return nil, nil, nil, err
	}
	return msg, resp.Header(), resp.Trailer(), nil
}

// EchoService_ChatClient is both ends of a Chat call.
type EchoService_ChatClient interface {
	Send(*EchoRequest) error
	// Recv returns io.EOF (possibly wrapped) at a clean end of the response stream.
	Recv() (*EchoResponse, error)
	CloseRequest() error
	CloseResponse() error
	ResponseHeader() http.Header
	ResponseTrailer() http.Header
}

type echoChatClient struct {
	*tp.BidiStreamForClient
}

func (c *echoChatClient) Send(req *EchoRequest) error {
	return c.BidiStreamForClient.Send(req)
}

func (c *echoChatClient) Recv() (*EchoResponse, error) {
	msg := new(EchoResponse)
	if err := c.BidiStreamForClient.Receive(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// ---------------------------------------------------------------------------------------------------
// Server

// EchoServiceHandler is the server side of trident.test.v1.EchoService.
type EchoServiceHandler interface {
	Echo(context.Context, *EchoRequest) (*EchoResponse, error)
	EchoPost(context.Context, *EchoRequest) (*EchoResponse, error)
	Repeat(context.Context, *EchoRequest, EchoService_RepeatServer) error
	Collect(context.Context, EchoService_CollectServer) (*EchoResponse, error)
	Chat(context.Context, EchoService_ChatServer) error
	Wait(context.Context, *EchoRequest) (*EchoResponse, error)
	WaitStream(context.Context, *EchoRequest, EchoService_WaitStreamServer) error
}

// RegisterEchoServiceHandler registers h with srv; service options (group, version, ...) apply to
// this registration only. The Go type of h names the registration inside dubbo-go, so two
// registrations on one server need two distinct exported types.
func RegisterEchoServiceHandler(srv *server.Server, h EchoServiceHandler, opts ...server.ServiceOption) error {
	return srv.Register(h, &EchoService_ServiceInfo, opts...)
}

// EchoService_RepeatServer sends the responses of a Repeat call.
type EchoService_RepeatServer interface {
	Send(*EchoResponse) error
	ResponseHeader() http.Header
	ResponseTrailer() http.Header
}

// EchoService_WaitStreamServer sends the responses of a WaitStream call.
type EchoService_WaitStreamServer = EchoService_RepeatServer

type echoServerStreamServer struct {
	*tp.ServerStream
}

func (s *echoServerStreamServer) Send(msg *EchoResponse) error {
	return s.ServerStream.Send(msg)
}

// EchoService_CollectServer receives the requests of a Collect call.
type EchoService_CollectServer interface {
	// Recv reads the next message; false at the end of the stream or on error (see Err).
	Recv() bool
	Msg() *EchoRequest
	Err() error
	RequestHeader() http.Header
}

type echoCollectServer struct {
	*tp.ClientStream
}

func (s *echoCollectServer) Recv() bool {
	return s.ClientStream.Receive(new(EchoRequest))
}

func (s *echoCollectServer) Msg() *EchoRequest {
	m, _ := s.ClientStream.Msg().(*EchoRequest)
	return m
}

// EchoService_ChatServer is both ends of a Chat call, server side.
type EchoService_ChatServer interface {
	Send(*EchoResponse) error
	// Recv returns io.EOF (possibly wrapped) once the client has closed its side.
	Recv() (*EchoRequest, error)
	RequestHeader() http.Header
	ResponseHeader() http.Header
	ResponseTrailer() http.Header
}

type echoChatServer struct {
	*tp.BidiStream
}

func (s *echoChatServer) Send(msg *EchoResponse) error {
	return s.BidiStream.Send(msg)
}

func (s *echoChatServer) Recv() (*EchoRequest, error) {
	msg := new(EchoRequest)
	if err := s.BidiStream.Receive(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func unaryMethod(name string, call func(EchoServiceHandler, context.Context, *EchoRequest) (*EchoResponse, error)) server.MethodInfo {
	return server.MethodInfo{
		Name:        name,
		Type:        constant.CallUnary,
		ReqInitFunc: func() any { return new(EchoRequest) },
		MethodFunc: func(ctx context.Context, args []any, handler any) (any, error) {
			res, err := call(handler.(EchoServiceHandler), ctx, args[0].(*EchoRequest))
			if err != nil {
				return nil, err
			}
			return tp.NewResponse(res), nil
		},
	}
}

func serverStreamMethod(name string, call func(EchoServiceHandler, context.Context, *EchoRequest, EchoService_RepeatServer) error) server.MethodInfo {
	return server.MethodInfo{
		Name:        name,
		Type:        constant.CallServerStream,
		ReqInitFunc: func() any { return new(EchoRequest) },
		StreamInitFunc: func(baseStream any) any {
			return &echoServerStreamServer{ServerStream: baseStream.(*tp.ServerStream)}
		},
		MethodFunc: func(ctx context.Context, args []any, handler any) (any, error) {
			return nil, call(handler.(EchoServiceHandler), ctx, args[0].(*EchoRequest), args[1].(EchoService_RepeatServer))
		},
	}
}

// EchoService_ServiceInfo describes the service to the dubbo-go server.
var EchoService_ServiceInfo = server.ServiceInfo{
	InterfaceName: EchoServiceName,
	ServiceType:   (*EchoServiceHandler)(nil),
	Methods: []server.MethodInfo{
		unaryMethod("Echo", EchoServiceHandler.Echo),
		unaryMethod("EchoPost", EchoServiceHandler.EchoPost),
		serverStreamMethod("Repeat", EchoServiceHandler.Repeat),
		{
			Name: "Collect",
			Type: constant.CallClientStream,
			StreamInitFunc: func(baseStream any) any {
				return &echoCollectServer{ClientStream: baseStream.(*tp.ClientStream)}
			},
			MethodFunc: func(ctx context.Context, args []any, handler any) (any, error) {
				res, err := handler.(EchoServiceHandler).Collect(ctx, args[0].(EchoService_CollectServer))
				if err != nil {
					return nil, err
				}
				return tp.NewResponse(res), nil
			},
		},
		{
			Name: "Chat",
			Type: constant.CallBidiStream,
			StreamInitFunc: func(baseStream any) any {
				return &echoChatServer{BidiStream: baseStream.(*tp.BidiStream)}
			},
			MethodFunc: func(ctx context.Context, args []any, handler any) (any, error) {
				return nil, handler.(EchoServiceHandler).Chat(ctx, args[0].(EchoService_ChatServer))
			},
		},
		unaryMethod("Wait", EchoServiceHandler.Wait),
		serverStreamMethod("WaitStream", EchoServiceHandler.WaitStream),
	},
}
