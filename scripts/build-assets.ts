// npm run assets (and wrangler's [build] command): copies the static assets that come from node_modules
// into public/ (scripts/lib/static-assets.ts).
import { copyStaticAssets } from "./lib/static-assets.ts";

const { file, copied } = copyStaticAssets();
console.log(`[assets] ${file} ${copied ? "copied" : "in place"}`);
