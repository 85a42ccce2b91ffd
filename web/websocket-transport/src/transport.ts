// A connect-es `Transport` over WebSocket, for Trident servers: every call type, full duplex, from a
// browser. `fetch` cannot stream a request body while it reads the response (browsers make request
// streams half duplex at best), so connect-es's own transports cannot run a bidi stream; a WebSocket
// can, and a Trident server serves every method over one (see the guide's "WebSocket" section).
//
// The wire, one WebSocket per call, to the method's URL with `ws:`/`wss:`:
// - subprotocol `trident.connect.proto` or `trident.connect.json` (the codec);
// - the client's first message is text, `{"headers": {...}}`: the call's request headers (a browser
//   cannot set headers on a WebSocket), with `connect-timeout-ms` for a deadline;
// - then each request message is one binary message holding one Connect envelope (flags byte,
//   4-byte big-endian length, payload), and the end of the request stream an envelope flagged 0x02
//   with no payload (closing the socket would also stop the responses);
// - the server answers with a text message `{"headers": {...}}`, a binary message per response
//   envelope, and Connect's end-stream envelope (flag 0x02: trailers and the error, if any), then
//   closes with 1000. A socket that closes without an end-stream failed: its close code says how.
//
// Written for connect-es 2 with its public transport-author API (`runUnaryCall`, `runStreamingCall`,
// `createClientMethodSerializers`, `createMethodUrl`, `encodeEnvelope`); no compression (messages go
// uncompressed, as browsers' WebSockets have their own).

import type {
  BinaryReadOptions,
  BinaryWriteOptions,
  DescMessage,
  DescMethod,
  DescMethodStreaming,
  DescMethodUnary,
  JsonReadOptions,
  JsonWriteOptions,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  createClientMethodSerializers,
  createMethodUrl,
  encodeEnvelope,
  runStreamingCall,
  runUnaryCall,
} from "@connectrpc/connect/protocol";

/** The subprotocol of calls whose messages are protobuf binary. */
export const SUBPROTOCOL_PROTO = "trident.connect.proto";
/** The subprotocol of calls whose messages are JSON. */
export const SUBPROTOCOL_JSON = "trident.connect.json";

const FLAG_COMPRESSED = 0x01;
const FLAG_END_STREAM = 0x02;

/** What a `WebSocket` class must offer: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly protocol: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A constructor of [`WebSocketLike`] sockets. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** The options of [`createWebSocketTransport`]. */
export interface WebSocketTransportOptions {
  /** The server's base URL (`http(s)://` is taken as `ws(s)://`), as for connect-es's transports. */
  baseUrl: string;
  /** Protobuf binary (the default) or JSON messages. */
  useBinaryFormat?: boolean;
  /** Interceptors, as connect-es's transports take them. */
  interceptors?: Interceptor[];
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  binaryOptions?: Partial<BinaryReadOptions & BinaryWriteOptions>;
  /** The `WebSocket` class (default: the global one; in Node 20, pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /**
   * How many bytes may wait in the socket's send buffer before sending a request message waits for
   * it to drain (default 1 MiB): a server that reads slowly slows the sender rather than the page's
   * memory growing.
   */
  maxBufferedBytes?: number;
}

/** A connect-es transport that runs every call over a WebSocket of its own (see the module docs). */
export function createWebSocketTransport(options: WebSocketTransportOptions): Transport {
  const useBinaryFormat = options.useBinaryFormat ?? true;
  const Socket =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Socket) {
    throw new Error("no WebSocket class: pass one as `WebSocket` in the options");
  }
  const settings: Settings = {
    Socket,
    subprotocol: useBinaryFormat ? SUBPROTOCOL_PROTO : SUBPROTOCOL_JSON,
    maxBufferedBytes: options.maxBufferedBytes ?? 1 << 20,
  };
  const serializers = <I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O> | DescMethodStreaming<I, O>,
  ) =>
    createClientMethodSerializers(
      method,
      useBinaryFormat,
      options.jsonOptions,
      options.binaryOptions,
    );
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      message: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const { serialize, parse } = serializers(method);
      return await runUnaryCall<I, O>({
        interceptors: options.interceptors,
        signal,
        timeoutMs,
        req: {
          ...requestCommon(options.baseUrl, method, timeoutMs, header, contextValues),
          stream: false,
          method,
          message,
        },
        next: async (req) => {
          const call = new Call(settings, req.url, req.header, req.signal);
          await call.send(serialize(req.message));
          call.endRequests();
          const responseHeader = await call.head;
          let output: MessageShape<O> | undefined;
          for await (const payload of call.messages()) {
            if (output !== undefined) {
              throw new ConnectError("a unary call answered more than one message", Code.Unimplemented);
            }
            output = parse(payload);
          }
          if (output === undefined) {
            throw new ConnectError("a unary call answered no message", Code.Unimplemented);
          }
          return {
            stream: false,
            service: method.parent,
            method,
            header: responseHeader,
            message: output,
            trailer: call.trailer,
          };
        },
      });
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const { serialize, parse } = serializers(method);
      return await runStreamingCall<I, O>({
        interceptors: options.interceptors,
        signal,
        timeoutMs,
        req: {
          ...requestCommon(options.baseUrl, method, timeoutMs, header, contextValues),
          stream: true,
          method,
          message: input,
        },
        next: async (req) => {
          const call = new Call(settings, req.url, req.header, req.signal);
          // Requests go out as they come, while responses arrive: full duplex.
          void (async () => {
            for await (const message of req.message) {
              await call.send(serialize(message));
            }
            call.endRequests();
          })().catch((cause: unknown) => call.fail(ConnectError.from(cause)));
          const responseHeader = await call.head;
          return {
            stream: true,
            service: method.parent,
            method,
            header: responseHeader,
            trailer: call.trailer,
            message: (async function* () {
              for await (const payload of call.messages()) {
                yield parse(payload);
              }
            })(),
          };
        },
      });
    },
  };
}

