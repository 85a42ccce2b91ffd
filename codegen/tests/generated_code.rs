//! Compiles the plugin's golden output against a stand-in for `trident::codegen` with the
//! signatures of the runtime contract, then drives it: routes reach the service implementation,
//! default methods answer `unimplemented`, clients call with the right method specs, and messages
//! resolve their descriptors.

// Generated code names the runtime as `::trident::codegen`; this crate plays `trident`.
extern crate self as trident;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use prost_reflect::ReflectMessage as _;

/// The generated code under test.
#[allow(deprecated)]
mod golden {
    include!("golden/plugin/golden.v1.rs");
}

/// Stand-in for the runtime's `trident::codegen`, following the signatures of the contract.
// The stand-in mirrors documented runtime items; repeating their docs here adds nothing.
#[allow(missing_docs)]
pub mod codegen {
    use std::any::Any;
    use std::pin::Pin;
    use std::sync::Mutex;

    pub use prost;
    pub use prost_reflect;
    pub use std::{future::Future, sync::Arc};

    /// Messages, as the runtime's `trident::Message`.
    pub trait Message:
        prost::Message + prost_reflect::ReflectMessage + Default + Send + Sync + 'static
    {
    }
    impl<T> Message for T where
        T: prost::Message + prost_reflect::ReflectMessage + Default + Send + Sync + 'static
    {
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Code {
        Unimplemented,
        Internal,
    }

    #[derive(Debug)]
    pub struct Error {
        pub code: Code,
        pub message: String,
    }

    impl Error {
        pub fn new(code: Code, message: impl Into<String>) -> Self {
            Self {
                code,
                message: message.into(),
            }
        }
    }

    pub struct Request<T>(pub T);

    impl<T> Request<T> {
        pub fn new(message: T) -> Self {
            Self(message)
        }
    }

    pub trait IntoRequest<T> {
        fn into_request(self) -> Request<T>;
    }

    impl<T> IntoRequest<T> for T {
        fn into_request(self) -> Request<T> {
            Request(self)
        }
    }

    impl<T> IntoRequest<T> for Request<T> {
        fn into_request(self) -> Request<T> {
            self
        }
    }

    pub struct Response<T>(pub T);

    pub struct Streaming<T>(pub Vec<T>);

    pub type ResponseStream<T> = Box<dyn Iterator<Item = Result<T, Error>> + Send + 'static>;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum StreamType {
        Unary,
        ClientStream,
        ServerStream,
        BidiStream,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Idempotency {
        Unknown,
        NoSideEffects,
        Idempotent,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MethodSpec {
        pub service: &'static str,
        pub method: &'static str,
        pub path: &'static str,
        pub stream_type: StreamType,
        pub idempotency: Idempotency,
    }

    type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
    type Handler = Box<
        dyn Fn(Box<dyn Any + Send>) -> BoxFuture<Result<Box<dyn Any + Send>, Error>> + Send + Sync,
    >;

    /// Records the handlers; [`ServiceRoutes::call`] runs one.
    pub struct ServiceRoutes {
        pub service_name: &'static str,
        pub routes: Vec<(&'static MethodSpec, &'static str, Handler)>,
    }

    impl ServiceRoutes {
        pub fn new(service_name: &'static str) -> Self {
            Self {
                service_name,
                routes: Vec::new(),
            }
        }

        fn add<I: Send + 'static, O: Send + 'static, F, Fut>(
            mut self,
            spec: &'static MethodSpec,
            kind: &'static str,
            handler: F,
        ) -> Self
        where
            F: Fn(Request<I>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Response<O>, Error>> + Send + 'static,
        {
            let handler: Handler = Box::new(move |input| {
                let input = *input.downcast::<I>().expect("input type");
                let future = handler(Request(input));
                Box::pin(async move {
                    future
                        .await
                        .map(|Response(output)| Box::new(output) as Box<dyn Any + Send>)
                })
            });
            self.routes.push((spec, kind, handler));
            self
        }

        pub fn unary<Req: Message, Res: Message, F, Fut>(
            self,
            spec: &'static MethodSpec,
            handler: F,
        ) -> Self
        where
            F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
        {
            self.add(spec, "unary", handler)
        }

        pub fn server_stream<Req: Message, Res: Message, F, Fut>(
            self,
            spec: &'static MethodSpec,
            handler: F,
        ) -> Self
        where
            F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
        {
            self.add(spec, "server_stream", handler)
        }

        pub fn client_stream<Req: Message, Res: Message, F, Fut>(
            self,
            spec: &'static MethodSpec,
            handler: F,
        ) -> Self
        where
            F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
        {
            self.add(spec, "client_stream", handler)
        }

        pub fn bidi_stream<Req: Message, Res: Message, F, Fut>(
            self,
            spec: &'static MethodSpec,
            handler: F,
        ) -> Self
        where
            F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
        {
            self.add(spec, "bidi_stream", handler)
        }

        /// Runs the handler of `path` on `input` (a `Req`, or a `Streaming<Req>`).
        pub fn call<O: 'static>(
            &self,
            path: &str,
            input: impl Any + Send,
        ) -> BoxFuture<Result<O, Error>> {
            let (_, _, handler) = self
                .routes
                .iter()
                .find(|(spec, _, _)| spec.path == path)
                .expect("route");
            let future = handler(Box::new(input));
            Box::pin(async move {
                future
                    .await
                    .map(|out| *out.downcast::<O>().expect("output"))
            })
        }
    }

    #[derive(Default)]
    pub struct CallOptions;

    pub struct ServerStreamCall<Res>(pub Res);
    pub struct ClientStreamCall<Req, Res>(pub Vec<Req>, pub Res);
    pub struct BidiStreamCall<Req, Res>(pub Vec<Req>, pub Res);

    /// Records the paths it was asked to call; answers default messages.
    #[derive(Clone, Debug, Default)]
    pub struct Client {
        pub calls: Arc<Mutex<Vec<(&'static str, StreamType)>>>,
    }

    impl Client {
        fn record(&self, spec: &'static MethodSpec) {
            self.calls
                .lock()
                .unwrap()
                .push((spec.path, spec.stream_type));
        }

        pub async fn unary<Req: Message, Res: Message>(
            &self,
            spec: &'static MethodSpec,
            request: Request<Req>,
        ) -> Result<Response<Res>, Error> {
            let _ = request;
            self.record(spec);
            Ok(Response(Res::default()))
        }

        pub async fn server_stream<Req: Message, Res: Message>(
            &self,
            spec: &'static MethodSpec,
            request: Request<Req>,
        ) -> Result<ServerStreamCall<Res>, Error> {
            let _ = request;
            self.record(spec);
            Ok(ServerStreamCall(Res::default()))
        }

        pub fn client_stream<Req: Message, Res: Message>(
            &self,
            spec: &'static MethodSpec,
            options: CallOptions,
        ) -> ClientStreamCall<Req, Res> {
            let _ = options;
            self.record(spec);
            ClientStreamCall(Vec::new(), Res::default())
        }

        pub fn bidi_stream<Req: Message, Res: Message>(
            &self,
            spec: &'static MethodSpec,
            options: CallOptions,
        ) -> BidiStreamCall<Req, Res> {
            let _ = options;
            self.record(spec);
            BidiStreamCall(Vec::new(), Res::default())
        }
    }
}

use codegen::{Code, Error, Request, Response, ResponseStream, StreamType, Streaming};
use golden::{Chunk, GreetRequest, GreetResponse, UploadSummary};

/// Polls a future that never waits.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("future was not ready"),
    }
}

/// Implements some methods (as `async fn`) and leaves the others to the defaults.
struct Greeter;

impl golden::GreetService for Greeter {
    async fn greet(
        &self,
        request: Request<GreetRequest>,
    ) -> Result<Response<GreetResponse>, Error> {
        Ok(Response(GreetResponse {
            greeting: format!("Hello, {}!", request.0.name),
            mood: golden::Mood::Happy.into(),
        }))
    }

