// The layering of src/, checked over its import graph (npm run layering; test/node/layering.test.ts).
//
//   routes, jobs, console, MCP      entry points: adapt HTTP, cron, queues, tools to the services
//             │
//             ▼
//   services                        the use cases; no Hono, no request context
//             │
//      ┌──────┴──────┐
//      ▼             ▼
//   domain        db                domain: pure logic (no packages, no I/O, no env);
//      ▲             │              db: the SQL statements, rows and the client (drizzle, Neon)
//      └─────────────┘
//
//   lib                             plumbing shared by the others: logging, metrics, errors, secrets,
//                                   permissions; the OpenAPI helpers are HTTP plumbing (routes only)
//
// The rules are data (RULES below): each row names the files it governs and either the only imports
// they may have (`allow`) or imports they must not have (`deny`, which also overrides `allow`). Type-only
// imports count like any other unless a row says otherwise. Imports are found by a small scanner over the
// source text (comments, strings, template literals and regular expressions are skipped properly), not
// by the TypeScript compiler, so the check is cheap and has no dependencies; the test cross-checks the
// scanner against TypeScript's parser on every file of src/.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** A module specifier as written, where it was, and whether it is erased at compile time. */
export interface ImportRef {
  specifier: string;
  /** `import type`, `export type ... from`, or `import("x")` in a type position: no runtime edge. */
  typeOnly: boolean;
  /** `import("x")`: the module is loaded lazily (still a dependency). */
  dynamic: boolean;
  /** 1-based. */
  line: number;
}

export interface Violation {
  /** The importing file, relative to the repository root (src/...). */
  file: string;
  line: number;
  /** The specifier as written (or `import(<computed>)`). */
  import: string;
  typeOnly: boolean;
  /** The id of the broken rule in RULES. */
  rule: string;
  /** Why the rule exists, for the report. */
  message: string;
}

/**
 * What an import may point at:
 * - "src/domain/**": any file under that folder;
 * - "src/env.ts": that file;
 * - "hono": that package and its subpaths (hono/body-limit); "@hono/*": every package of the scope.
 * `{ target, typeOnly: true }` in `allow` lets only type-only imports through; in `deny` it forbids only
 * value imports (type-only imports are fine).
 */
export type Target = string | { target: string; typeOnly: true };

export interface Rule {
  id: string;
  /** Files the rule governs (same patterns as Target). */
  files: string;
  /** Governed files that are exempt. */
  except?: string[];
  /** When present, the only imports these files may have. */
  allow?: Target[];
  /** Imports these files must not have; wins over `allow`. */
  deny?: Target[];
  why: string;
}

export const RULES: readonly Rule[] = [
  {
    id: "domain-is-pure",
    files: "src/domain/**",
    allow: ["src/domain/**"],
    why: "src/domain is pure logic: it imports only src/domain (no packages, no db, lib or env, not even types)",
  },
  {
    id: "db-is-statements",
    files: "src/db/**",
    allow: ["src/domain/**", "src/db/**", "drizzle-orm", "@neondatabase/serverless"],
    why: "src/db holds statements and rows: it imports only src/domain, src/db, drizzle-orm and @neondatabase/serverless",
  },
  {
    id: "services-below-http",
    files: "src/services/**",
    allow: [
      "src/domain/**",
      "src/db/**",
      "src/lib/**",
      "src/services/**",
      "src/config.ts",
      { target: "src/env.ts", typeOnly: true },
      "drizzle-orm",
      "zod",
    ],
    deny: ["src/lib/openapi.ts"],
    why: "src/services imports domain, db, lib (not the HTTP plumbing lib/openapi.ts), services, config.ts, types of env.ts, drizzle-orm and zod: no Hono, middleware, routes or jobs",
  },
  {
    id: "routes-call-services",
    files: "src/routes/**",
    deny: [{ target: "src/db/**", typeOnly: true }, "src/jobs/**"],
    why: "src/routes reach the database through src/services (row types may be imported with `import type`) and do not import src/jobs",
  },
  {
    id: "console-calls-services",
    files: "src/console/**",
    deny: [{ target: "src/db/**", typeOnly: true }, "src/jobs/**", "src/routes/**"],
    why: "src/console reaches the database through src/services, like the API routes (row types may be imported with `import type`)",
  },
  {
    id: "lib-is-plumbing",
    files: "src/lib/**",
    deny: ["src/routes/**", "src/jobs/**"],
    why: "src/lib is plumbing: it does not import src/routes or src/jobs",
  },
  {
    id: "lib-below-services",
    files: "src/lib/**",
    deny: ["src/services/**"],
    why: "src/lib does not import src/services (keys are looked up in src/middleware/authenticate.ts)",
  },
  {
    id: "jobs-are-not-http",
    files: "src/jobs/**",
    deny: [
      "src/routes/**",
      "src/middleware/**",
      "src/console/**",
      "src/mcp/**",
      "src/app.ts",
      "hono",
      "@hono/*",
    ],
    why: "src/jobs run outside HTTP: they do not import the app, src/routes, src/middleware, src/console, src/mcp, hono or @hono/*",
  },
];

