// `npm run bundle-tests`: bundles each test (TypeScript, with the transport and the generated code it
// imports) into dist-test/ as a Node module that `node --test` runs. `ws` stays outside the bundle.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "dist-test");
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [join(root, "test", "transport.test.ts")],
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["ws"],
  sourcemap: true,
  logLevel: "warning",
});
