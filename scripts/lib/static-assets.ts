// Fills public/ (Workers Static Assets, the [assets] block in wrangler.toml) with the files copied from
// node_modules rather than committed: Scalar's 4.35 MB standalone script, under a name carrying its
// version (so browsers may cache it for good, see public/_headers). Run by wrangler's [build] command
// (`wrangler dev`, `wrangler deploy`, the dry run), by vitest.config.ts before the test pool reads the
// configuration, and by `npm run assets`. Synchronous and idempotent: a copy already in place is kept.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCALAR_DIR = path.join(ROOT, "node_modules/@scalar/api-reference");
/** Where the copies go; .gitignore keeps them out of the repository. */
export const DOCS_ASSETS_DIR = path.join(ROOT, "public/docs/assets");

export function scalarVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(SCALAR_DIR, "package.json"), "utf8")) as {
    version: string;
  };
  return manifest.version;
}

/** Copies the script if missing or different in size, and removes copies of other versions. */
export function copyStaticAssets(): { file: string; copied: boolean } {
  const source = path.join(SCALAR_DIR, "dist/browser/standalone.js");
  const name = `scalar-api-reference-${scalarVersion()}.js`;
  const target = path.join(DOCS_ASSETS_DIR, name);
  mkdirSync(DOCS_ASSETS_DIR, { recursive: true });
  for (const old of readdirSync(DOCS_ASSETS_DIR)) {
    if (old !== name && old.startsWith("scalar-api-reference-")) rmSync(path.join(DOCS_ASSETS_DIR, old));
  }
  const fresh = existsSync(target) && statSync(target).size === statSync(source).size;
  if (!fresh) copyFileSync(source, target);
  return { file: path.relative(ROOT, target), copied: !fresh };
}
