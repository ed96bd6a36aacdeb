#!/usr/bin/env node
// Keeps package-lock.json installable with `npm ci` on machines whose npm registry mirror carries only
// some platforms' binary packages (here: no darwin/win32 builds of @biomejs/cli-* or
// @cloudflare/workerd-*). `npm install` then leaves those optional packages out of the lockfile, and
// `npm ci` refuses the lockfile ("Missing: ... from lock file"). This adds the missing entries with
// the os/cpu/libc their names encode, so npm ci skips them on other platforms exactly as it would
// with a complete lockfile. Plain JavaScript: it must run on the system Node before `npm install`.
//
//   node scripts/repair-lockfile.mjs          repair in place (run after `npm install` changes the lock)
//   node scripts/repair-lockfile.mjs --check  exit 1 if the lockfile needs repair
import { readFileSync, writeFileSync } from "node:fs";

const LOCKFILE = new URL("../package-lock.json", import.meta.url);
const OS = {
  darwin: "darwin",
  win32: "win32",
  windows: "win32",
  linux: "linux",
  android: "android",
  freebsd: "freebsd",
};
const CPU = {
  arm64: "arm64",
  x64: "x64",
  64: "x64",
  ia32: "ia32",
  arm: "arm",
  ppc64: "ppc64",
  s390x: "s390x",
};

function platformOf(name) {
  const tokens = name.split("/").pop().split("-");
  const os = tokens.map((token) => OS[token]).find(Boolean);
  const cpu = tokens.map((token) => CPU[token]).findLast(Boolean);
  if (!os || !cpu) return undefined;
  return { os, cpu, musl: tokens.includes("musl") };
}

const lock = JSON.parse(readFileSync(LOCKFILE, "utf8"));
const packages = lock.packages;
const added = [];
const unknown = [];
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${path}/node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[nested] || packages[hoisted]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      unknown.push(`${name}@${spec} (optional dependency of ${path || "the root"})`);
      continue;
    }
    packages[hoisted] = {
      version: spec,
      cpu: [platform.cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(platform.musl ? { libc: ["musl"] } : {}),
      optional: true,
      os: [platform.os],
    };
    added.push(`${name}@${spec}`);
  }
}

if (unknown.length > 0) {
  console.error(`cannot infer the platform of: ${unknown.join(", ")}`);
  process.exit(1);
}
if (process.argv.includes("--check")) {
  if (added.length > 0) {
    console.error(
      `package-lock.json lacks ${added.length} platform entries; run: node scripts/repair-lockfile.mjs`,
    );
    process.exit(1);
  }
  console.log("package-lock.json: every optional platform package has an entry");
} else {
  const sorted = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
  );
  writeFileSync(LOCKFILE, `${JSON.stringify({ ...lock, packages: sorted }, null, 2)}\n`);
  console.log(added.length ? `added: ${added.join(", ")}` : "nothing to repair");
}