    async fn upload(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<UploadSummary>, Error> {
        let total_bytes = request.0.0.iter().map(|c| c.data.len() as u64).sum();
        Ok(Response(UploadSummary { total_bytes }))
    }

    async fn chat(
        &self,
        request: Request<Streaming<GreetRequest>>,
    ) -> Result<Response<ResponseStream<GreetResponse>>, Error> {
        let replies = request.0.0.into_iter().map(|r| {
            Ok(GreetResponse {
                greeting: r.name,
                mood: 0,
            })
        });
        Ok(Response(Box::new(replies.collect::<Vec<_>>().into_iter())))
    }
}

#[test]
fn method_specs_follow_the_proto() {
    use codegen::Idempotency;
    use golden::greet_service as spec;

    assert_eq!(golden::GREET_SERVICE_NAME, "golden.v1.GreetService");
    assert_eq!(spec::GREET.service, "golden.v1.GreetService");
    assert_eq!(spec::GREET.method, "Greet");
    assert_eq!(spec::GREET.path, "/golden.v1.GreetService/Greet");
    let shapes = [
        (spec::GREET, StreamType::Unary, Idempotency::NoSideEffects),
        (
            spec::GREET_MANY,
            StreamType::ServerStream,
            Idempotency::Unknown,
        ),
        (
            spec::UPLOAD,
            StreamType::ClientStream,
            Idempotency::Idempotent,
        ),
        (spec::CHAT, StreamType::BidiStream, Idempotency::Unknown),
        (spec::TYPE, StreamType::Unary, Idempotency::Unknown),
    ];
    for (spec, stream_type, idempotency) in shapes {
        assert_eq!(spec.stream_type, stream_type, "{}", spec.method);
        assert_eq!(spec.idempotency, idempotency, "{}", spec.method);
    }
}

#[test]
fn routes_reach_the_implementation_and_the_defaults() {
    let routes = golden::greet_service_routes(Greeter);
    assert_eq!(routes.service_name, "golden.v1.GreetService");
    let registered: Vec<(&str, &str)> = routes
        .routes
        .iter()
        .map(|(spec, kind, _)| (spec.method, *kind))
        .collect();
    assert_eq!(
        registered,
        [
            ("Greet", "unary"),
            ("GreetMany", "server_stream"),
            ("Upload", "client_stream"),
            ("Chat", "bidi_stream"),
            ("Type", "unary"),
        ]
    );

    let request = GreetRequest {
        name: "Ada".into(),
        ..GreetRequest::default()
    };
    let reply: GreetResponse =
        ready(routes.call("/golden.v1.GreetService/Greet", request.clone())).unwrap();
    assert_eq!(reply.greeting, "Hello, Ada!");

    let upload = Streaming(vec![Chunk { data: vec![1, 2] }, Chunk { data: vec![3] }]);
    let summary: UploadSummary =
        ready(routes.call("/golden.v1.GreetService/Upload", upload)).unwrap();
    assert_eq!(summary.total_bytes, 3);

    let chat: ResponseStream<GreetResponse> = ready(routes.call(
        "/golden.v1.GreetService/Chat",
        Streaming(vec![request.clone()]),
    ))
    .unwrap();
    assert_eq!(
        chat.map(|r| r.unwrap().greeting).collect::<Vec<_>>(),
        ["Ada"]
    );

    let error = ready(
        routes.call::<ResponseStream<GreetResponse>>("/golden.v1.GreetService/GreetMany", request),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(error.code, Code::Unimplemented);
    assert_eq!(
        error.message,
        "golden.v1.GreetService.GreetMany is not implemented"
    );

    let error = ready(routes.call::<()>("/golden.v1.GreetService/Type", ())).unwrap_err();
    assert_eq!(
        error.message,
        "golden.v1.GreetService.Type is not implemented"
    );
}

#[test]
fn clients_call_with_the_method_specs() {
    let inner = codegen::Client::default();
    let client = golden::GreetServiceClient::new(inner.clone());
    let reply = ready(client.greet(GreetRequest::default())).unwrap();
    assert_eq!(reply.0, GreetResponse::default());
    ready(client.greet(Request::new(GreetRequest::default()))).unwrap();
    ready(client.greet_many(GreetRequest::default())).unwrap();
    let _upload = client.upload(codegen::CallOptions);
    let _chat = client.chat(codegen::CallOptions);
    #[allow(deprecated)]
    ready(client.r#type(())).unwrap();
    assert_eq!(
        *inner.calls.lock().unwrap(),
        [
            ("/golden.v1.GreetService/Greet", StreamType::Unary),
            ("/golden.v1.GreetService/Greet", StreamType::Unary),
            (
                "/golden.v1.GreetService/GreetMany",
                StreamType::ServerStream
            ),
            ("/golden.v1.GreetService/Upload", StreamType::ClientStream),
            ("/golden.v1.GreetService/Chat", StreamType::BidiStream),
            ("/golden.v1.GreetService/Type", StreamType::Unary),
        ]
    );
    let _ = golden::EmptyServiceClient::new(inner);
}

#[test]
fn empty_service_has_routes_too() {
    struct Nothing;
    impl golden::EmptyService for Nothing {}
    let routes = golden::empty_service_routes(Nothing);
    assert_eq!(routes.service_name, "golden.v1.EmptyService");
    assert!(routes.routes.is_empty());
}

#[test]
fn messages_reflect_their_descriptors() {
    let descriptor = GreetRequest::default().descriptor();
    assert_eq!(descriptor.full_name(), "golden.v1.GreetRequest");
    assert_eq!(
        descriptor
            .get_field_by_name("sent_at")
            .unwrap()
            .kind()
            .as_message()
            .unwrap()
            .full_name(),
        "google.protobuf.Timestamp"
    );
    let nested = golden::greet_request::Address::default().descriptor();
    assert_eq!(nested.full_name(), "golden.v1.GreetRequest.Address");
    // Every message of the set is in the global pool now, ready for `google.protobuf.Any`.
    let pool = prost_reflect::DescriptorPool::global();
    assert!(
        pool.get_message_by_name("golden.v1.UploadSummary")
            .is_some()
    );
    assert!(pool.get_service_by_name("golden.v1.GreetService").is_some());

    // Messages implement `prost::Name`, for error details and `Any`.
    assert_eq!(
        <GreetRequest as prost::Name>::type_url(),
        "type.googleapis.com/golden.v1.GreetRequest"
    );
    assert_eq!(
        <golden::greet_request::Address as prost::Name>::full_name(),
        "golden.v1.GreetRequest.Address"
    );
}
