// Compiles test/*.test.ts (and the core they import) to .test-build/ for `node --test`.
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tests = readdirSync(resolve(root, "test")).filter((f) => f.endsWith(".test.ts"));
await build({
  entryPoints: tests.map((f) => resolve(root, "test", f)),
  outdir: resolve(root, ".test-build"),
  bundle: true,
  platform: "node",
  format: "esm",
  outExtension: { ".js": ".mjs" },
  target: ["node18"],
  logLevel: "warning",
});
