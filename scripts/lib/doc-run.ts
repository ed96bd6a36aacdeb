// The README's (and docs/*.md's) shell blocks marked runnable, run in order against a throwaway stack
// (issue 32), the way docs/RUNBOOK.md's commands run (scripts/lib/runbook-check.ts, whose shell shims
// this shares: curl fails on an HTTP error, pipefail).
//
// Markers, HTML comments on the line just before a fence (GitHub shows nothing of them):
//   <!-- run -->               the block runs, in the same shell state as the file's earlier ones
//                              (variables set by one block, ID=… say, are there for the next)
//   <!-- skip: <reason> -->    the block does not run; the check lists it by that reason
// A `text` or `json` fence right after a run block (blank lines between only) is its shown output: the
// block's output must still match it in shape (JSON keys and value types, the number of lines), not in
// values, which change every run.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runChild } from "./child-process.ts";
import { LOCAL } from "./local-stack.ts";
import { SHIMS } from "./runbook-check.ts";

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  mode: "run" | "skip";
  /** A skip's reason, as named in its marker. */
  reason?: string;
  /** The shown output that follows a run block, if any. */
  output?: { lang: string; text: string };
}

const MARKER = /^<!--\s*(run|skip:\s*([^>]*?))\s*-->\s*$/;
const FENCE = /^\s{0,3}(`{3,})(.*)$/;

/** The marked blocks of a document, in order, each with the output block that follows it. */
export function markedBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split("\n");
  const fences: { line: number; lang: string; text: string; end: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? "");
    if (!open) continue;
    const marker = open[1] ?? "```";
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? "").trim().startsWith(marker)) j++;
    fences.push({
      line: i + 1,
      lang: (open[2] ?? "").trim(),
      text: lines.slice(i + 1, j).join("\n"),
      end: j + 1,
    });
    i = j;
  }
  const blocks: DocBlock[] = [];
  fences.forEach((fence, index) => {
    const marker = MARKER.exec((lines[fence.line - 2] ?? "").trim());
    if (!marker) return;
    if (marker[1] !== "run") {
      blocks.push({ file, line: fence.line, code: fence.text, mode: "skip", reason: marker[2] ?? "" });
      return;
    }
    const next = fences[index + 1];
    const between = next ? lines.slice(fence.end, next.line - 1) : [];
    const shown =
      next && ["text", "json"].includes(next.lang) && between.every((line) => line.trim() === "")
        ? { lang: next.lang, text: next.text }
        : undefined;
    blocks.push({
      file,
      line: fence.line,
      code: fence.text,
      mode: "run",
      ...(shown ? { output: shown } : {}),
    });
  });
  return blocks;
}

/** A JSON value's shape: object keys (sorted) and value types, recursively; null matches any type. */
function sameShape(actual: unknown, shown: unknown, at = "$"): string | undefined {
  if (shown === null || actual === null) return undefined;
  if (Array.isArray(shown) || Array.isArray(actual)) {
    if (!Array.isArray(shown) || !Array.isArray(actual)) return `${at}: an array on one side only`;
    return shown.length && actual.length ? sameShape(actual[0], shown[0], `${at}[0]`) : undefined;
  }
  if (typeof shown !== typeof actual) return `${at}: ${typeof actual}, shown as ${typeof shown}`;
  if (typeof shown !== "object") return undefined;
  const a = actual as Record<string, unknown>;
  const s = shown as Record<string, unknown>;
  const missing = Object.keys(s).filter((key) => !(key in a));
  const extra = Object.keys(a).filter((key) => !(key in s));
  if (missing.length || extra.length)
    return `${at}: keys differ (not shown: ${extra.join(", ") || "-"}; shown but absent: ${missing.join(", ") || "-"})`;
  for (const key of Object.keys(s)) {
    const problem = sameShape(a[key], s[key], `${at}.${key}`);
    if (problem) return problem;
  }
  return undefined;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Why the output no longer matches what the document shows, or undefined when it does. */
export function outputMismatch(actual: string, shown: { lang: string; text: string }): string | undefined {
  if (shown.lang === "json") {
    const a = parseJson(actual);
    const s = parseJson(shown.text);
    if (!s.ok) return "the shown output is not JSON";
    if (!a.ok) return `the output is not JSON: ${actual.slice(0, 200)}`;
    return sameShape(a.value, s.value);
  }
  const actualLines = actual.trimEnd().split("\n");
  const shownLines = shown.text.trimEnd().split("\n");
  if (actualLines.length !== shownLines.length)
    return `${actualLines.length} line(s) of output, ${shownLines.length} shown: ${actual.slice(0, 300)}`;
  for (const [index, line] of shownLines.entries()) {
    const s = parseJson(line);
    if (!s.ok || typeof s.value !== "object") continue;
    const a = parseJson(actualLines[index] ?? "");
    if (!a.ok) return `line ${index + 1}: not JSON: ${actualLines[index]}`;
    const problem = sameShape(a.value, s.value);
    if (problem) return `line ${index + 1}: ${problem}`;
  }
  return undefined;
}

export interface BlockResult {
  block: DocBlock;
  outcome: "ok" | "failed" | "skipped";
  detail: string;
}

/**
 * Runs one document's marked blocks in order, in one shell state: each block starts from the
 * variables the earlier ones left (kept in a file between blocks), with `setup` run first.
 */
export async function runDocBlocks(
  blocks: DocBlock[],
  env: NodeJS.ProcessEnv,
  setup = "",
  timeoutMs = 60_000,
): Promise<BlockResult[]> {
  const folder = mkdtempSync(path.join(os.tmpdir(), "doc-run-"));
  const state = path.join(folder, "state.sh");
  writeFileSync(state, "");
  const results: BlockResult[] = [];
  try {
    let first = true;
    for (const block of blocks) {
      if (block.mode === "skip") {
        results.push({ block, outcome: "skipped", detail: block.reason ?? "" });
        continue;
      }
      // stdout alone is the block's output; stderr is kept for the report.
      const script = [
        SHIMS,
        "set -euo pipefail",
        `. ${JSON.stringify(state)}`,
        first ? setup : "",
        "set -a",
        block.code,
        "set +a",
        // Only what the documents set: no shell internals, no readonly variables.
        `export -p | grep -v -E '^declare -x (BASH|SHELL|SHLVL|PWD|OLDPWD|_)[=]?' > ${JSON.stringify(state)}`,
      ].join("\n");
      first = false;
      const ran = await bash(script, env, timeoutMs);
      if (ran.code !== 0) {
        results.push({
          block,
          outcome: "failed",
          detail: `exit ${ran.code}: ${(ran.stdout + ran.stderr).slice(-1500)}`,
        });
        break; // the blocks after it depend on it
      }
      const mismatch = block.output ? outputMismatch(ran.stdout, block.output) : undefined;
      results.push({
        block,
        outcome: mismatch ? "failed" : "ok",
        detail: mismatch ? `output no longer matches the shown one: ${mismatch}` : ran.stdout.slice(0, 400),
      });
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  return results;
}

function bash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return runChild("bash", ["-c", script], { cwd: LOCAL.root, env, timeoutMs });
}