interface Settings {
  Socket: WebSocketConstructor;
  subprotocol: string;
  maxBufferedBytes: number;
}

/** What a call's request says whatever its type: the service, URL, headers and context values. */
function requestCommon(
  baseUrl: string,
  method: DescMethod,
  timeoutMs: number | undefined,
  header: HeadersInit | undefined,
  contextValues: ContextValues | undefined,
) {
  return {
    service: method.parent,
    // connect-es's name for the HTTP method: a WebSocket opens with a GET.
    requestMethod: "GET",
    url: createMethodUrl(baseUrl, method),
    header: requestHeaders(timeoutMs, header),
    contextValues: contextValues ?? createContextValues(),
  };
}

/** The request headers of a call: the caller's, and the deadline as Connect states it. */
function requestHeaders(timeoutMs: number | undefined, header: HeadersInit | undefined): Headers {
  const headers = new Headers(header ?? {});
  if (timeoutMs !== undefined) headers.set("connect-timeout-ms", String(timeoutMs));
  return headers;
}

/** The `{"headers": ...}` text message of a call's head. */
function headJson(headers: Headers): string {
  const object: Record<string, string> = {};
  headers.forEach((value, name) => {
    object[name] = value;
  });
  return JSON.stringify({ headers: object });
}

/** The headers of a head message; throws on anything that is not one. */
function parseHead(text: string): Headers {
  const value: unknown = JSON.parse(text);
  const headers = new Headers();
  const fields = (value as { headers?: unknown } | null)?.headers;
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    throw new ConnectError("the server's head message has no headers object", Code.Internal);
  }
  for (const [name, values] of Object.entries(fields as Record<string, unknown>)) {
    for (const one of Array.isArray(values) ? values : [values]) {
      if (typeof one !== "string") {
        throw new ConnectError(`header ${name} is not text`, Code.Internal);
      }
      headers.append(name, one);
    }
  }
  return headers;
}

/** Connect's error codes by their JSON names. */
const CODES: Record<string, Code> = {
  canceled: Code.Canceled,
  unknown: Code.Unknown,
  invalid_argument: Code.InvalidArgument,
  deadline_exceeded: Code.DeadlineExceeded,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  out_of_range: Code.OutOfRange,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
  unavailable: Code.Unavailable,
  data_loss: Code.DataLoss,
  unauthenticated: Code.Unauthenticated,
};

