// The layering check (scripts/lib/layering.ts): each rule fails when broken, the import scanner sees
// exactly what TypeScript sees, and the real src/ keeps the layering.
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import {
  checkLayering,
  formatViolations,
  type ImportRef,
  RULES,
  readSourceTree,
  scanImports,
} from "../../scripts/lib/layering.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The violations of one file importing `source`, as "rule specifier" strings. */
function violationsOf(file: string, source: string): string[] {
  return checkLayering({ [file]: source }).map((v) => `${v.rule} ${v.import}`);
}

/** The imports TypeScript's own parser finds, in the scanner's terms. */
function importsByTypeScript(source: string): Omit<ImportRef, "line" | "dynamic">[] {
  const file = ts.createSourceFile("x.ts", source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Omit<ImportRef, "line" | "dynamic">[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.importClause?.isTypeOnly ?? false });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      const constant = arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg));
      found.push({ specifier: constant ? arg.text : "", typeOnly: false });
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

const scanned = (source: string) =>
  scanImports(source).map(({ specifier, typeOnly }) => ({ specifier, typeOnly }));

describe("layering rules, on synthetic files", () => {
  it("src/domain imports only src/domain: no db, lib, env or packages, not even types", () => {
    expect(violationsOf("src/domain/x.ts", 'import { ApprovalEntry } from "../db/schema.ts";')).toEqual([
      "domain-is-pure ../db/schema.ts",
    ]);
    expect(
      violationsOf(
        "src/domain/x.ts",
        [
          'import type { ApprovalEntry } from "../db/schema.ts";',
          'import type { Bindings } from "../env.ts";',
          'import type { Logger } from "../lib/log.ts";',
          'import { eq } from "drizzle-orm";',
          'import type { Context } from "hono";',
          'import { z } from "zod";',
          'import { neon } from "@neondatabase/serverless";',
          'import { webcrypto } from "node:crypto";',
          'import { toLevel } from "./vocabulary.ts";',
          'import { ROLES } from "../domain/api-keys.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "domain-is-pure ../db/schema.ts",
      "domain-is-pure ../env.ts",
      "domain-is-pure ../lib/log.ts",
      "domain-is-pure drizzle-orm",
      "domain-is-pure hono",
      "domain-is-pure zod",
      "domain-is-pure @neondatabase/serverless",
      "domain-is-pure node:crypto",
    ]);
  });

  it("src/db imports only domain, db, drizzle-orm and @neondatabase/serverless", () => {
    expect(
      violationsOf(
        "src/db/x.ts",
        [
          'import { sql } from "drizzle-orm";',
          'import type { PgTable } from "drizzle-orm/pg-core";',
          'import { neon } from "@neondatabase/serverless";',
          'import { WEBHOOK_EVENTS } from "../domain/approvals.ts";',
          'import * as schema from "./schema.ts";',
          'import { createLogger } from "../lib/log.ts";',
          'import type { MetricsBuffer } from "../lib/metrics.ts";',
          'import type { Bindings } from "../env.ts";',
          'import { createApp } from "../app.ts";',
          'import worker from "../index.ts";',
          'import { evaluate } from "../services/eval.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import type { Context } from "hono";',
          'import { z } from "zod";',
        ].join("\n"),
      ),
    ).toEqual([
      "db-is-statements ../lib/log.ts",
      "db-is-statements ../lib/metrics.ts",
      "db-is-statements ../env.ts",
      "db-is-statements ../app.ts",
      "db-is-statements ../index.ts",
      "db-is-statements ../services/eval.ts",
      "db-is-statements ../routes/eval.ts",
      "db-is-statements ../jobs/sweep.ts",
      "db-is-statements hono",
      "db-is-statements zod",
    ]);
  });

  it("src/services stays below HTTP: no Hono, middleware, routes, jobs, app or openapi; env as types only", () => {
    expect(
      violationsOf(
        "src/services/x.ts",
        [
          'import { evaluate } from "../domain/evaluation.ts";',
          'import { createDb } from "../db/client.ts";',
          'import { ApiError } from "../lib/errors.ts";',
          'import type { Logger } from "../lib/log.ts";',
          'import { other } from "./other.ts";',
          'import type { Bindings } from "../env.ts";',
          'import { eq } from "drizzle-orm/sql";',
          'import { z } from "zod";',
          'import { Bindings as B } from "../env.ts";',
          'import type { Context } from "hono";',
          'import { HTTPException } from "hono/http-exception";',
          'import { z as z2 } from "@hono/zod-openapi";',
          'import { protectedRoute } from "../middleware/require-permission.ts";',
          'import type { errorResponse } from "../lib/openapi.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import { createApp } from "../app.ts";',
          'import worker from "../index.ts";',
          'import { neon } from "@neondatabase/serverless";',
        ].join("\n"),
      ),
    ).toEqual([
      "services-below-http ../env.ts",
      "services-below-http hono",
      "services-below-http hono/http-exception",
      "services-below-http @hono/zod-openapi",
      "services-below-http ../middleware/require-permission.ts",
      "services-below-http ../lib/openapi.ts",
      "services-below-http ../routes/eval.ts",
      "services-below-http ../jobs/sweep.ts",
      "services-below-http ../app.ts",
      "services-below-http ../index.ts",
      "services-below-http @neondatabase/serverless",
    ]);
  });

  it("src/routes take row types from src/db but no values, and nothing from src/jobs", () => {
    expect(
      violationsOf("src/routes/x.ts", 'import type { ApprovalRequestRow } from "../db/schema.ts";'),
    ).toEqual([]);
    expect(violationsOf("src/routes/x.ts", 'import { approvalRequests } from "../db/schema.ts";')).toEqual([
      "routes-call-services ../db/schema.ts",
    ]);
    // With verbatimModuleSyntax, `import { type X }` still loads the module at run time.
    expect(
      violationsOf("src/routes/x.ts", 'import { type ApprovalRequestRow } from "../db/schema.ts";'),
    ).toEqual(["routes-call-services ../db/schema.ts"]);
    expect(
      violationsOf(
        "src/routes/x.ts",
        [
          'import { z } from "@hono/zod-openapi";',
          'import type { Context } from "hono";',
          'import { evaluate } from "../services/eval.ts";',
          'import { protectedRoute } from "../middleware/require-permission.ts";',
          'import type { AppEnv } from "../env.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'export { approvalRequests } from "../db/schema.ts";',
          'export type { ApprovalRequestRow } from "../db/schema.ts";',
        ].join("\n"),
      ),
    ).toEqual(["routes-call-services ../jobs/sweep.ts", "routes-call-services ../db/schema.ts"]);
  });

  it("src/lib imports no routes, jobs or services, with no exception (keys are looked up in middleware)", () => {
    const source = [
      'import { evalRoutes } from "../routes/eval.ts";',
      'import { findKey } from "../services/keys.ts";',
      'import { sweep } from "../jobs/sweep.ts";',
      'import { createDb } from "../db/client.ts";',
      'import type { AppEnv } from "../env.ts";',
      'import type { Context } from "hono";',
    ].join("\n");
    expect(violationsOf("src/lib/log.ts", source)).toEqual([
      "lib-is-plumbing ../routes/eval.ts",
      "lib-below-services ../services/keys.ts",
      "lib-is-plumbing ../jobs/sweep.ts",
    ]);
    expect(violationsOf("src/lib/auth.ts", source)).toEqual([
      "lib-is-plumbing ../routes/eval.ts",
      "lib-below-services ../services/keys.ts",
      "lib-is-plumbing ../jobs/sweep.ts",
    ]);
  });

  it("src/jobs import no routes, middleware, console, MCP, app or Hono", () => {
    expect(
      violationsOf(
        "src/jobs/sweep.ts",
        [
          'import { expire } from "../services/requests.ts";',
          'import type { Bindings } from "../env.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { authenticate } from "../middleware/authenticate.ts";',
          'import { consoleRoutes } from "../console/routes.ts";',
          'import { mcpServer } from "../mcp/server.ts";',
          'import { createApp } from "../app.ts";',
          'import { Hono } from "hono";',
          'import type { Context } from "hono/tiny";',
          'import { z } from "@hono/zod-openapi";',
        ].join("\n"),
      ),
    ).toEqual([
      "jobs-are-not-http ../routes/eval.ts",
      "jobs-are-not-http ../middleware/authenticate.ts",
      "jobs-are-not-http ../console/routes.ts",
      "jobs-are-not-http ../mcp/server.ts",
      "jobs-are-not-http ../app.ts",
      "jobs-are-not-http hono",
      "jobs-are-not-http hono/tiny",
      "jobs-are-not-http @hono/zod-openapi",
    ]);
  });

  it("leaves top-level files and files outside src/ alone, and reports computed import()", () => {
    expect(
      checkLayering({
        "src/app.ts": 'import { createDb } from "./db/client.ts"; import { Hono } from "hono";',
        "test/x.test.ts": 'import { createDb } from "../src/db/client.ts";',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal
        "src/domain/x.ts": "export const load = (name: string) => import(`./${name}.ts`);",
      }).map((v) => `${v.file} ${v.rule} ${v.import}`),
    ).toEqual(["src/domain/x.ts literal-specifiers import(<computed>)"]);
  });

  it("resolves .js, extensionless and index specifiers onto the .ts files", () => {
    expect(
      checkLayering({
        "src/db/index.ts": 'import { sql } from "./raw.js"; import { log } from "../lib/log.js";',
        "src/db/raw.ts": "",
        "src/routes/z.ts": 'import { createDb } from "../db"; import type { Row } from "../db/raw";',
        "src/services/y.ts": 'import type { Bindings } from "../env"; import "../lib/openapi";',
      }).map((v) => `${v.file} ${v.import}`),
    ).toEqual(["src/db/index.ts ../lib/log.js", "src/routes/z.ts ../db", "src/services/y.ts ../lib/openapi"]);
  });

  it("names the file, line, import and rule of each violation readably", () => {
    const violations = checkLayering({
      "src/domain/x.ts": '// pure\n\nimport type { ApprovalEntry } from "../db/schema.ts";\n',
      "src/db/client.ts": 'import { createLogger } from "../lib/log.ts";',
    });
    expect(violations).toEqual([
      expect.objectContaining({
        file: "src/db/client.ts",
        line: 1,
        import: "../lib/log.ts",
        rule: "db-is-statements",
      }),
      expect.objectContaining({
        file: "src/domain/x.ts",
        line: 3,
        import: "../db/schema.ts",
        typeOnly: true,
      }),
    ]);
    const report = formatViolations(violations);
    expect(report).toContain("[db-is-statements] src/db holds statements and rows");
    expect(report).toContain('  src/db/client.ts:1  "../lib/log.ts"');
    expect(report).toContain('  src/domain/x.ts:3  import type "../db/schema.ts"');
  });

  it("has unique rule ids", () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
  });
});

