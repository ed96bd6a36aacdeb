// The docs cannot rot quietly: every relative link and #anchor in README.md and docs/*.md resolves
// (scripts/lib/markdown.ts, by GitHub's slug rules), every file a code span names exists, and each
// check is shown to fail on a synthetic broken link, anchor and path. The README stays a front door
// (at most 250 lines) and the docs written with it keep prose wrapped (no line over 200 characters).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  brokenLinks,
  githubSlug,
  headingAnchors,
  missingCodePaths,
  relativeLinks,
} from "../../scripts/lib/markdown.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DOCUMENTS = [
  "README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];
/** The README and the docs split out of it (issue 22); older docs have wide tables of their own. */
const WRAPPED = [
  "README.md",
  ...["API", "ARCHITECTURE", "AUDIT", "CONSOLE", "DEPLOY", "DEVELOPMENT"].map((n) => `docs/${n}.md`),
];
const MAX_README_LINES = 250;
const MAX_LINE_CHARACTERS = 200;

describe("GitHub heading anchors", () => {
  it("lower-cases, drops punctuation but - and _, turns spaces into dashes", () => {
    expect(githubSlug("What `npm run dev` does")).toBe("what-npm-run-dev-does");
    expect(githubSlug("4. `/health` answers 503 `degraded`")).toBe("4-health-answers-503-degraded");
    expect(githubSlug("Common Issues & Fixes")).toBe("common-issues--fixes");
    expect(githubSlug("`evaluate_action`")).toBe("evaluate_action");
    expect(githubSlug("Deploy to Cloudflare + Neon")).toBe("deploy-to-cloudflare--neon");
    expect(githubSlug("See [the API](docs/API.md)")).toBe("see-the-api");
    expect(githubSlug("[Link](x) B")).toBe("link-b");
  });

  it("numbers repeated headings -1, -2, skipping a slug a heading already took, and ignores code", () => {
    const markdown = [
      "# Tools",
      "## Tools",
      "```",
      "# not a heading",
      "```",
      "## Tools-1",
      "### Tools",
      "",
      "Setext heading",
      "--------------",
      "",
      "a rule follows",
      "",
      "---",
      '<a id="custom-anchor"></a>',
    ].join("\n");
    expect(headingAnchors(markdown)).toEqual([
      "tools",
      "tools-1",
      "tools-1-1",
      "tools-2",
      "setext-heading",
      "custom-anchor",
    ]);
  });

  it("finds relative links outside code, also when the link text wraps, and skips absolute URLs", () => {
    const markdown = [
      "See [the API](docs/API.md#errors) and [a wrapped",
      "link](#here), not `[code](nowhere.md)` nor https://example.com or [web](https://example.com).",
      "```",
      "[in a fence](nowhere.md)",
      "```",
      "![image](docs/picture.png)",
      "[ref]: ../README.md",
      '<img src="docs/other.png">',
    ].join("\n");
    expect(relativeLinks(markdown)).toEqual([
      { line: 1, target: "docs/API.md#errors" },
      { line: 2, target: "#here" },
      { line: 6, target: "docs/picture.png" },
      { line: 7, target: "../README.md" },
      { line: 8, target: "docs/other.png" },
    ]);
  });
});

describe("the link check over a synthetic tree", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "docs-links-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, "docs"));
  mkdirSync(path.join(root, "src"));
  writeFileSync(path.join(root, "src/app.ts"), "// code\n");
  writeFileSync(
    path.join(root, "README.md"),
    [
      "# Front door",
      "## Quick start",
      "Good: [quick start](#quick-start), [guide](docs/GUIDE.md), [setup](docs/GUIDE.md#set-up),",
      "[code](src/app.ts#L1), [folder](src/), [web](https://example.com/x.md#nothing).",
      "Broken: [missing file](docs/MISSING.md), [missing anchor](docs/GUIDE.md#tear-down),",
      "[missing local anchor](#quick-stop).",
    ].join("\n"),
  );
  writeFileSync(
    path.join(root, "docs/GUIDE.md"),
    [
      "# Guide",
      "## Set up",
      "Back to [the README](../README.md#front-door), [broken](../README.md#back).",
    ].join("\n"),
  );

  it("reports exactly the missing file and the missing anchors, with where they are", () => {
    expect(brokenLinks(root, ["README.md", "docs/GUIDE.md"])).toEqual([
      { file: "README.md", line: 5, target: "docs/MISSING.md", reason: "docs/MISSING.md does not exist" },
      {
        file: "README.md",
        line: 5,
        target: "docs/GUIDE.md#tear-down",
        reason: "docs/GUIDE.md has no heading with the anchor #tear-down",
      },
      {
        file: "README.md",
        line: 6,
        target: "#quick-stop",
        reason: "README.md has no heading with the anchor #quick-stop",
      },
      {
        file: "docs/GUIDE.md",
        line: 3,
        target: "../README.md#back",
        reason: "README.md has no heading with the anchor #back",
      },
    ]);
  });

  it("reports code spans naming files that do not exist, with or without src/, and skips globs and code", () => {
    writeFileSync(
      path.join(root, "docs/CODE.md"),
      [
        "Real: `src/app.ts`, `src/app.ts:12`, `src/`, `docs/GUIDE.md`.",
        "Gone: `src/lib/auth.ts`, `services/webhooks.ts`, `scripts/old.ts`.",
        "Not paths: `test/**/*.test.ts`, `src/routes/<resource>.ts`, `application/json`, `/mcp`.",
        "```",
        "src/nowhere.ts `src/nowhere.ts`",
        "```",
      ].join("\n"),
    );
    expect(missingCodePaths(root, ["docs/CODE.md"]).map(({ line, target }) => `${line} ${target}`)).toEqual([
      "2 src/lib/auth.ts",
      "2 services/webhooks.ts",
      "2 scripts/old.ts",
    ]);
  });
});

describe("README.md and docs/*.md", () => {
  it("have no relative link or #anchor that does not resolve", () => {
    expect(DOCUMENTS).toContain("docs/ARCHITECTURE.md");
    const report = brokenLinks(ROOT, DOCUMENTS).map(
      ({ file, line, target, reason }) => `${file}:${line} ${target}: ${reason}`,
    );
    expect(report).toEqual([]);
  });

  it("name only files and folders that exist in their code spans (src/..., services/..., scripts/...)", () => {
    const report = missingCodePaths(ROOT, DOCUMENTS).map(
      ({ file, line, target }) => `${file}:${line} ${target}`,
    );
    expect(report).toEqual([]);
  });

  it(`keep the README to ${MAX_README_LINES} lines`, () => {
    const lines = readFileSync(path.join(ROOT, "README.md"), "utf8").trimEnd().split("\n");
    expect(lines.length).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it(`keep the README and the docs split from it to ${MAX_LINE_CHARACTERS} characters a line`, () => {
    const long = WRAPPED.flatMap((file) =>
      readFileSync(path.join(ROOT, file), "utf8")
        .split("\n")
        .flatMap((line, index) => ([...line].length > MAX_LINE_CHARACTERS ? [`${file}:${index + 1}`] : [])),
    );
    expect(long).toEqual([]);
  });
});
