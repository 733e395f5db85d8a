// Bundles the SDK into one minified IIFE (and the service worker). Output paths default to
// the files Tidings serves: src/tidings/sdk/static/. Usage: node scripts/build.mjs [sdk.js] [sw.js]
import { build } from "esbuild";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const staticDir = resolve(root, "../../src/tidings/sdk/static");
const [sdkOut = resolve(staticDir, "tidings.js"), swOut = resolve(staticDir, "tidings-sw.js")] = process.argv.slice(2);

const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};
await build({ ...common, entryPoints: [resolve(root, "src/index.ts")], outfile: sdkOut, banner: { js: "/* Tidings web SDK 0.1.0 | MIT */" } });
await build({ ...common, entryPoints: [resolve(root, "sw/tidings-sw.ts")], outfile: swOut, banner: { js: "/* Tidings service worker 0.1.0 | MIT */" } });
