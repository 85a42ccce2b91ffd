// Bundles the page (src/main.ts and everything it imports into dist/app.js) and the grpc-web text-mode
// check (src/grpc_web_text.ts into dist/grpc-web-text.js), and copies the static files beside them. `node build.mjs` (or `npm run bundle`, after `npm run generate`).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of ["index.html", "style.css", "grpc-web-text.html"]) {
  cpSync(join(root, "static", file), join(out, file));
}
// The WebSocket transport (../../../web/websocket-transport) imports connect-es and protobuf-es
// too: resolve those from this package, so that the bundle holds one copy of each.
const oneCopy = {
  name: "one-copy",
  setup(builder) {
    builder.onResolve({ filter: /^@(connectrpc|bufbuild)\// }, (args) =>
      args.resolveDir.startsWith(root) ? undefined : builder.resolve(args.path, { kind: args.kind, resolveDir: root }),
    );
  },
};

await build({
  plugins: [oneCopy],
  entryPoints: [
    { in: join(root, "src", "main.ts"), out: "app" },
    { in: join(root, "src", "grpc_web_text.ts"), out: "grpc-web-text" },
  ],
  outdir: out,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "info",
});
