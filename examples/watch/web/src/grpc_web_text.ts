// A check of gRPC-Web's text mode against the Trident server, with grpc-web's own JavaScript client (the
// `grpc-web` package, whose `text` format is what its code generator uses by default): a unary Put, a
// server-streaming Watch that replays it and then follows a second Put, and an error status. The page
// (grpc-web-text.html?prefix=...) writes what it saw into #result as JSON; test/page.test.mjs reads it.

import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { GrpcWebClientBase, MethodDescriptor, MethodType, type RpcError } from "grpc-web";
import {
  PutRequestSchema,
  PutResponseSchema,
  WatchRequestSchema,
  WatchResponseSchema,
  type PutResponse,
  type WatchResponse,
} from "./gen/trident/watch/v1/watch_pb.js";

const SERVICE = "trident.watch.v1.KvService";
const TIMEOUT_MS = 10_000;

/** A grpc-web method descriptor whose messages are encoded with @bufbuild/protobuf. */
function method<I extends DescMessage, O extends DescMessage>(
  name: string,
  type: string,
  input: I,
  output: O,
): MethodDescriptor<MessageShape<I>, MessageShape<O>> {
  // grpc-web only calls the two functions; the constructors are for its generated code.
  const unused = Object as unknown as new () => never;
  return new MethodDescriptor(
    `/${SERVICE}/${name}`,
    type,
    unused,
    unused,
    (message: MessageShape<I>) => toBinary(input, message),
    (bytes: Uint8Array) => fromBinary(output, bytes),
  );
}

const put = method("Put", MethodType.UNARY, PutRequestSchema, PutResponseSchema);
const watch = method("Watch", MethodType.SERVER_STREAMING, WatchRequestSchema, WatchResponseSchema);

const client = new GrpcWebClientBase({ format: "text" });
const base = window.location.origin;

function putKey(key: string, value: string): Promise<PutResponse> {
  return client.unaryCall(`${base}${put.getName()}`, create(PutRequestSchema, { key, value }), {}, put);
}

/** Watches `prefix` from `startRevision` until `done` says the responses so far are enough. */
function watchUntil(
  prefix: string,
  startRevision: bigint,
  onResponse: (response: WatchResponse) => void,
  done: () => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = create(WatchRequestSchema, { key: prefix, prefix: true, startRevision });
    const stream = client.serverStreaming(`${base}${watch.getName()}`, request, {}, watch);
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`the watch did not deliver within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    stream.on("data", (response) => {
      onResponse(response);
      if (done()) {
        clearTimeout(timer);
        stream.cancel();
        resolve();
      }
    });
    stream.on("error", (error: RpcError) => {
      clearTimeout(timer);
      reject(new Error(`watch failed: ${error.code} ${error.message}`));
    });
  });
}

async function run(): Promise<unknown> {
  const prefix = new URLSearchParams(window.location.search).get("prefix") ?? "grpc-web-text/";
  const first = await putKey(`${prefix}a`, "one");
  const events: string[] = [];
  let created = false;
  let secondPut: Promise<PutResponse> | undefined;
  await watchUntil(
    prefix,
    first.revision,
    (response) => {
      created ||= response.created;
      for (const event of response.events) {
        events.push(`${event.kv?.key}=${event.kv?.value}@${event.kv?.modRevision}`);
      }
      // Once the replayed event is in, a live change must arrive on the same stream.
      if (events.length === 1 && !secondPut) secondPut = putKey(`${prefix}b`, "two");
    },
    () => events.length >= 2,
  );
  const second = await secondPut;
  let error: { code: number; message: string } | undefined;
  try {
    await putKey("", "a key must not be empty");
  } catch (e) {
    const rpcError = e as RpcError;
    error = { code: rpcError.code, message: rpcError.message };
  }
  return {
    firstRevision: String(first.revision),
    secondRevision: String(second?.revision),
    created,
    events,
    error,
  };
}

const result = document.getElementById("result");
run().then(
  (outcome) => {
    if (result) {
      result.textContent = JSON.stringify(outcome);
      result.dataset.state = "done";
    }
  },
  (error: Error) => {
    if (result) {
      result.textContent = `failed: ${error.message}`;
      result.dataset.state = "failed";
    }
  },
);