/** A computed `import(expr)` hides its target from this check. */
export const COMPUTED_IMPORT_RULE = "literal-specifiers";

// ---------------------------------------------------------------------------------------------------
// Scanner

type TokenKind = "name" | "string" | "template" | "punct" | "regex" | "number";
interface Token {
  kind: TokenKind;
  /** For strings and templates without substitutions: the (unescaped enough) contents. */
  value: string;
  line: number;
  /** A template literal with ${...}: not a constant specifier. */
  computed?: boolean;
}

/** After these keywords a `/` starts a regular expression, not a division. */
const REGEX_AFTER_KEYWORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * Splits TypeScript source into tokens, dropping comments and whitespace. Just enough of a lexer to
 * never mistake a comment, a string, a template literal or a regular expression for code.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // Open `{` of blocks ("brace") and of template substitutions ("template").
  const braces: ("brace" | "template")[] = [];
  let i = 0;
  let line = 1;
  const n = source.length;

  const regexAllowed = (): boolean => {
    const prev = tokens[tokens.length - 1];
    if (!prev) return true;
    if (prev.kind === "punct") return prev.value !== ")" && prev.value !== "]" && prev.value !== "}";
    if (prev.kind === "name") return REGEX_AFTER_KEYWORD.has(prev.value);
    return false;
  };

  // Reads template characters from i (just after ` or a substitution's closing }) to the closing ` or
  // the next ${. Returns the cooked-enough text and whether a substitution follows.
  const readTemplateChunk = (): { text: string; open: boolean } => {
    let text = "";
    while (i < n) {
      const c = source[i] as string;
      if (c === "\\") {
        text += source.slice(i, i + 2);
        if (source[i + 1] === "\n") line++;
        i += 2;
      } else if (c === "`") {
        i++;
        return { text, open: false };
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2;
        return { text, open: true };
      } else {
        if (c === "\n") line++;
        text += c;
        i++;
      }
    }
    return { text, open: false };
  };

  while (i < n) {
    const c = source[i] as string;
    const next = source[i + 1];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v" || c === "\uFEFF") {
      i++;
    } else if (c === "/" && next === "/") {
      while (i < n && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? n : end + 2;
      for (let j = i; j < stop; j++) if (source[j] === "\n") line++;
      i = stop;
    } else if (c === '"' || c === "'") {
      const start = line;
      let value = "";
      i++;
      while (i < n && source[i] !== c && source[i] !== "\n") {
        if (source[i] === "\\") {
          const escaped = source[i + 1] ?? "";
          if (escaped === "\n") line++;
          value += escaped;
          i += 2;
        } else {
          value += source[i];
          i++;
        }
      }
      i++; // the closing quote (or the newline of an unterminated string)
      tokens.push({ kind: "string", value, line: start });
    } else if (c === "`") {
      const start = line;
      i++;
      const chunk = readTemplateChunk();
      tokens.push({ kind: "template", value: chunk.text, line: start, computed: chunk.open });
      if (chunk.open) braces.push("template");
    } else if (c === "}" && braces[braces.length - 1] === "template") {
      // The rest of a template after a substitution; a token of its own, so that what follows the
      // template is read as following a value (a `/` after it divides).
      braces.pop();
      i++;
      const start = line;
      const chunk = readTemplateChunk();
      tokens.push({ kind: "template", value: chunk.text, line: start, computed: true });
      if (chunk.open) braces.push("template");
    } else if (c === "/" && regexAllowed()) {
      const start = line;
      let inClass = false;
      let j = i + 1;
      while (j < n && source[j] !== "\n") {
        const r = source[j];
        if (r === "\\") j += 2;
        else {
          if (r === "[") inClass = true;
          else if (r === "]") inClass = false;
          else if (r === "/" && !inClass) break;
          j++;
        }
      }
      j++;
      while (j < n && /[A-Za-z]/.test(source[j] as string)) j++;
      tokens.push({ kind: "regex", value: source.slice(i, j), line: start });
      i = j;
    } else if (/[A-Za-z_$\u0080-\uFFFF]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w$\u0080-\uFFFF]/.test(source[j] as string)) j++;
      tokens.push({ kind: "name", value: source.slice(i, j), line });
      i = j;
    } else if (c === "#" && i + 1 < n && /[A-Za-z_$]/.test(next as string)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(source[j] as string)) j++;
      tokens.push({ kind: "name", value: source.slice(i, j), line });
      i = j;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(next ?? ""))) {
      let j = i + 1;
      while (j < n && /[\w.]/.test(source[j] as string)) j++;
      tokens.push({ kind: "number", value: source.slice(i, j), line });
      i = j;
    } else {
      if (c === "{") braces.push("brace");
      else if (c === "}") braces.pop();
      // `?.` and `...` matter to the import finder (`x?.import(`, spreads); other operators are single
      // characters, which is all it needs.
      const op = source.startsWith("?.", i) && !/[0-9]/.test(source[i + 2] ?? "") ? "?." : c;
      tokens.push({ kind: "punct", value: op, line });
      i += op.length;
    }
  }
  return tokens;
}

