// The live page of the watch example: lists the keys under a prefix, then follows their changes with a
// server-streaming Watch, over Connect or gRPC-Web, or as server-sent events with the browser's own
// `EventSource` and no library at all; or, over WebSocket, multiplexes it and any further watches on
// one bidi WatchStream (watch_stream.ts). The switch in the header, or `?protocol=grpc-web|sse|websocket`.
//
// It follows the pattern of a Kubernetes reflector: list (Range) at a revision, watch from the next
// revision, and when the stream breaks, watch again from the last revision seen. A watch whose start
// revision was compacted (`out_of_range`) lists again; one that fell behind (`resource_exhausted`)
// resumes from the revision in its error details.

import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { createWebSocketTransport } from "../../../../web/websocket-transport/src/transport.js";
import { followMultiplexed } from "./watch_stream.js";
import {
  CompactedDetailSchema,
  EventType,
  FellBehindDetailSchema,
  KvService,
  WatchRequestSchema,
  WatchResponseSchema,
  type Event,
  type KeyValue,
} from "./gen/trident/watch/v1/watch_pb.js";

type Protocol = "connect" | "grpc-web" | "sse" | "websocket";
type State = "idle" | "connecting" | "live" | "error";

const MAX_EVENTS = 200;
const RETRY_MS = 1000;

const PROTOCOL_NAMES: Record<Protocol, string> = {
  connect: "Connect (JSON over fetch; Range uses HTTP GET)",
  "grpc-web": "gRPC-Web (binary protobuf over fetch)",
  sse: "server-sent events (EventSource; Range and Put over Connect)",
  websocket: "WebSocket (every call, and one bidi WatchStream for every watch)",
};

/** The transport of the unary calls (and, over Connect and gRPC-Web, of the watch). */
function transportFor(protocol: Protocol): Transport {
  // The server that served this page answers every protocol on the same port.
  const baseUrl = window.location.origin;
  switch (protocol) {
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl });
    case "websocket":
      return createWebSocketTransport({ baseUrl });
    default:
      return createConnectTransport({ baseUrl, useHttpGet: true });
  }
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
}

const ui = {
  status: element<HTMLDivElement>("status"),
  statusText: element<HTMLSpanElement>("status-text"),
  revision: element<HTMLElement>("revision"),
  keys: element<HTMLTableElement>("keys").tBodies[0],
  keyCount: element<HTMLSpanElement>("key-count"),
  keysEmpty: element<HTMLParagraphElement>("keys-empty"),
  events: element<HTMLOListElement>("events"),
  eventCount: element<HTMLSpanElement>("event-count"),
  eventsEmpty: element<HTMLParagraphElement>("events-empty"),
  prefix: element<HTMLInputElement>("prefix"),
  watchForm: element<HTMLFormElement>("watch-form"),
  putForm: element<HTMLFormElement>("put-form"),
  putKey: element<HTMLInputElement>("put-key"),
  putValue: element<HTMLInputElement>("put-value"),
  footer: element<HTMLElement>("footer"),
};

/** What the page currently shows. */
const view = {
  keys: new Map<string, KeyValue>(),
  revision: 0n,
  eventsSeen: 0,
};

let protocol: Protocol = "connect";
let client: Client<typeof KvService> = createClient(KvService, transportFor(protocol));
let session: AbortController | undefined;

function setStatus(state: State, text: string) {
  ui.status.dataset.state = state;
  ui.status.dataset.protocol = protocol;
  ui.statusText.textContent = text;
}

function protocolLabel(): string {
  return {
    connect: "Connect",
    "grpc-web": "gRPC-Web",
    sse: "server-sent events",
    websocket: "WebSocket",
  }[protocol];
}

