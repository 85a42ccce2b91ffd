// The transport against a real Trident server: the demo's `server` binary (GreetService: Greet is
// unary, Countdown server streaming, Sum client streaming, Shout bidi), every call type with both
// codecs through a connect-es client, a full-duplex exchange (each answer read before the next line
// is sent), errors, deadlines, cancellation and a server that is not there. Node 20 has no global
// WebSocket, so the `ws` package's stands in for the browser's.
//
// Run by ../test.sh, which builds the server and sets DEMO_SERVER.
//   DEMO_SERVER  path of the demo server binary (default: ../../target/debug/server)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import WebSocket from "ws";
import { createWebSocketTransport, type WebSocketConstructor } from "../src/transport.js";
import { GreetService } from "./gen/trident/demo/v1/greet_pb.js";

const here = dirname(fileURLToPath(import.meta.url));
const serverPath = process.env.DEMO_SERVER ?? resolve(here, "../../../target/debug/server");
const TIMEOUT = 10_000;

/** Starts the demo server on a free loopback port; resolves with its base URL and process. */
function startServer(): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(serverPath, ["127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the demo server printed no address within ${TIMEOUT} ms:\n${output}`));
    }, TIMEOUT);
    child.on("error", reject);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      output += chunk;
      const found = output.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (found) {
        clearTimeout(timer);
        resolveStart({ url: found[0], child });
      }
    });
  });
}

/** An async iterable whose items the test pushes one at a time, ended with `end()`. */
function pushable<T>() {
  const items: T[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  return {
    push(item: T) {
      items.push(item);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = items.shift();
        if (next !== undefined) {
          yield next;
        } else if (ended) {
          return;
        } else {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      }
    },
  };
}

describe("WebSocket transport", () => {
  let server: { url: string; child: ChildProcess };

  before(async () => {
    server = await startServer();
  });

  after(() => {
    server?.child.kill();
  });

  const clientFor = (useBinaryFormat: boolean) =>
    createClient(
      GreetService,
      createWebSocketTransport({
        baseUrl: server.url,
        useBinaryFormat,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
      }),
    );

  for (const useBinaryFormat of [true, false]) {
    const codec = useBinaryFormat ? "proto" : "json";

    test(`every call type (${codec})`, async () => {
      const client = clientFor(useBinaryFormat);

      let header: Headers | undefined;
      const greeting = await client.greet({ name: "socket" }, { onHeader: (h) => (header = h) });
      assert.equal(greeting.greeting, "Hello, socket!");
      assert.equal(header?.get("x-greeter"), "trident");

      const numbers: number[] = [];
      for await (const response of client.countdown({ from: 3 })) numbers.push(response.number);
      assert.deepEqual(numbers, [3, 2, 1]);

      async function* addends() {
        for (const number of [1n, 2n, 39n]) yield { number };
      }
      const sum = await client.sum(addends());
      assert.equal(sum.total, 42n);
      assert.equal(sum.count, 3);

      const empty = await client.sum((async function* () {})());
      assert.equal(empty.count, 0);
    });

    test(`a bidi stream is full duplex (${codec})`, async () => {
      const client = clientFor(useBinaryFormat);
      const lines = pushable<{ line: string }>();
      const answers = client.shout(lines)[Symbol.asyncIterator]();
      // Each answer arrives while the request stream is still open, before the next line is sent.
      for (const line of ["one", "two", "three"]) {
        lines.push({ line });
        const answer = await answers.next();
        assert.equal(answer.done, false);
        assert.equal(answer.value?.line, line.toUpperCase());
      }
      lines.end();
      assert.equal((await answers.next()).done, true);
    });
  }

  test("errors carry their code and message", async () => {
    const client = clientFor(true);
    await assert.rejects(client.greet({ name: "" }), (error: unknown) => {
      const failed = ConnectError.from(error);
      assert.equal(failed.code, Code.InvalidArgument);
      assert.equal(failed.rawMessage, "name must not be empty");
      return true;
    });
    await assert.rejects(
      (async () => {
        for await (const _ of client.countdown({ from: 101 })) {
          // No message comes.
        }
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.OutOfRange,
    );
  });

  test("a deadline and a cancellation end the call", async () => {
    const client = clientFor(true);
    const lines = pushable<{ line: string }>();
    // A bidi stream waiting for lines that never come: the deadline ends it.
    await assert.rejects(
      (async () => {
        for await (const _ of client.shout(lines, { timeoutMs: 200 })) {
          // Nothing is sent, so nothing comes.
        }
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.DeadlineExceeded,
    );
    const abort = new AbortController();
    const started = client.shout(pushable<{ line: string }>(), { signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    await assert.rejects(
      (async () => {
        for await (const _ of started) {
          // Nothing comes before the abort.
        }
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.Canceled,
    );
  });

  test("a server that is not there is unavailable", async () => {
    const client = createClient(
      GreetService,
      createWebSocketTransport({
        baseUrl: "http://127.0.0.1:9",
        WebSocket: WebSocket as unknown as WebSocketConstructor,
      }),
    );
    await assert.rejects(client.greet({ name: "nobody" }), (error: unknown) => {
      assert.equal(ConnectError.from(error).code, Code.Unavailable);
      return true;
    });
  });
});