/** Decodes unpadded or padded standard base64, as Connect's error details carry their values. */
function base64Bytes(text: string): Uint8Array {
  const binary = atob(text.replace(/=+$/, "").padEnd(Math.ceil(text.length / 4) * 4, "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Parses Connect's end-stream JSON: its trailers, and its error if the call failed. */
function parseEndStream(payload: Uint8Array): { trailer: Headers; error?: ConnectError } {
  const invalid = new ConnectError("the end-stream message is not valid", Code.Internal);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw invalid;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid;
  const { metadata, error } = value as { metadata?: unknown; error?: unknown };
  const trailer = new Headers();
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null) throw invalid;
    for (const [name, values] of Object.entries(metadata as Record<string, unknown>)) {
      if (!Array.isArray(values)) throw invalid;
      for (const one of values) trailer.append(name, String(one));
    }
  }
  if (error === undefined || error === null) return { trailer };
  const wire = error as { code?: string; message?: string; details?: unknown[] };
  const failed = new ConnectError(wire.message ?? "", CODES[wire.code ?? ""] ?? Code.Unknown, trailer);
  for (const detail of wire.details ?? []) {
    const { type, value: encoded, debug } = detail as { type?: string; value?: string; debug?: unknown };
    if (typeof type === "string" && typeof encoded === "string") {
      failed.details.push({ type, value: base64Bytes(encoded), debug: debug as never });
    }
  }
  return { trailer, error: failed };
}

/** What a close without an end-stream message means, by its code (RFC 6455 §7.4). */
function closeError(code: number, reason: string): ConnectError {
  const message = reason || `the WebSocket closed (${code}) before the call ended`;
  switch (code) {
    case 1001: // going away: the server is shutting down
    case 1006: // abnormal closure: the connection broke
    case 1012: // service restart
    case 1013: // try again later
      return new ConnectError(message, Code.Unavailable);
    case 1008: // policy violation
      return new ConnectError(message, Code.PermissionDenied);
    case 1009: // message too big
      return new ConnectError(message, Code.ResourceExhausted);
    case 1002: // protocol error
    case 1003: // unsupported data
    case 1007: // invalid payload
    case 1011: // internal error
      return new ConnectError(message, Code.Internal);
    default:
      return new ConnectError(message, Code.Unknown);
  }
}

/** One call on one WebSocket: sends the head and envelopes, reads the head, messages and ending. */
class Call {
  private readonly socket: WebSocketLike;
  private readonly opened: Promise<void>;
  /** The response headers, once the server's head arrives. */
  readonly head: Promise<Headers>;
  /** The response trailers, once the end-stream message arrives. */
  readonly trailer = new Headers();
  private resolveHead!: (headers: Headers) => void;
  private rejectHead!: (error: ConnectError) => void;
  private headSeen = false;
  /** Response payloads not yet read. */
  private readonly queue: Uint8Array[] = [];
  /** How the call ended: `null` cleanly, an error if it failed; `undefined` while it goes on. */
  private ending: ConnectError | null | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly settings: Settings,
    url: string,
    headers: Headers,
    signal: AbortSignal,
  ) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    // Nobody may await the head (a call that fails first); its rejection is reported elsewhere.
    this.head.catch(() => {});
    const socket = new settings.Socket(url.replace(/^http/, "ws"), [settings.subprotocol]);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.opened = new Promise((resolve, reject) => {
      socket.onopen = () => {
        socket.send(headJson(headers));
        resolve();
      };
      socket.onerror = () => {
        // A close event follows, with the code that says more.
      };
      socket.onclose = (event) => {
        const error = closeError(event.code, event.reason);
        reject(error);
        this.fail(error);
      };
    });
    this.opened.catch(() => {});
    socket.onmessage = (event) => this.receive(event.data);
    if (signal.aborted) {
      this.cancel(signal);
    } else {
      signal.addEventListener("abort", () => this.cancel(signal), { once: true });
    }
  }

  /** Sends one request message, once the socket is open and has room. */
  async send(payload: Uint8Array): Promise<void> {
    await this.opened;
    while (this.ending === undefined && this.socket.bufferedAmount > this.settings.maxBufferedBytes) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (this.ending !== undefined) {
      throw this.ending ?? new ConnectError("the call ended before the request did", Code.Canceled);
    }
    this.socket.send(encodeEnvelope(0, payload));
  }

  /** Ends the request stream (the server's handler sees its end). */
  endRequests(): void {
    void this.opened.then(
      () => {
        if (this.ending === undefined) this.socket.send(encodeEnvelope(FLAG_END_STREAM, new Uint8Array(0)));
      },
      () => {},
    );
  }

  /** The response payloads as they arrive; throws the call's error after the last one. */
  async *messages(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ending === null) return;
      if (this.ending !== undefined) throw this.ending;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Ends the call with `error` (the request stream failed, or the socket broke), if not over. */
  fail(error: ConnectError): void {
    if (this.ending !== undefined) return;
    this.finish(error);
    if (this.socket.readyState <= 1) this.socket.close(1000);
  }

  private cancel(signal: AbortSignal): void {
    // After a call that ended, the signal only says it is over.
    if (this.ending !== undefined) return;
    this.fail(ConnectError.from(signal.reason ?? "the call was aborted", Code.Canceled));
  }

  private finish(ending: ConnectError | null): void {
    this.ending = ending;
    if (!this.headSeen) {
      this.rejectHead(ending ?? new ConnectError("the call ended without a head", Code.Internal));
    }
    this.wake?.();
    this.wake = undefined;
  }

  private receive(data: unknown): void {
    if (this.ending !== undefined) return;
    try {
      if (typeof data === "string") {
        if (this.headSeen) throw new ConnectError("a second head message", Code.Internal);
        this.headSeen = true;
        this.resolveHead(parseHead(data));
        return;
      }
      if (!this.headSeen) throw new ConnectError("a message before the head", Code.Internal);
      const bytes = new Uint8Array(data as ArrayBuffer);
      if (bytes.length < 5) throw new ConnectError("a message shorter than an envelope", Code.Internal);
      const flags = bytes[0];
      const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
      if (length !== bytes.length - 5) {
        throw new ConnectError("a message that is not exactly one envelope", Code.Internal);
      }
      const payload = bytes.subarray(5);
      if (flags & FLAG_END_STREAM) {
        const { trailer, error } = parseEndStream(payload);
        trailer.forEach((value, name) => this.trailer.append(name, value));
        this.finish(error ?? null);
        return;
      }
      if (flags & FLAG_COMPRESSED) {
        throw new ConnectError("a compressed message, which this transport never asked for", Code.Internal);
      }
      this.queue.push(payload);
      this.wake?.();
      this.wake = undefined;
    } catch (cause) {
      this.fail(ConnectError.from(cause, Code.Internal));
    }
  }
}
