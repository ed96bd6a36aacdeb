// Markdown as GitHub renders it, for the checks that keep the docs honest: the anchor of each heading
// (github-slugger's rules) and every relative link of a document, checked against the files and
// headings it points at. Used by test/node/docs-links.test.ts (README.md and docs/*.md) and
// test/node/alerts.test.ts (each alert's runbook_url lands on a runbook heading).
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/**
 * GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped except `-`
 * and `_`, each space a dash. Link and image syntax and inline HTML count by their text only, and
 * emphasis markers (`*`) are punctuation.
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML tags
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Blanks out fenced code blocks, keeping every newline so offsets still map to the same lines. */
function withoutFences(markdown: string): string[] {
  const lines = markdown.split("\n");
  let fence: string | null = null;
  return lines.map((line) => {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      const marker = fenceMatch[1] as string;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      return "";
    }
    return fence === null ? line : "";
  });
}

/**
 * Every heading anchor of a document, in order: ATX (`## Title`) and setext (a line underlined with
 * `===` or `---`) headings outside fenced code, plus explicit `<a id>`/`<a name>` anchors. A repeated
 * slug gets `-1`, `-2`, ... as github-slugger numbers them (skipping one a heading already took).
 */
export function headingAnchors(markdown: string): string[] {
  const lines = withoutFences(markdown);
  const anchors: string[] = [];
  const taken = new Map<string, number>();
  const add = (slug: string) => {
    let unique = slug;
    while (taken.has(unique)) {
      const count = (taken.get(slug) ?? 0) + 1;
      taken.set(slug, count);
      unique = `${slug}-${count}`;
    }
    taken.set(unique, 0);
    anchors.push(unique);
  };
  lines.forEach((line, index) => {
    for (const match of line.matchAll(/<a\s+(?:id|name)\s*=\s*"([^"]+)"/gi)) anchors.push(match[1] as string);
    const atx = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (atx) {
      add(githubSlug(atx[1] as string));
      return;
    }
    // A one-line paragraph underlined with === or ---: a heading. A rule after a blank line, a table
    // row, a list item or a wrapped paragraph is taken as a rule (the docs' only use of it).
    const underlined = /^\s{0,3}(=+|-+)\s*$/.test(lines[index + 1] ?? "");
    const startsParagraph = (lines[index - 1] ?? "").trim() === "";
    if (underlined && startsParagraph && /^\s{0,3}[^\s|>#*+-]/.test(line) && !/^\s*\d+\./.test(line)) {
      add(githubSlug(line));
    }
  });
  return anchors;
}

export interface MarkdownLink {
  /** 1-based line where the link's target starts. */
  line: number;
  /** The destination as written: `docs/API.md#errors`, `#rate-limits`, `../README.md`. */
  target: string;
}

/**
 * The destinations of every link and image outside code (inline `[text](dest)`, reference
 * definitions `[id]: dest`, and `href`/`src` attributes of inline HTML) that are not absolute URLs:
 * the ones this repository must resolve. A link whose text wraps onto the next line counts too.
 */
export function relativeLinks(markdown: string): MarkdownLink[] {
  // Code spans hold examples, not links: blank them, keeping offsets and newlines.
  const text = withoutFences(markdown)
    .join("\n")
    .replace(/(`+)[\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, " "));
  const lineAt = (offset: number) => text.slice(0, offset).split("\n").length;
  const found: MarkdownLink[] = [];
  const patterns = [
    /!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+["'(][^)]*)?\)/g,
    /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm,
    /\s(?:href|src)\s*=\s*"([^"]*)"/g,
  ];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      const target = (match[1] as string).replace(/^<(.*)>$/, "$1");
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue;
      found.push({ line: lineAt((match.index ?? 0) + match[0].indexOf(match[1] as string)), target });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

export interface BrokenLink {
  /** The document, relative to the root. */
  file: string;
  line: number;
  target: string;
  reason: string;
}

/**
 * Every relative link of `files` (paths relative to `root`) that does not resolve: the file or folder
 * must exist, and an anchor into a markdown file (or `#anchor` alone, into the same file) must be one
 * of its heading anchors. Anchors into other files (`src/app.ts#L10`) are not checked.
 */
export function brokenLinks(root: string, files: string[]): BrokenLink[] {
  const anchorsOf = new Map<string, string[]>();
  const anchors = (file: string): string[] => {
    let known = anchorsOf.get(file);
    if (!known) {
      known = headingAnchors(readFileSync(file, "utf8"));
      anchorsOf.set(file, known);
    }
    return known;
  };
  const broken: BrokenLink[] = [];
  for (const file of files) {
    const absolute = path.join(root, file);
    for (const { line, target } of relativeLinks(readFileSync(absolute, "utf8"))) {
      const hash = target.indexOf("#");
      const rawPath = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const decoded = decodeURIComponent(rawPath);
      // GitHub resolves a leading slash from the repository root, anything else from the document.
      const resolved =
        decoded === ""
          ? absolute
          : decoded.startsWith("/")
            ? path.join(root, decoded)
            : path.resolve(path.dirname(absolute), decoded);
      const report = (reason: string) => broken.push({ file, line, target, reason });
      if (!existsSync(resolved)) {
        report(`${path.relative(root, resolved)} does not exist`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith(".md") || !statSync(resolved).isFile()) continue;
      if (!anchors(resolved).includes(anchor)) {
        report(`${path.relative(root, resolved)} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return broken;
}

/** Top-level folders of the repository a code span may name as a path (`src/app.ts`, `docs/`). */
const REPOSITORY_FOLDERS = [
  "src",
  "scripts",
  "test",
  "migrations",
  "monitoring",
  "examples",
  "bench",
  "docs",
];
/** Folders of src/ the docs name without the `src/` prefix (`services/keys.ts`, `middleware/`). */
const SOURCE_FOLDERS = [
  "lib",
  "services",
  "routes",
  "domain",
  "db",
  "middleware",
  "schemas",
  "mcp",
  "console",
  "jobs",
];

/**
 * Every code span of `files` that names a path of this repository (`src/config.ts`, `scripts/lib/`, or
 * under src/ without its prefix: `services/keys.ts`) that does not exist. Globs and placeholders
 * (`test/**`, `src/routes/<resource>.ts`) are not paths and are skipped; so are code blocks.
 */
export function missingCodePaths(root: string, files: string[]): BrokenLink[] {
  const pathLike = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]*)*$/;
  const missing: BrokenLink[] = [];
  for (const file of files) {
    const lines = withoutFences(readFileSync(path.join(root, file), "utf8"));
    lines.forEach((line, index) => {
      for (const match of line.matchAll(/`([^`\s]+)`/g)) {
        const span = (match[1] as string).replace(/[:#](L?\d+.*)?$/, "");
        if (!pathLike.test(span) || !span.includes("/")) continue;
        const top = span.split("/")[0] as string;
        const candidate = REPOSITORY_FOLDERS.includes(top)
          ? span
          : SOURCE_FOLDERS.includes(top)
            ? `src/${span}`
            : undefined;
        if (candidate && !existsSync(path.join(root, candidate))) {
          missing.push({ file, line: index + 1, target: span, reason: `${candidate} does not exist` });
        }
      }
    });
  }
  return missing;
}
