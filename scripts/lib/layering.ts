// The layering of src/, checked over its import graph (npm run layering; test/node/layering.test.ts).
// Each layer loads only layers listed below it (RULES says exactly which), never one above:
//
//   index.ts               worker entry: fetch -> app.ts; cron and queues -> jobs/
//   app.ts                 the HTTP app: mounts middleware/, routes/ and console/
//   routes/ mcp/ console/  adapters: route definitions and thin handlers (routes/mcp.ts mounts mcp/),
//                          the MCP server, the approver console; they do not import each other otherwise
//   middleware/            named Hono middleware: authentication, permissions, limits, headers
//   schemas/               zod wire schemas and row -> wire mappers (db rows and service results as types)
//   jobs/                  cron and queue consumers: services without HTTP
//   durable/               Durable Object classes (index.ts exports them): their own state and the pure
//                          rules of domain/; services reach them only through a binding
//   services/              the use cases: no Hono, no request context
//   db/                    SQL statements, rows, the client (drizzle, Neon)
//   domain/                pure logic: no packages, no I/O, no env
//
//   lib/                   plumbing for every layer above db (logging, metrics, errors, secrets, OpenAPI
//                          helpers, permissions): it imports only domain, lib and packages
//   config.ts, env.ts      the typed configuration (zod + domain only); the bindings and the Hono env
//                          (types only)
//
// The rules are data (RULES below): each row names the files it governs and either the only imports
// they may have (`allow`) or imports they must not have (`deny`, which also overrides `allow`). Type-only
// imports count like any other unless a row says otherwise. There are no per-file exemptions, and a file
// of src/ that no rule governs is itself a violation (a folder outside the layout). Imports are found by a
// small scanner over the source text (comments, strings, template literals and regular expressions are
// skipped properly), not by the TypeScript compiler, so the check is cheap and has no dependencies; the
// test cross-checks the scanner against TypeScript's parser on every file of src/.
//
// Cycles: any cycle of value imports in src/ is a violation, reported with its path. Type-only imports
// (`import type`, `export type ... from`, `import("x").T`) do not count: they are erased at compile time,
// so they neither order module loading nor put code in the bundle, and the rules above already bound who
// may name whose types. One such pair is expected: env.ts's AppEnv names the service context, whose
// factory may take env.ts's Bindings as a type.
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
  /** The specifier as written (or `import(<computed>)`; "" for a file no rule governs). */
  import: string;
  typeOnly: boolean;
  /** The id of the broken rule in RULES (or CYCLE_RULE, COMPUTED_IMPORT_RULE, UNPLACED_RULE). */
  rule: string;
  /** Why the rule exists, for the report. */
  message: string;
  /** For a cycle: the files in import order, the first repeated at the end (a.ts, b.ts, a.ts). */
  cycle?: string[];
}

/**
 * What an import may point at:
 * - "src/domain/**": any file under that folder;
 * - "src/env.ts": that file;
 * - "hono": that package and its subpaths (hono/body-limit); "@hono/*": every package of the scope;
 * - "*": every package (node: built-ins and paths into node_modules/ included).
 * `{ target, typeOnly: true }` in `allow` lets only type-only imports through; in `deny` it forbids only
 * value imports (type-only imports are fine).
 */
export type Target = string | { target: string; typeOnly: true };

export interface Rule {
  id: string;
  /** Files the rule governs (same patterns as Target). */
  files: string;
  /** When present, the only imports these files may have. */
  allow?: Target[];
  /** Imports these files must not have; wins over `allow`. */
  deny?: Target[];
  why: string;
}