function setRevision(revision: bigint) {
  if (revision > view.revision) view.revision = revision;
  ui.revision.textContent = view.revision.toString();
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderKeys(fresh?: string) {
  const rows = [...view.keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  ui.keys.replaceChildren(
    ...rows.map((kv) => {
      const tr = document.createElement("tr");
      tr.dataset.key = kv.key;
      if (kv.key === fresh) tr.className = "fresh";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.title = `Delete ${kv.key}`;
      remove.textContent = "×";
      remove.addEventListener("click", () => void deleteKey(kv.key));
      const actions = document.createElement("td");
      actions.append(remove);
      tr.append(
        cell(kv.key, "mono key"),
        cell(kv.value, "mono value"),
        cell(kv.version.toString(), "num"),
        cell(kv.modRevision.toString(), "num"),
        actions,
      );
      return tr;
    }),
  );
  ui.keyCount.textContent = String(rows.length);
  ui.keysEmpty.hidden = rows.length > 0;
}

function span(text: string, className: string): HTMLSpanElement {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

/** Adds an event to the list; `watch` names the watch it came from, when not the prefix's own. */
function showEvent(event: Event, watch?: string) {
  const kv = event.kv;
  if (!kv) return;
  const put = event.type === EventType.PUT;
  const li = document.createElement("li");
  li.className = "event";
  li.dataset.key = kv.key;
  li.dataset.type = put ? "put" : "delete";
  li.dataset.protocol = protocol;
  if (watch) li.dataset.watch = watch;
  const what = document.createElement("span");
  what.className = "what";
  what.append(span(kv.key, "key"));
  if (put) what.append(span(kv.value, "value"));
  if (event.prevKv) what.append(span(` (was ${event.prevKv.value})`, "prev"));
  li.append(
    span(new Date().toLocaleTimeString(undefined, { hour12: false }), "time"),
    span(`#${kv.modRevision}`, "rev"),
    span(put ? "PUT" : "DELETE", `type ${put ? "put" : "delete"}`),
    what,
  );
  if (watch) li.append(span(`watch ${watch}`, "via"));
  ui.events.prepend(li);
  while (ui.events.children.length > MAX_EVENTS) ui.events.lastElementChild?.remove();
  view.eventsSeen += 1;
  ui.eventCount.textContent = String(view.eventsSeen);
  ui.eventsEmpty.hidden = true;
}

function applyEvent(event: Event) {
  const kv = event.kv;
  if (!kv) return;
  if (event.type === EventType.PUT) view.keys.set(kv.key, kv);
  else if (event.type === EventType.DELETE) view.keys.delete(kv.key);
  showEvent(event);
  renderKeys(kv.key);
  setRevision(kv.modRevision);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The store the listed keys and revisions come from (every answer names its store). */
let listedStore = "";

/** Lists the keys under `prefix` and answers the revision to watch from. */
async function list(prefix: string, signal: AbortSignal): Promise<bigint> {
  const answer = await client.range({ key: prefix, prefix: true }, { signal });
  listedStore = answer.storeId;
  view.keys = new Map(answer.kvs.map((kv) => [kv.key, kv]));
  view.revision = 0n;
  setRevision(answer.revision);
  renderKeys();
  return answer.revision + 1n;
}

/** List, then watch; on a broken stream, watch again from where it stopped. Runs until aborted. */
async function follow(prefix: string, signal: AbortSignal) {
  let from: bigint | undefined;
  while (!signal.aborted) {
    try {
      setStatus("connecting", `connecting over ${protocolLabel()}…`);
      if (from === undefined) from = await list(prefix, signal);
      // Naming the store makes a server with another one (a new, empty store, or another's data)
      // refuse the watch rather than replay a different history from `from`.
      const stream = client.watch(
        {
          key: prefix,
          prefix: true,
          startRevision: from,
          progressIntervalMs: 10_000,
          storeId: listedStore,
        },
        { signal },
      );
      for await (const response of stream) {
        if (response.created && response.storeId !== listedStore) {
          // Another store answers (a server without the check): its revisions are not ours. List again.
          from = undefined;
          break;
        }
        if (response.created) {
          // Its revision is the store's now; history from `from` on (if any) is still to come.
          setStatus("live", `live over ${protocolLabel()}`);
          continue;
        }
        // Events, or progress: every matching change up to `revision` has been sent.
        for (const event of response.events) applyEvent(event);
        setRevision(response.revision);
        from = view.revision + 1n;
      }
      // The stream ended without an error (the server is shutting down, or restarted): watch again.
    } catch (cause) {
      if (signal.aborted) return;
      const error = ConnectError.from(cause);
      if (error.code === Code.OutOfRange && error.findDetails(CompactedDetailSchema).length > 0) {
        from = undefined; // The history we needed is gone: list again.
      } else if (error.code === Code.FailedPrecondition) {
        from = undefined; // The server's store is another one: list it afresh.
      } else if (error.code === Code.ResourceExhausted) {
        const [detail] = error.findDetails(FellBehindDetailSchema);
        if (detail) from = detail.resumeRevision;
      }
      setStatus("error", `${protocolLabel()}: ${error.rawMessage || Code[error.code]} (retrying)`);
    }
    await sleep(RETRY_MS, signal);
  }
}

/**
 * List, then follow the watch as server-sent events with a plain `EventSource`. The server names each
 * event after the store and revision it reached; when the connection breaks (the server restarts, say),
 * `EventSource` reconnects by itself with the last name it saw in `Last-Event-ID`, and the server
 * resumes after that revision: no gap, no duplicate, and nothing for the page to do. A failed watch
 * arrives as an `error` event with Connect's error JSON: the page then lists again and starts over.
 */
async function followEvents(prefix: string, signal: AbortSignal) {
  let from: bigint | undefined;
  while (!signal.aborted) {
    try {
      setStatus("connecting", `connecting over ${protocolLabel()}…`);
      if (from === undefined) from = await list(prefix, signal);
    } catch (cause) {
      if (signal.aborted) return;
      setStatus("error", `Range: ${ConnectError.from(cause).rawMessage} (retrying)`);
      await sleep(RETRY_MS, signal);
      continue;
    }
    const request = create(WatchRequestSchema, {
      key: prefix,
      prefix: true,
      startRevision: from,
      progressIntervalMs: 10_000,
      storeId: listedStore,
    });
    const query = encodeURIComponent(JSON.stringify(toJson(WatchRequestSchema, request)));
    const source = new EventSource(`/trident.watch.v1.KvService/Watch?message=${query}`);
    const ending = await new Promise<"aborted" | "ended" | "failed">((settle) => {
      signal.addEventListener("abort", () => settle("aborted"));
      source.addEventListener("message", (event) => {
        const response = fromJson(WatchResponseSchema, JSON.parse(event.data));
        if (response.created) {
          setStatus("live", `live over ${protocolLabel()}`);
          return;
        }
        // Events, or progress: every matching change up to `revision` has been sent.
        for (const change of response.events) applyEvent(change);
        setRevision(response.revision);
      });
      // The server's `error` event (the watch failed: it carries Connect's error JSON), or the
      // connection's own (no data: EventSource reconnects by itself, unless it gave up and closed).
      source.addEventListener("error", (event) => {
        const data = (event as MessageEvent).data;
        if (typeof data === "string") {
          const error = JSON.parse(data) as { code?: string; message?: string };
          setStatus("error", `${protocolLabel()}: ${error.message ?? error.code} (listing again)`);
          settle("failed");
        } else if (source.readyState === EventSource.CLOSED) {
          setStatus("error", `${protocolLabel()}: the connection closed (retrying)`);
          settle("ended");
        } else {
          setStatus("connecting", `${protocolLabel()}: reconnecting…`);
        }
      });
      // The server ended the stream (it is shutting down): watch again from where it stopped.
      source.addEventListener("end", () => settle("ended"));
    });
    source.close();
    if (ending === "aborted") return;
    // A failed watch (compacted, another store, fell behind) lists afresh; an ended one resumes.
    from = ending === "failed" ? undefined : view.revision + 1n;
    await sleep(RETRY_MS, signal);
  }
}

/** Starts watching the prefix in the form, ending the previous watch. */
function restart() {
  session?.abort();
  session = new AbortController();
  ui.events.replaceChildren();
  view.eventsSeen = 0;
  ui.eventCount.textContent = "0";
  ui.eventsEmpty.hidden = false;
  ui.footer.textContent = `Talking to ${window.location.host} with ${PROTOCOL_NAMES[protocol]}.`;
  const params = new URLSearchParams(window.location.search);
  params.set("protocol", protocol);
  if (ui.prefix.value) params.set("prefix", ui.prefix.value);
  else params.delete("prefix");
  history.replaceState(null, "", `?${params}`);
  if (protocol === "sse") void followEvents(ui.prefix.value, session.signal);
  else if (protocol === "websocket") {
    const page = {
      setStatus,
      list: async (prefix: string, signal: AbortSignal) => ({
        from: await list(prefix, signal),
        storeId: listedStore,
      }),
      applyEvent,
      setRevision,
      showEvent,
    };
    void followMultiplexed(client, ui.prefix.value, page, session.signal);
  } else void follow(ui.prefix.value, session.signal);
}

function switchProtocol(next: Protocol) {
  protocol = next;
  client = createClient(KvService, transportFor(protocol === "sse" ? "connect" : protocol));
  for (const input of document.querySelectorAll<HTMLInputElement>('input[name="protocol"]')) {
    input.checked = input.value === protocol;
  }
  restart();
}

async function putKey(key: string, value: string) {
  try {
    await client.put({ key, value });
  } catch (cause) {
    setStatus("error", `Put failed: ${ConnectError.from(cause).rawMessage}`);
  }
}

async function deleteKey(key: string) {
  try {
    await client.delete({ key });
  } catch (cause) {
    setStatus("error", `Delete failed: ${ConnectError.from(cause).rawMessage}`);
  }
}

function main() {
  const params = new URLSearchParams(window.location.search);
  ui.prefix.value = params.get("prefix") ?? "";
  for (const input of document.querySelectorAll<HTMLInputElement>('input[name="protocol"]')) {
    input.addEventListener("change", () => {
      if (input.checked) switchProtocol(input.value as Protocol);
    });
  }
  ui.watchForm.addEventListener("submit", (e) => {
    e.preventDefault();
    restart();
  });
  ui.putForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void putKey(ui.putKey.value, ui.putValue.value);
  });
  const asked = params.get("protocol");
  switchProtocol(asked === "grpc-web" || asked === "sse" || asked === "websocket" ? asked : "connect");
}

main();
