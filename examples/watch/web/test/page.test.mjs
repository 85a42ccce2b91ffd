// End-to-end test of the page: starts watch-server serving the built bundle (dist/), opens the page in
// headless Chromium (Debian's `chromium`, driven by playwright-core), puts keys with Connect calls from
// here, and checks that the page shows them, over Connect, gRPC-Web, server-sent events (the
// browser's own EventSource) and WebSocket (Trident's connect-es transport), that an EventSource
// resumes after the server is killed and restarted with no gap and no duplicate, and that over
// WebSocket the page adds and cancels watches on one bidi WatchStream while events arrive. Then the same browser runs grpc-web-text.html: grpc-web's
// own client in its text mode (application/grpc-web-text).
//
// Run by ../test.sh, which installs Chromium, builds the page and the server, and sets WATCH_SERVER.
//   WATCH_SERVER  path of the watch-server binary (default: ../../../target/debug/watch-server)
//   CHROMIUM      path of the browser (default: /usr/bin/chromium)
//   SCREENSHOT    if set, a PNG of the page is written there after the Connect run

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const serverPath = process.env.WATCH_SERVER ?? resolve(web, "../../../target/debug/watch-server");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 10_000;

/**
 * Starts watch-server on `address` (a free loopback port by default), in memory or on the data
 * directory `data`; resolves with its base URL and process.
 */
function startServer({ address = "127.0.0.1:0", data } = {}) {
  const store = data ? ["--data", data] : ["--in-memory"];
  return new Promise((resolveStart, reject) => {
    const child = spawn(serverPath, [...store, "--static", join(web, "dist"), address], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`watch-server printed no address within ${TIMEOUT} ms:\n${output}`));
    }, TIMEOUT);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`watch-server exited with ${code}:\n${output}`));
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const found = output.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (found) {
        clearTimeout(timer);
        resolveStart({ url: found[0], child });
      }
    });
  });
}

/** A Connect unary call with the JSON codec, the way any HTTP client can make one. */
async function call(base, method, body) {
  const response = await fetch(`${base}/trident.watch.v1.KvService/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method}: ${text}`);
  return JSON.parse(text);
}