/** Row types of src/db, which the layers above the services may name but not load. */
const DB_ROW_TYPES: Target = { target: "src/db/**", typeOnly: true };
/** The Bindings and AppEnv types. */
const ENV_TYPES: Target = { target: "src/env.ts", typeOnly: true };
/** What the HTTP side (middleware, routes, mcp, console, app.ts) may load besides its own folder. */
const BELOW_THE_HTTP_EDGE: Target[] = [
  "src/domain/**",
  "src/lib/**",
  "src/services/**",
  "src/schemas/**",
  "src/middleware/**",
  "src/env.ts",
  "src/config.ts",
];
/** The lib modules built on Hono: HTTP plumbing, which nothing below the HTTP edge may load. */
const HONO_LIB = ["src/lib/auth.ts", "src/lib/openapi.ts"];

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
    id: "config-below-services",
    files: "src/config.ts",
    allow: ["src/domain/**", "src/lib/**", "zod"],
    why: "src/config.ts parses the vars and secrets with one zod schema: it imports only zod, src/domain and src/lib (its error is an ApiError), so every layer from services up may read it",
  },
  {
    id: "env-declares-types",
    files: "src/env.ts",
    allow: [
      { target: "src/domain/**", typeOnly: true },
      { target: "src/lib/**", typeOnly: true },
      { target: "src/services/**", typeOnly: true },
      { target: "src/config.ts", typeOnly: true },
      { target: "*", typeOnly: true },
    ],
    why: "src/env.ts declares the bindings and the Hono env: it imports only types, from src/domain, src/lib, src/services, src/config.ts and packages",
  },
  {
    id: "lib-is-plumbing",
    files: "src/lib/**",
    allow: ["src/domain/**", "src/lib/**", ENV_TYPES, "*"],
    why: "src/lib is plumbing: it imports src/domain, src/lib, packages and types of src/env.ts; never services, db, config, schemas, middleware, routes, console, mcp or jobs",
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
      ENV_TYPES,
      "drizzle-orm",
      "zod",
    ],
    deny: HONO_LIB,
    why: `src/services imports domain, db, lib (not the Hono plumbing ${HONO_LIB.join(", ")}), services, config.ts, types of env.ts, drizzle-orm and zod: no Hono, schemas, middleware, routes, console, mcp or jobs`,
  },
  {
    id: "schemas-describe-the-wire",
    files: "src/schemas/**",
    allow: [
      "src/domain/**",
      "src/lib/**",
      "src/schemas/**",
      "src/services/**",
      DB_ROW_TYPES,
      "zod",
      "@hono/zod-openapi",
    ],
    why: "src/schemas holds wire schemas and row -> wire mappers: it imports domain, lib, schemas, services (the result schemas services define, published on the wire), zod, @hono/zod-openapi and only types of db rows",
  },
  {
    id: "middleware-at-the-edge",
    files: "src/middleware/**",
    allow: [...BELOW_THE_HTTP_EDGE, DB_ROW_TYPES, "*"],
    why: "src/middleware imports services, lib, domain, schemas, middleware, env.ts, config.ts and packages (row types of db by `import type`); never routes, console, mcp, jobs or db values",
  },
  {
    id: "routes-call-services",
    files: "src/routes/**",
    allow: [...BELOW_THE_HTTP_EDGE, "src/routes/**", "src/mcp/**", DB_ROW_TYPES, "*"],
    why: "src/routes reach the database through src/services (row types by `import type`); they do not import src/console (src/app.ts mounts it), src/jobs or the entry points; routes/mcp.ts mounts src/mcp",
  },
  {
    id: "mcp-calls-services",
    files: "src/mcp/**",
    allow: [...BELOW_THE_HTTP_EDGE, "src/mcp/**", DB_ROW_TYPES, "*"],
    why: "src/mcp reaches the database through src/services (row types by `import type`) and does not import src/routes, src/console, src/jobs or the entry points",
  },
  {
    id: "console-calls-services",
    files: "src/console/**",
    allow: [...BELOW_THE_HTTP_EDGE, "src/console/**", DB_ROW_TYPES, "*"],
    why: "src/console reaches the database through src/services, like the API routes (row types by `import type`), and does not import src/routes, src/mcp, src/jobs or the entry points",
  },
  {
    id: "jobs-are-not-http",
    files: "src/jobs/**",
    allow: [
      "src/domain/**",
      "src/lib/**",
      "src/services/**",
      "src/jobs/**",
      "src/env.ts",
      "src/config.ts",
      DB_ROW_TYPES,
      "*",
    ],
    deny: ["hono", "@hono/*", ...HONO_LIB],
    why: `src/jobs run outside HTTP: they import services, lib (not ${HONO_LIB.join(", ")}), domain, jobs, env.ts, config.ts, db row types and packages other than hono and @hono/*`,
  },
  {
    id: "durable-objects-keep-to-themselves",
    files: "src/durable/**",
    allow: ["src/domain/**", "src/durable/**", "cloudflare:workers"],
    why: "src/durable holds the Durable Object classes: they import only src/domain, src/durable and cloudflare:workers (no db, lib, config, services or HTTP); src/index.ts exports them, and the services reach them only through their binding's interface (src/services/context.ts)",
  },
  {
    id: "app-builds-the-http-app",
    files: "src/app.ts",
    allow: [...BELOW_THE_HTTP_EDGE, "src/routes/**", "src/console/**", "*"],
    why: "src/app.ts mounts middleware, routes and the console: it does not import src/index.ts, src/jobs, src/mcp (routes/mcp.ts mounts it) or src/db",
  },
  {
    id: "index-dispatches",
    files: "src/index.ts",
    allow: [
      "src/app.ts",
      "src/jobs/**",
      "src/durable/**",
      "src/lib/**",
      "src/domain/**",
      "src/env.ts",
      "src/config.ts",
      "*",
    ],
    why: "src/index.ts hands fetch to src/app.ts and cron and queues to src/jobs, and exports the Durable Object classes of src/durable: it imports only app.ts, jobs, durable, lib, domain, env.ts, config.ts and packages",
  },
];