const isString = (t: Token | undefined): t is Token =>
  t !== undefined && (t.kind === "string" || (t.kind === "template" && !t.computed));
const isPunct = (t: Token | undefined, value: string): boolean => t?.kind === "punct" && t.value === value;
const isName = (t: Token | undefined, value: string): boolean => t?.kind === "name" && t.value === value;

/** Promise members: `import("x").then(...)` is a value; `import("x").Row` can only be a type. */
const PROMISE_MEMBERS = new Set(["then", "catch", "finally"]);

/** Every import and re-export in `source`, in order. Computed `import(expr)` has specifier "". */
export function scanImports(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const found: ImportRef[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if (t.kind !== "name" || (t.value !== "import" && t.value !== "export")) continue;
    const prev = tokens[k - 1];
    // `x.import(...)`, `x?.export`: a member, not the keyword.
    if (isPunct(prev, ".") || isPunct(prev, "?.")) continue;
    const after = tokens[k + 1];

    if (t.value === "import" && isPunct(after, "(")) {
      const arg = tokens[k + 2];
      const constant = isString(arg) && (isPunct(tokens[k + 3], ")") || isPunct(tokens[k + 3], ","));
      // Type positions: `typeof import("x")`, `import("x").Row`, `type M = import("x")`.
      let closing = k + 2;
      let depth = 1;
      while (closing < tokens.length && depth > 0) {
        const c = tokens[closing] as Token;
        if (isPunct(c, "(")) depth++;
        else if (isPunct(c, ")")) depth--;
        if (depth > 0) closing++;
      }
      const member = isPunct(tokens[closing + 1], ".") ? tokens[closing + 2] : undefined;
      const typeOnly =
        isName(prev, "typeof") ||
        (member?.kind === "name" && !PROMISE_MEMBERS.has(member.value)) ||
        (isPunct(prev, "=") && tokens[k - 2]?.kind === "name" && isName(tokens[k - 3], "type"));
      found.push({
        specifier: constant ? (arg as Token).value : "",
        typeOnly,
        dynamic: true,
        line: t.line,
      });
      continue;
    }
    if (t.value === "import" && isPunct(after, ".")) continue; // import.meta

    if (t.value === "import" && isString(after)) {
      found.push({ specifier: after.value, typeOnly: false, dynamic: false, line: t.line });
      continue;
    }

    if (t.value === "import") {
      // import [type] <default>, { ... } | * as ns  from "x"   — or `import x = require("x")`.
      let j = k + 1;
      let typeOnly = false;
      if (
        isName(tokens[j], "type") &&
        // `import type from "x"` imports a default export named `type`.
        !(isName(tokens[j + 1], "from") && isString(tokens[j + 2]))
      ) {
        typeOnly = true;
        j++;
      }
      // Walk the clause: names, commas, `*`, `as`, and one `{ ... }` list (possibly over many lines).
      while (j < tokens.length) {
        const c = tokens[j] as Token;
        if (isPunct(c, "{")) {
          while (j < tokens.length && !isPunct(tokens[j], "}")) j++;
          j++;
        } else if (isName(c, "from") && isString(tokens[j + 1])) {
          found.push({ specifier: (tokens[j + 1] as Token).value, typeOnly, dynamic: false, line: t.line });
          break;
        } else if (isPunct(c, "=") && isName(tokens[j + 1], "require") && isPunct(tokens[j + 2], "(")) {
          const arg = tokens[j + 3];
          if (isString(arg)) found.push({ specifier: arg.value, typeOnly, dynamic: false, line: t.line });
          break;
        } else if (c.kind === "name" || isPunct(c, ",") || isPunct(c, "*")) {
          j++;
        } else {
          break; // not an import declaration after all
        }
      }
      continue;
    }

    // export [type] * [as ns] from "x" | export [type] { ... } from "x"
    let j = k + 1;
    let typeOnly = false;
    if (isName(tokens[j], "type") && (isPunct(tokens[j + 1], "{") || isPunct(tokens[j + 1], "*"))) {
      typeOnly = true;
      j++;
    }
    if (isPunct(tokens[j], "*")) {
      j++;
      if (isName(tokens[j], "as")) j += 2;
    } else if (isPunct(tokens[j], "{")) {
      while (j < tokens.length && !isPunct(tokens[j], "}")) j++;
      j++;
    } else {
      continue; // export const/function/default ...: a declaration
    }
    if (isName(tokens[j], "from") && isString(tokens[j + 1])) {
      found.push({ specifier: (tokens[j + 1] as Token).value, typeOnly, dynamic: false, line: t.line });
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Resolution and layers

export type Resolved = { kind: "file"; path: string } | { kind: "package"; name: string };

/**
 * Relative specifiers become repository paths (src/db/schema.ts); `.js` is read as `.ts`, and an
 * extensionless path as `<path>.ts` or `<path>/index.ts` (whichever `files` has). Bare ones are packages.
 */
export function resolveImport(from: string, specifier: string, files?: ReadonlySet<string>): Resolved {
  if (!specifier.startsWith(".") && !specifier.startsWith("/")) return { kind: "package", name: specifier };
  let target = specifier.startsWith("/")
    ? path.posix.normalize(specifier.slice(1))
    : path.posix.join(path.posix.dirname(from), specifier);
  if (target.endsWith(".js")) target = `${target.slice(0, -3)}.ts`;
  else if (!/\.[cm]?[jt]sx?$|\.json$/.test(target)) {
    const index = `${target}/index.ts`;
    target = files?.has(index) && !files.has(`${target}.ts`) ? index : `${target}.ts`;
  }
  return { kind: "file", path: target };
}

/** The layer of a repository path: the folder under src/, "top" for src/*.ts, "outside" otherwise. */
export function layerOf(file: string): string {
  const parts = file.split("/");
  if (parts[0] !== "src") return "outside";
  return parts.length === 2 ? "top" : (parts[1] as string);
}

function matches(pattern: string, resolved: Resolved): boolean {
  if (pattern.startsWith("src/")) {
    if (resolved.kind !== "file") return false;
    return pattern.endsWith("/**")
      ? resolved.path.startsWith(pattern.slice(0, -2))
      : resolved.path === pattern;
  }
  if (resolved.kind !== "package") return false;
  if (pattern.endsWith("/*")) return resolved.name.startsWith(pattern.slice(0, -1));
  return resolved.name === pattern || resolved.name.startsWith(`${pattern}/`);
}

const targetOf = (t: Target): string => (typeof t === "string" ? t : t.target);
const typeOnlyEntry = (t: Target): boolean => typeof t !== "string" && t.typeOnly;

/** The rules `file` breaks by importing `ref` (resolved to `resolved`). */
export function brokenRules(
  file: string,
  ref: ImportRef,
  resolved: Resolved,
  rules: readonly Rule[] = RULES,
): Rule[] {
  const broken: Rule[] = [];
  const self: Resolved = { kind: "file", path: file };
  for (const rule of rules) {
    if (!matches(rule.files, self) || rule.except?.includes(file)) continue;
    const denied = rule.deny?.some(
      (t) => matches(targetOf(t), resolved) && !(typeOnlyEntry(t) && ref.typeOnly),
    );
    const allowed =
      !rule.allow ||
      rule.allow.some((t) => matches(targetOf(t), resolved) && (!typeOnlyEntry(t) || ref.typeOnly));
    if (denied || !allowed) broken.push(rule);
  }
  return broken;
}

/**
 * The layering check. `files` maps repository paths (src/routes/eval.ts) to source text; every .ts file
 * under src/ is checked. Pure: reads nothing but its arguments.
 */
export function checkLayering(
  files: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  rules: readonly Rule[] = RULES,
): Violation[] {
  const entries = files instanceof Map ? [...files.entries()] : Object.entries(files);
  const paths = new Set(entries.map(([file]) => file));
  const violations: Violation[] = [];
  for (const [file, source] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!file.startsWith("src/") || !/\.tsx?$/.test(file)) continue;
    for (const ref of scanImports(source)) {
      if (ref.specifier === "") {
        violations.push({
          file,
          line: ref.line,
          import: "import(<computed>)",
          typeOnly: ref.typeOnly,
          rule: COMPUTED_IMPORT_RULE,
          message: "import() of a computed specifier hides a dependency from the layering check",
        });
        continue;
      }
      for (const rule of brokenRules(file, ref, resolveImport(file, ref.specifier, paths), rules)) {
        violations.push({
          file,
          line: ref.line,
          import: ref.specifier,
          typeOnly: ref.typeOnly,
          rule: rule.id,
          message: rule.why,
        });
      }
    }
  }
  return violations;
}

/**
 * Violations grouped by rule: the rule's id and reason, then one line per import,
 * `  src/db/client.ts:10  "../lib/log.ts"` (`import type "..."` when type-only).
 */
export function formatViolations(violations: readonly Violation[]): string {
  const byRule = new Map<string, Violation[]>();
  for (const v of violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
  return [...byRule.values()]
    .map((group) => {
      const first = group[0] as Violation;
      const lines = group.map(
        (v) => `  ${v.file}:${v.line}  ${v.typeOnly ? "import type " : ""}"${v.import}"`,
      );
      return [`[${first.rule}] ${first.message}`, ...lines].join("\n");
    })
    .join("\n\n");
}

/** Every .ts file under `<root>/src`, keyed by its path relative to `root` (posix separators). */
export function readSourceTree(root: string, dir = "src"): Map<string, string> {
  const files = new Map<string, string>();
  const entries = readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !/\.tsx?$/.test(entry.name)) continue;
    const absolute = path.join(entry.parentPath, entry.name);
    const relative = path.relative(root, absolute).split(path.sep).join("/");
    files.set(relative, readFileSync(absolute, "utf8"));
  }
  return new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
