// The README's "In your agent" snippets, found the way a reader finds them, and run verbatim:
// - a paragraph saying "saved as `F` and run with `CMD`" followed by a fenced block: the whole file F,
//   run with CMD in a fresh folder after the section's shell block (the one that exports the key);
// - a fenced block whose first line is `// examples/X: …`: lines taken from example X, each of which
//   must still be a line of X (which its own test runs against a stack).
// The folder holds what a checkout holds that the snippet reaches (links to sdk/ and node_modules/) and
// a .data/dev-keys.json with the stack's keys, as `npm run dev` writes one.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "../..");
const SECTION = "## In your agent";

interface Fence {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The paragraph just before the fence, joined into one line. */
  paragraph: string;
}

export interface AgentSnippet {
  file: string;
  command: string;
  lang: string;
  code: string;
  line: number;
}

export interface ExampleExcerpt {
  example: string;
  lines: string[];
  line: number;
}

/** The fenced blocks of the README's agent section, each with the paragraph before it. */
function sectionFences(markdown: string): Fence[] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.trim() === SECTION);
  if (start < 0) throw new Error(`README.md has no "${SECTION}" section`);
  const fences: Fence[] = [];
  // The last paragraph seen; a blank line ends it, the next text line starts another.
  let paragraph: string[] = [];
  let ended = false;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (/^## /.test(line)) break;
    const open = /^```(\w*)\s*$/.exec(line);
    if (!open) {
      if (line.trim() === "") ended = true;
      else {
        paragraph = ended ? [line.trim()] : [...paragraph, line.trim()];
        ended = false;
      }
      continue;
    }
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^```\s*$/.test(lines[j] ?? ""); j++) body.push(lines[j] ?? "");
    fences.push({
      lang: open[1] ?? "",
      code: `${body.join("\n")}\n`,
      line: i + 1,
      paragraph: paragraph.join(" "),
    });
    paragraph = [];
    ended = true;
    i = j;
  }
  return fences;
}

export function readme(): string {
  return readFileSync(path.join(REPO, "README.md"), "utf8");
}

/** The shell block that sets the agent's environment, and the complete agent files. */
export function agentSnippets(markdown: string): { setup: string; snippets: AgentSnippet[] } {
  const fences = sectionFences(markdown);
  const setup = fences.find((fence) => fence.lang === "" && /^export /m.test(fence.code));
  if (!setup) throw new Error("README.md's agent section has no shell block exporting the key");
  const snippets = fences.flatMap((fence) => {
    const said = /saved as `([^`]+)` and run with\s+`([^`]+)`/.exec(fence.paragraph);
    return said?.[1] && said[2]
      ? [{ file: said[1], command: said[2], lang: fence.lang, code: fence.code, line: fence.line }]
      : [];
  });
  return { setup: setup.code, snippets };
}

/** The blocks that quote lines of an example (first line `// examples/X: …`). */
export function exampleExcerpts(markdown: string): ExampleExcerpt[] {
  return sectionFences(markdown).flatMap((fence) => {
    const [first = "", ...rest] = fence.code.trimEnd().split("\n");
    const named = /^\/\/ (examples\/\S+?):/.exec(first);
    return named?.[1] ? [{ example: named[1], lines: rest, line: fence.line }] : [];
  });
}

/**
 * Runs a snippet as a reader would, in a fresh folder: the setup block, then the command. `onLine` sees
 * each output line as it comes (to approve the request the snippet prints). Resolves with the exit code
 * and the whole output.
 */
export async function runAgentSnippet(
  snippet: AgentSnippet,
  setup: string,
  stack: { api: string; keys: Record<string, string | undefined> },
  onLine: (line: string) => void,
): Promise<{ code: number | null; output: string }> {
  const folder = mkdtempSync(path.join(os.tmpdir(), "readme-snippet-"));
  try {
    symlinkSync(path.join(REPO, "sdk"), path.join(folder, "sdk"));
    symlinkSync(path.join(REPO, "node_modules"), path.join(folder, "node_modules"));
    mkdirSync(path.join(folder, ".data"));
    writeFileSync(path.join(folder, ".data/dev-keys.json"), JSON.stringify(stack.keys));
    writeFileSync(path.join(folder, snippet.file), snippet.code);
    // The reader's shell: no key of the test's own, the stack's address as POLICY_API_URL (the one
    // setting the snippets read besides the key; npm run dev's port is the default).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      POLICY_API_URL: stack.api,
      PYTHONDONTWRITEBYTECODE: "1",
    };
    delete env.POLICY_AGENT_KEY;
    const child = spawn("bash", ["-c", `set -euo pipefail\n${setup}\n${snippet.command}\n`], {
      cwd: folder,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const complete = buffered.split("\n");
      buffered = complete.pop() ?? "";
      for (const line of complete) {
        lines.push(line);
        onLine(line);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", resolve);
    });
    if (buffered) lines.push(buffered);
    return { code, output: lines.join("\n") };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