/** A computed `import(expr)` hides its target from this check. */
export const COMPUTED_IMPORT_RULE = "literal-specifiers";
/** A cycle of value imports. */
export const CYCLE_RULE = "no-cycles";
/** A file of src/ that no rule governs: a folder (or top-level file) the layout does not have. */
export const UNPLACED_RULE = "in-the-layout";

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
 * extensionless path as `<path>.ts` or `<path>/index.ts` (whichever `files` has). Bare ones are packages,
 * and so is a relative path into node_modules/ (`../../node_modules/@scalar/api-reference/dist/x.js`).
 */
export function resolveImport(from: string, specifier: string, files?: ReadonlySet<string>): Resolved {
  if (!specifier.startsWith(".") && !specifier.startsWith("/")) return { kind: "package", name: specifier };
  let target = specifier.startsWith("/")
    ? path.posix.normalize(specifier.slice(1))
    : path.posix.join(path.posix.dirname(from), specifier);
  if (target.startsWith("node_modules/"))
    return { kind: "package", name: target.slice("node_modules/".length) };
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
  if (pattern === "*") return true;
  if (pattern.endsWith("/*")) return resolved.name.startsWith(pattern.slice(0, -1));
  return resolved.name === pattern || resolved.name.startsWith(`${pattern}/`);
}

const targetOf = (t: Target): string => (typeof t === "string" ? t : t.target);
const typeOnlyEntry = (t: Target): boolean => typeof t !== "string" && t.typeOnly;

/** Whether `rule` governs `file`. */
export function governs(rule: Rule, file: string): boolean {
  return matches(rule.files, { kind: "file", path: file });
}

