// The page's WebSocket mode: every call over Trident's WebSocket transport, and the watches
// multiplexed on one bidi `WatchStream`, full duplex: the page creates and cancels watches on the
// stream while their events arrive. Watch 1 follows the prefix in the form (the key table, as in the
// other modes); the "More watches" panel adds others (`watch-form` below) and cancels them.
//
// When the stream breaks, every watch is created again on a new one, each from the revision after the
// last it reached: no gap, no duplicate.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import {
  CancelReason,
  KvService,
  WatchStreamRequestSchema,
  type Event,
  type WatchStreamRequest,
} from "./gen/trident/watch/v1/watch_pb.js";

/** What the page does with what the stream brings (see main.ts). */
export interface Page {
  setStatus(state: "connecting" | "live" | "error", text: string): void;
  /** Lists the keys under the prefix; answers the revision to watch from, and the store's id. */
  list(prefix: string, signal: AbortSignal): Promise<{ from: bigint; storeId: string }>;
  /** An event of watch 1 (the prefix): the key table and the event list. */
  applyEvent(event: Event): void;
  setRevision(revision: bigint): void;
  /** An event of another watch: the event list, marked with the watch. */
  showEvent(event: Event, watch: string): void;
}

/** One watch on the stream. */
interface Watch {
  id: bigint;
  key: string;
  prefix: boolean;
  /** The revision to create it from again: the one after the last it reached. */
  from: bigint;
  events: number;
  row?: HTMLLIElement;
}

/** An async iterable of the requests the page sends, pushed as the user acts. */
class Requests implements AsyncIterable<WatchStreamRequest> {
  private readonly items: WatchStreamRequest[] = [];
  private wake?: () => void;
  private ended = false;

  push(request: WatchStreamRequest) {
    this.items.push(request);
    this.wake?.();
  }

  end() {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        yield next;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    }
  }
}

/** The panel of further watches: the form that adds one, and the list with their cancel buttons. */
const panel = {
  form: document.getElementById("more-form") as HTMLFormElement,
  key: document.getElementById("more-key") as HTMLInputElement,
  prefix: document.getElementById("more-prefix") as HTMLInputElement,
  list: document.getElementById("watches") as HTMLUListElement,
  section: document.getElementById("more-watches") as HTMLElement,
};

/** Follows the prefix (watch 1) and the panel's watches on one `WatchStream`, until `signal`. */
export async function followMultiplexed(
  client: Client<typeof KvService>,
  prefix: string,
  page: Page,
  signal: AbortSignal,
) {
  panel.section.hidden = false;
  panel.list.replaceChildren();
  const watches = new Map<bigint, Watch>();
  let nextId = 2n;
  let requests: Requests | undefined;
  let storeId = "";

  const createRequest = (watch: Watch) =>
    create(WatchStreamRequestSchema, {
      request: {
        case: "create",
        value: {
          key: watch.key,
          prefix: watch.prefix,
          startRevision: watch.from,
          watchId: watch.id,
          storeId,
          progressIntervalMs: 10_000,
        },
      },
    });

  const addWatch = (event: SubmitEvent) => {
    event.preventDefault();
    const watch: Watch = {
      id: nextId++,
      key: panel.key.value,
      prefix: panel.prefix.checked,
      from: 0n,
      events: 0,
    };
    watches.set(watch.id, watch);
    watch.row = watchRow(watch, () => {
      requests?.push(
        create(WatchStreamRequestSchema, {
          request: { case: "cancel", value: { watchId: watch.id } },
        }),
      );
    });
    panel.list.append(watch.row);
    requests?.push(createRequest(watch));
  };
  panel.form.addEventListener("submit", addWatch);
  signal.addEventListener("abort", () => {
    panel.form.removeEventListener("submit", addWatch);
    panel.section.hidden = true;
    requests?.end();
  });

  let listed = false;
  while (!signal.aborted) {
    try {
      page.setStatus("connecting", "connecting over WebSocket…");
      if (!listed) {
        const answer = await page.list(prefix, signal);
        storeId = answer.storeId;
        watches.set(1n, { id: 1n, key: prefix, prefix: true, from: answer.from, events: 0 });
        listed = true;
      }
      requests = new Requests();
      for (const watch of watches.values()) requests.push(createRequest(watch));
      for await (const response of client.watchStream(requests, { signal })) {
        const watch = watches.get(response.watchId);
        if (!watch) continue;
        if (response.canceled) {
          watches.delete(watch.id);
          watch.row?.remove();
          if (watch.id === 1n) {
            // The prefix's own watch ended (compacted, another store, fell behind): list again.
            listed = response.cancelReason === CancelReason.FELL_BEHIND;
            if (listed) {
              watches.set(1n, { ...watch, from: response.resumeRevision });
            }
            throw new ConnectError(response.cancelMessage || "the watch was cancelled", Code.Aborted);
          }
          continue;
        }
        if (response.created) {
          // Without a start revision, a watch reports the changes after the one it was created at.
          if (watch.from === 0n) watch.from = response.revision + 1n;
          if (watch.id === 1n) page.setStatus("live", "live over WebSocket (one WatchStream)");
          watch.row?.classList.add("live");
          continue;
        }
        for (const event of response.events) {
          if (watch.id === 1n) page.applyEvent(event);
          else page.showEvent(event, `${watch.key}${watch.prefix ? "*" : ""}`);
          watch.events += 1;
        }
        if (watch.id === 1n) page.setRevision(response.revision);
        watch.from = response.revision + 1n;
        const count = watch.row?.querySelector(".count");
        if (count) count.textContent = String(watch.events);
      }
    } catch (cause) {
      if (signal.aborted) return;
      const error = ConnectError.from(cause);
      page.setStatus("error", `WebSocket: ${error.rawMessage || Code[error.code]} (retrying)`);
    }
    requests?.end();
    for (const watch of watches.values()) watch.row?.classList.remove("live");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The panel's row of a watch, with its cancel button. */
function watchRow(watch: Watch, cancel: () => void): HTMLLIElement {
  const row = document.createElement("li");
  row.dataset.watchId = String(watch.id);
  row.dataset.key = watch.key;
  const name = document.createElement("span");
  name.className = "mono key";
  name.textContent = `#${watch.id} ${watch.key}${watch.prefix ? "*" : ""}`;
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = "0";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "remove";
  button.title = `Cancel watch ${watch.id}`;
  button.textContent = "×";
  button.addEventListener("click", cancel);
  row.append(name, count, button);
  return row;
}