describe("import scanner", () => {
  it("ignores imports in comments, strings, templates and regular expressions", () => {
    const source = [
      "// import { createDb } from '../db/client.ts';",
      "/* import '../db/a.ts';",
      "   export * from '../db/b.ts'; */",
      "/**",
      " * Use it like this:",
      ' *   import { x } from "../db/c.ts";',
      " *   const m = await import('../db/d.ts');",
      " */",
      "const url = \"https://example.com/import('../db/e.ts')\"; // a URL with // in a string",
      "const doc = 'import x from \"../db/f.ts\"';",
      "const tpl = `",
      '  import { y } from "../db/g.ts";',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal
      "  ${url} // not a comment /* either",
      "`;",
      String.raw`const re = /^[\w.@:/-]+$/; const re2 = /"import '..\/db\/h.ts'"/;`,
      'const half = 4 / 2; import { real } from "../db/real.ts"; const after = 8 / 4;',
      "x.import('../db/i.ts'); y?.import('../db/j.ts'); const u = import.meta.url;",
    ].join("\n");
    expect(scanImports(source)).toEqual([
      { specifier: "../db/real.ts", typeOnly: false, dynamic: false, line: 16 },
    ]);
    expect(violationsOf("src/domain/x.ts", source)).toEqual(["domain-is-pure ../db/real.ts"]);
  });

  it("sees multi-line import lists, re-exports, side-effect imports and dynamic imports", () => {
    const source = [
      "import {",
      "  type A,",
      "  b, // a comment in the list",
      "  /* another */ c as d,",
      '} from "../db/schema.ts";',
      'import type {\n  E,\n  F,\n} from "../db/types.ts";',
      'import def, * as ns from "./ns.ts";',
      'import "./side-effect.ts";',
      "export * from './star.ts';",
      'export * as all from "./star-as.ts";',
      'export { g, h as i } from "./named.ts";',
      'export type { J } from "./types-only.ts";',
      'export type * from "./all-types.ts";',
      "export const local = 1;",
      "export { local as renamed };",
      'export type Row = import("../db/row.ts").Row;',
      'type Mod = typeof import("../db/mod.ts");',
      'const lazy = () => import("../db/lazy.ts").then((m) => m.x);',
      "const later = await import(`../db/template.ts`);",
      'import type from "./default-named-type.ts";',
      'import legacy = require("./legacy.ts");',
    ].join("\n");
    expect(scanImports(source)).toEqual([
      { specifier: "../db/schema.ts", typeOnly: false, dynamic: false, line: 1 },
      { specifier: "../db/types.ts", typeOnly: true, dynamic: false, line: 6 },
      { specifier: "./ns.ts", typeOnly: false, dynamic: false, line: 10 },
      { specifier: "./side-effect.ts", typeOnly: false, dynamic: false, line: 11 },
      { specifier: "./star.ts", typeOnly: false, dynamic: false, line: 12 },
      { specifier: "./star-as.ts", typeOnly: false, dynamic: false, line: 13 },
      { specifier: "./named.ts", typeOnly: false, dynamic: false, line: 14 },
      { specifier: "./types-only.ts", typeOnly: true, dynamic: false, line: 15 },
      { specifier: "./all-types.ts", typeOnly: true, dynamic: false, line: 16 },
      { specifier: "../db/row.ts", typeOnly: true, dynamic: true, line: 19 },
      { specifier: "../db/mod.ts", typeOnly: true, dynamic: true, line: 20 },
      { specifier: "../db/lazy.ts", typeOnly: false, dynamic: true, line: 21 },
      { specifier: "../db/template.ts", typeOnly: false, dynamic: true, line: 22 },
      { specifier: "./default-named-type.ts", typeOnly: false, dynamic: false, line: 23 },
      { specifier: "./legacy.ts", typeOnly: false, dynamic: false, line: 24 },
    ]);
    // ...and agrees with TypeScript on them.
    expect(scanned(source)).toEqual(importsByTypeScript(source));
  });

  it("finds exactly the imports TypeScript finds, in every file of src/", () => {
    const files = readSourceTree(ROOT);
    expect(files.size).toBeGreaterThan(10);
    for (const [file, source] of files) {
      expect(scanned(source), file).toEqual(importsByTypeScript(source));
    }
  });
});

describe("src/", () => {
  it("keeps the layering (npm run layering)", () => {
    const violations = checkLayering(readSourceTree(ROOT));
    expect(
      violations.length,
      `${violations.length} layering violation(s) in src/:\n\n${formatViolations(violations)}\n`,
    ).toBe(0);
  });
});