/** The rules `file` breaks by importing `ref` (resolved to `resolved`). */
export function brokenRules(
  file: string,
  ref: ImportRef,
  resolved: Resolved,
  rules: readonly Rule[] = RULES,
): Rule[] {
  const broken: Rule[] = [];
  for (const rule of rules) {
    if (!governs(rule, file)) continue;
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

// ---------------------------------------------------------------------------------------------------
// Cycles

/** A value import from one file of the tree to another, at the line of its first occurrence. */
interface Edge {
  to: string;
  line: number;
  specifier: string;
}

/** The value-import graph of the files: type-only imports and imports of files not in `files` left out. */
function valueImportGraph(sources: ReadonlyMap<string, string>): Map<string, Edge[]> {
  const paths = new Set(sources.keys());
  const graph = new Map<string, Edge[]>();
  for (const [file, source] of sources) {
    const edges: Edge[] = [];
    for (const ref of scanImports(source)) {
      if (ref.typeOnly || ref.specifier === "") continue;
      const resolved = resolveImport(file, ref.specifier, paths);
      if (resolved.kind !== "file" || !paths.has(resolved.path)) continue;
      if (edges.some((edge) => edge.to === resolved.path)) continue;
      edges.push({ to: resolved.path, line: ref.line, specifier: ref.specifier });
    }
    graph.set(file, edges);
  }
  return graph;
}

/** The strongly connected components of `graph` that hold a cycle (two files or more, or a self-import). */
function cyclicComponents(graph: ReadonlyMap<string, Edge[]>): string[][] {
  // Tarjan's algorithm, iterative so that a deep import chain cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { file: string; next: number }[] = [{ file: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { file: string; next: number };
      const edges = graph.get(frame.file) ?? [];
      if (frame.next < edges.length) {
        const to = (edges[frame.next++] as Edge).to;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ file: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.file, Math.min(low.get(frame.file) as number, index.get(to) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent)
        low.set(parent.file, Math.min(low.get(parent.file) as number, low.get(frame.file) as number));
      if (low.get(frame.file) !== index.get(frame.file)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.file);
      const selfImport = edges.some((edge) => edge.to === frame.file);
      if (component.length > 1 || selfImport) components.push(component.sort());
    }
  }
  return components;
}

/** A shortest cycle through `start` inside `component`, as files from `start` back to `start`. */
function shortestCycle(
  graph: ReadonlyMap<string, Edge[]>,
  component: readonly string[],
  start: string,
): string[] {
  const inside = new Set(component);
  const previous = new Map<string, string>();
  const queue = [start];
  for (let k = 0; k < queue.length; k++) {
    const file = queue[k] as string;
    for (const { to } of graph.get(file) ?? []) {
      if (!inside.has(to)) continue;
      if (to === start) {
        const chain: string[] = [];
        for (let at = file; at !== start; at = previous.get(at) as string) chain.unshift(at);
        return [start, ...chain, start];
      }
      if (!previous.has(to)) {
        previous.set(to, file);
        queue.push(to);
      }
    }
  }
  return [start, start]; // unreachable for a cyclic component
}

/**
 * One violation per group of files that import each other (by value): a shortest cycle through the
 * group's first file, reported at that file's import of the next one.
 */
export function findCycles(sources: ReadonlyMap<string, string>): Violation[] {
  const graph = valueImportGraph(sources);
  return cyclicComponents(graph)
    .map((component) => {
      const start = component[0] as string;
      const cycle = shortestCycle(graph, component, start);
      const edge = (graph.get(start) ?? []).find((e) => e.to === cycle[1]) as Edge;
      return {
        file: start,
        line: edge.line,
        import: edge.specifier,
        typeOnly: false,
        rule: CYCLE_RULE,
        message:
          "src/ has no import cycles: files that import each other (by value) cannot be read, tested or loaded one without the other",
        cycle,
      };
    })
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/**
 * The layering check. `files` maps repository paths (src/routes/eval.ts) to source text; every .ts file
 * under src/ is checked against the rules that govern it (a file no rule governs is reported), and the
 * value imports among them must form no cycle. Pure: reads nothing but its arguments.
 */
export function checkLayering(
  files: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  rules: readonly Rule[] = RULES,
): Violation[] {
  const entries = (files instanceof Map ? [...files.entries()] : Object.entries(files))
    .filter(([file]) => file.startsWith("src/") && /\.tsx?$/.test(file))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const paths = new Set(files instanceof Map ? files.keys() : Object.keys(files));
  const violations: Violation[] = [];
  for (const [file, source] of entries) {
    if (!rules.some((rule) => governs(rule, file))) {
      violations.push({
        file,
        line: 1,
        import: "",
        typeOnly: false,
        rule: UNPLACED_RULE,
        message:
          "every file of src/ belongs to a layer of the layout (a folder or top-level file a rule governs): a new folder needs its rule",
      });
    }
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
  return [...violations, ...findCycles(new Map(entries))];
}

/**
 * Violations grouped by rule: the rule's id and reason, then one line per import,
 * `  src/db/client.ts:10  "../lib/log.ts"` (`import type "..."` when type-only), and for a cycle its path,
 * `  src/a.ts:3  "./b.ts"  cycle: src/a.ts -> src/b.ts -> src/a.ts`.
 */
export function formatViolations(violations: readonly Violation[]): string {
  const byRule = new Map<string, Violation[]>();
  for (const v of violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
  return [...byRule.values()]
    .map((group) => {
      const first = group[0] as Violation;
      const lines = group.map((v) => {
        const where = `  ${v.file}:${v.line}`;
        if (v.rule === UNPLACED_RULE) return `${where}  (in no layer: src/${layerOf(v.file)})`;
        const specifier = `${v.typeOnly ? "import type " : ""}"${v.import}"`;
        return `${where}  ${specifier}${v.cycle ? `  cycle: ${v.cycle.join(" -> ")}` : ""}`;
      });
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