describe("watch page", () => {
  let server;
  let context;
  let userDataDir;

  before(async () => {
    server = await startServer();
    userDataDir = mkdtempSync(join(tmpdir(), "trident-watch-chromium-"));
    // A persistent context is how playwright takes a fresh --user-data-dir of our choosing.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1200, height: 760 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async () => {
    await context?.close();
    if (server) {
      server.child.removeAllListeners("exit");
      server.child.kill();
    }
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  for (const protocol of ["connect", "grpc-web", "sse", "websocket"]) {
    test(`shows live events over ${protocol}`, async () => {
      const page = await context.newPage();
      const failures = [];
      page.on("pageerror", (error) => failures.push(error.message));
      page.on("requestfailed", (request) => {
        // Aborted watches (the page switching protocols) are expected; nothing else is.
        if (!request.failure()?.errorText.includes("ERR_ABORTED")) failures.push(request.url());
      });
      try {
        const prefix = `e2e-${protocol}/`;
        // A key that exists before the page loads: the page lists it (Range), then watches.
        await call(server.url, "Put", { key: `${prefix}before`, value: "listed" });

        // Open the page with the other protocol, then flip the switch: the page restarts its watch.
        const other = protocol === "connect" ? "grpc-web" : "connect";
        await page.goto(`${server.url}/?protocol=${other}&prefix=${encodeURIComponent(prefix)}`);
        const live = (p) => page.locator(`#status[data-state="live"][data-protocol="${p}"]`);
        await live(other).waitFor({ timeout: TIMEOUT });
        await page.locator(`#protocol input[value="${protocol}"]`).check({ force: true });
        await live(protocol).waitFor({ timeout: TIMEOUT });
        assert.equal(await page.locator(`#keys tr[data-key="${prefix}before"] .value`).textContent(), "listed");

        // Live changes: puts (one an update), a key outside the prefix, and a delete.
        const first = await call(server.url, "Put", { key: `${prefix}a`, value: "one" });
        await call(server.url, "Put", { key: "elsewhere", value: "not shown" });
        await call(server.url, "Put", { key: `${prefix}b`, value: "two" });
        await call(server.url, "Put", { key: `${prefix}a`, value: "three" });
        await call(server.url, "Delete", { key: `${prefix}before` });

        const row = (key) => page.locator(`#keys tr[data-key="${key}"]`);
        await row(`${prefix}a`).locator(".value", { hasText: "three" }).waitFor({ timeout: TIMEOUT });
        await row(`${prefix}before`).waitFor({ state: "detached", timeout: TIMEOUT });
        assert.equal(await row(`${prefix}b`).locator(".value").textContent(), "two");
        assert.equal(await row(`${prefix}a`).locator("td.num").first().textContent(), "2"); // version

        const events = page.locator(`#events li[data-protocol="${protocol}"]`);
        await assert.doesNotReject(events.nth(3).waitFor({ timeout: TIMEOUT }));
        const seen = await events.evaluateAll((items) =>
          items.map((li) => `${li.dataset.type} ${li.dataset.key}`).reverse(),
        );
        assert.deepEqual(seen, [`put ${prefix}a`, `put ${prefix}b`, `put ${prefix}a`, `delete ${prefix}before`]);
        const firstRevision = await events.last().locator(".rev").textContent();
        assert.equal(firstRevision, `#${first.revision}`);

        // A put from the page itself comes back through the watch.
        await page.fill("#put-key", `${prefix}from-page`);
        await page.fill("#put-value", "typed");
        await page.click('#put-form button[type="submit"]');
        await row(`${prefix}from-page`).locator(".value", { hasText: "typed" }).waitFor({ timeout: TIMEOUT });
        const read = await call(server.url, "Range", { key: `${prefix}from-page` });
        assert.equal(read.kvs[0].value, "typed");

        if (process.env.SCREENSHOT && protocol === "connect") {
          await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
        }
        assert.deepEqual(failures, []);
      } finally {
        await page.close();
      }
    });
  }

  test("over WebSocket, watches are added and cancelled on one bidi stream while events arrive", async () => {
    const page = await context.newPage();
    const failures = [];
    page.on("pageerror", (error) => failures.push(error.message));
    const sockets = [];
    page.on("websocket", (socket) => sockets.push(new URL(socket.url()).pathname));
    try {
      await page.goto(`${server.url}/?protocol=websocket&prefix=${encodeURIComponent("ws-main/")}`);
      await page.locator('#status[data-state="live"][data-protocol="websocket"]').waitFor({ timeout: TIMEOUT });
      const row = (key) => page.locator(`#keys tr[data-key="${key}"]`);
      await call(server.url, "Put", { key: "ws-main/a", value: "1" });
      await row("ws-main/a").waitFor({ timeout: TIMEOUT });

      // A second watch on the same stream, created while the first is live.
      await page.fill("#more-key", "ws-other/");
      await page.click('#more-form button[type="submit"]');
      const second = page.locator('#watches li[data-watch-id="2"]');
      await page.locator('#watches li[data-watch-id="2"].live').waitFor({ timeout: TIMEOUT });
      await call(server.url, "Put", { key: "ws-other/x", value: "2" });
      await call(server.url, "Put", { key: "ws-main/b", value: "3" });
      const viaSecond = page.locator('#events li[data-watch="ws-other/*"]');
      await viaSecond.first().waitFor({ timeout: TIMEOUT });
      await row("ws-main/b").waitFor({ timeout: TIMEOUT });
      assert.equal(await second.locator(".count").textContent(), "1");
      assert.equal(await row("ws-other/x").count(), 0, "the prefix's table shows its own keys only");

      // Cancelled on the stream: its events stop, the first watch goes on.
      await second.locator("button").click();
      await second.waitFor({ state: "detached", timeout: TIMEOUT });
      await call(server.url, "Put", { key: "ws-other/y", value: "4" });
      await call(server.url, "Put", { key: "ws-main/c", value: "5" });
      await row("ws-main/c").waitFor({ timeout: TIMEOUT });
      assert.equal(await viaSecond.count(), 1, "no event after the cancellation");

      // One WebSocket carried every watch; the unary Range went over one of its own.
      assert.deepEqual(
        sockets.filter((path) => path.endsWith("/WatchStream")),
        ["/trident.watch.v1.KvService/WatchStream"],
      );
      assert.ok(sockets.includes("/trident.watch.v1.KvService/Range"), JSON.stringify(sockets));
      assert.deepEqual(failures, []);
    } finally {
      await page.close();
    }
  });

  test("an EventSource resumes after a server restart with no gap and no duplicate", async () => {
    const data = mkdtempSync(join(tmpdir(), "trident-watch-data-"));
    let first = await startServer({ data });
    let second;
    const page = await context.newPage();
    const failures = [];
    page.on("pageerror", (error) => failures.push(error.message));
    // The Last-Event-ID of every watch the page's EventSource opens.
    const resumedFrom = [];
    page.on("request", async (request) => {
      if (!request.url().includes("KvService/Watch?")) return;
      resumedFrom.push((await request.allHeaders())["last-event-id"] ?? null);
    });
    try {
      const prefix = "resume/";
      await page.goto(`${first.url}/?protocol=sse&prefix=${encodeURIComponent(prefix)}`);
      const live = page.locator('#status[data-state="live"][data-protocol="sse"]');
      await live.waitFor({ timeout: TIMEOUT });
      const row = (key) => page.locator(`#keys tr[data-key="${key}"]`);
      const a = await call(first.url, "Put", { key: `${prefix}a`, value: "1" });
      await row(`${prefix}a`).waitFor({ timeout: TIMEOUT });

      // kill -9, and start again on the same port and data before the EventSource reconnects
      // (it waits a few seconds): the changes made meanwhile reach it only through resumption.
      first.child.removeAllListeners("exit");
      const exited = new Promise((resolveExit) => first.child.once("exit", resolveExit));
      first.child.kill("SIGKILL");
      await exited;
      second = await startServer({ address: new URL(first.url).host, data });
      await call(second.url, "Put", { key: `${prefix}b`, value: "2" });
      const c = await call(second.url, "Put", { key: `${prefix}c`, value: "3" });
      await row(`${prefix}c`).waitFor({ timeout: TIMEOUT });
      await live.waitFor({ timeout: TIMEOUT });

      const events = page.locator('#events li[data-protocol="sse"]');
      const seen = await events.evaluateAll((items) =>
        items.map((li) => `${li.dataset.type} ${li.dataset.key} ${li.querySelector(".rev").textContent}`).reverse(),
      );
      assert.deepEqual(seen, [
        `put ${prefix}a #${a.revision}`,
        `put ${prefix}b #${Number(a.revision) + 1}`,
        `put ${prefix}c #${c.revision}`,
      ]);
      // The first watch had no id to send; the reconnection sent the store and revision of the last event.
      assert.equal(resumedFrom[0], null);
      assert.ok(
        resumedFrom.slice(1).some((id) => id?.endsWith(`:${a.revision}`)),
        JSON.stringify(resumedFrom),
      );
      assert.deepEqual(failures, []);
    } finally {
      await page.close();
      for (const server of [first, second]) {
        if (!server) continue;
        server.child.removeAllListeners("exit");
        server.child.kill();
      }
      rmSync(data, { recursive: true, force: true });
    }
  });

  test("grpc-web's own client in text mode", async () => {
    const page = await context.newPage();
    const failures = [];
    page.on("pageerror", (error) => failures.push(error.message));
    // The content types of every call the page makes, request and response.
    const exchanges = [];
    page.on("response", async (response) => {
      if (!response.url().includes("/trident.watch.v1.KvService/")) return;
      exchanges.push({
        method: response.url().split("/").pop(),
        sent: (await response.request().allHeaders())["content-type"],
        received: (await response.allHeaders())["content-type"],
      });
    });
    try {
      const prefix = "e2e-grpc-web-text/";
      await page.goto(`${server.url}/grpc-web-text.html?prefix=${encodeURIComponent(prefix)}`);
      const result = page.locator("#result[data-state]");
      await result.waitFor({ timeout: TIMEOUT });
      const text = await result.textContent();
      assert.equal(await result.getAttribute("data-state"), "done", text);
      const outcome = JSON.parse(text);
      const first = Number(outcome.firstRevision);
      assert.equal(Number(outcome.secondRevision), first + 1);
      assert.equal(outcome.created, true);
      assert.deepEqual(outcome.events, [`${prefix}a=one@${first}`, `${prefix}b=two@${first + 1}`]);
      assert.equal(outcome.error?.code, 3, JSON.stringify(outcome.error)); // INVALID_ARGUMENT
      assert.match(outcome.error.message, /key/);

      // Every call went out and came back in text mode.
      const methods = exchanges.map((e) => e.method).sort();
      assert.deepEqual(methods, ["Put", "Put", "Put", "Watch"]);
      for (const exchange of exchanges) {
        assert.equal(exchange.sent, "application/grpc-web-text", JSON.stringify(exchange));
        assert.equal(exchange.received, "application/grpc-web-text", JSON.stringify(exchange));
      }
      assert.deepEqual(failures, []);
    } finally {
      await page.close();
    }
  });
});
