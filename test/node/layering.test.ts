// The layering check (scripts/lib/layering.ts): each rule fails when broken, the rules themselves only
// point down, cycles are found and reported with their path, the import scanner sees exactly what
// TypeScript sees, and the real src/ keeps the layering.
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import {
  CYCLE_RULE,
  checkLayering,
  formatViolations,
  governs,
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

  it("src/config.ts imports only zod, src/domain and src/lib", () => {
    expect(
      violationsOf(
        "src/config.ts",
        [
          'import { z } from "zod";',
          'import { APPROVAL_LEVELS } from "./domain/vocabulary.ts";',
          'import type { Bindings } from "./env.ts";',
          'import { createLogger } from "./lib/log.ts";',
          'import type { ServiceContext } from "./services/context.ts";',
          'import { sql } from "drizzle-orm";',
          'import { z as z2 } from "@hono/zod-openapi";',
        ].join("\n"),
      ),
    ).toEqual([
      "config-below-services ./env.ts",
      "config-below-services ./services/context.ts",
      "config-below-services drizzle-orm",
      "config-below-services @hono/zod-openapi",
    ]);
  });

  it("src/env.ts imports only types, from domain, lib, services, config.ts and packages", () => {
    expect(
      violationsOf(
        "src/env.ts",
        [
          'import type { Principal } from "./domain/access.ts";',
          'import type { Logger } from "./lib/log.ts";',
          'import type { ServiceContext } from "./services/context.ts";',
          'import type { Config } from "./config.ts";',
          'import type { Context } from "hono";',
          'import { createServiceContext } from "./services/context.ts";',
          'import { z } from "zod";',
          'import type { DecisionInsert } from "./db/decisions.ts";',
          'import type { evalRoutes } from "./routes/eval.ts";',
          'import type { createApp } from "./app.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "env-declares-types ./services/context.ts",
      "env-declares-types zod",
      "env-declares-types ./db/decisions.ts",
      "env-declares-types ./routes/eval.ts",
      "env-declares-types ./app.ts",
    ]);
  });

  it("src/lib imports domain, lib, packages and env types; never services, db, config or any layer above", () => {
    const source = [
      'import { can } from "../domain/access.ts";',
      'import { ApiError } from "./errors.ts";',
      'import { OpenAPIHono } from "@hono/zod-openapi";',
      'import type { MiddlewareHandler } from "hono";',
      'import { webcrypto } from "node:crypto";',
      'import type { AppEnv } from "../env.ts";',
      'import { findKey } from "../services/keys.ts";',
      'import type { ApiKeyRow } from "../db/schema.ts";',
      'import { loadConfig } from "../config.ts";',
      'import { RequestSchema } from "../schemas/requests.ts";',
      'import { authenticate } from "../middleware/authenticate.ts";',
      'import { evalRoutes } from "../routes/eval.ts";',
      'import { consoleRoutes } from "../console/routes.ts";',
      'import { mcpServer } from "../mcp/server.ts";',
      'import { sweep } from "../jobs/sweep.ts";',
      'import { Bindings } from "../env.ts";',
      'import { createApp } from "../app.ts";',
    ].join("\n");
    const expected = [
      "lib-is-plumbing ../services/keys.ts",
      "lib-is-plumbing ../db/schema.ts",
      "lib-is-plumbing ../config.ts",
      "lib-is-plumbing ../schemas/requests.ts",
      "lib-is-plumbing ../middleware/authenticate.ts",
      "lib-is-plumbing ../routes/eval.ts",
      "lib-is-plumbing ../console/routes.ts",
      "lib-is-plumbing ../mcp/server.ts",
      "lib-is-plumbing ../jobs/sweep.ts",
      "lib-is-plumbing ../env.ts",
      "lib-is-plumbing ../app.ts",
    ];
    expect(violationsOf("src/lib/log.ts", source)).toEqual(expected);
    // No file of src/lib is exempt, src/lib/auth.ts included.
    expect(violationsOf("src/lib/auth.ts", source)).toEqual(expected);
  });

  it("src/services stays below HTTP: no Hono, schemas, middleware, adapters, jobs, app, auth or openapi; env as types only", () => {
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
          'import { loadConfig } from "../config.ts";',
          'import { eq } from "drizzle-orm/sql";',
          'import { z } from "zod";',
          'import { Bindings as B } from "../env.ts";',
          'import type { Context } from "hono";',
          'import { HTTPException } from "hono/http-exception";',
          'import { z as z2 } from "@hono/zod-openapi";',
          'import { protectedRoute } from "../lib/auth.ts";',
          'import type { errorResponse } from "../lib/openapi.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import { createApp } from "../app.ts";',
          'import worker from "../index.ts";',
          'import { neon } from "@neondatabase/serverless";',
          'import type { RequestWire } from "../schemas/requests.ts";',
          'import { authenticate } from "../middleware/authenticate.ts";',
          'import { consoleRoutes } from "../console/routes.ts";',
          'import { mcpServer } from "../mcp/server.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "services-below-http ../env.ts",
      "services-below-http hono",
      "services-below-http hono/http-exception",
      "services-below-http @hono/zod-openapi",
      "services-below-http ../lib/auth.ts",
      "services-below-http ../lib/openapi.ts",
      "services-below-http ../routes/eval.ts",
      "services-below-http ../jobs/sweep.ts",
      "services-below-http ../app.ts",
      "services-below-http ../index.ts",
      "services-below-http @neondatabase/serverless",
      "services-below-http ../schemas/requests.ts",
      "services-below-http ../middleware/authenticate.ts",
      "services-below-http ../console/routes.ts",
      "services-below-http ../mcp/server.ts",
    ]);
  });

  it("src/schemas import domain, lib, schemas, services, zod and @hono/zod-openapi, and only types of db", () => {
    expect(
      violationsOf(
        "src/schemas/requests.ts",
        [
          'import { z } from "@hono/zod-openapi";',
          'import type { ZodError } from "zod";',
          'import { REQUEST_ID_PATTERN } from "../domain/ids.ts";',
          'import { errorResponse } from "../lib/openapi.ts";',
          'import { IdParam } from "./common.ts";',
          'import type { ApprovalRequestRow } from "../db/schema.ts";',
          'import type { CreatedRequest } from "../services/approval-requests.ts";',
          'import { approvalRequests } from "../db/schema.ts";',
          'import { createRequest } from "../services/approval-requests.ts";',
          'import type { Context } from "hono";',
          'import type { AppEnv } from "../env.ts";',
          'import { loadConfig } from "../config.ts";',
          'import { authenticate } from "../middleware/authenticate.ts";',
          'import { requestRoutes } from "../routes/requests.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "schemas-describe-the-wire ../db/schema.ts",
      "schemas-describe-the-wire hono",
      "schemas-describe-the-wire ../env.ts",
      "schemas-describe-the-wire ../config.ts",
      "schemas-describe-the-wire ../middleware/authenticate.ts",
      "schemas-describe-the-wire ../routes/requests.ts",
      "schemas-describe-the-wire ../jobs/sweep.ts",
    ]);
  });

  it("src/middleware imports services, lib, domain, schemas, env, config and hono; no routes, adapters, jobs or db values", () => {
    expect(
      violationsOf(
        "src/middleware/authenticate.ts",
        [
          'import { createMiddleware } from "hono/factory";',
          'import { resolveApiKey } from "../services/keys.ts";',
          'import { assertCan } from "../lib/permissions.ts";',
          'import { can } from "../domain/access.ts";',
          'import { ErrorSchema } from "../schemas/common.ts";',
          'import { requestContext } from "./request-context.ts";',
          'import type { AppEnv } from "../env.ts";',
          'import { configOf } from "../config.ts";',
          'import type { ApiKeyRow } from "../db/schema.ts";',
          'import { findKey } from "../db/api-keys.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { consoleRoutes } from "../console/routes.ts";',
          'import { mcpServer } from "../mcp/server.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import { createApp } from "../app.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "middleware-at-the-edge ../db/api-keys.ts",
      "middleware-at-the-edge ../routes/eval.ts",
      "middleware-at-the-edge ../console/routes.ts",
      "middleware-at-the-edge ../mcp/server.ts",
      "middleware-at-the-edge ../jobs/sweep.ts",
      "middleware-at-the-edge ../app.ts",
    ]);
  });

  it("src/routes take row types from src/db but no values, mount src/mcp, and import no console, jobs or entry point", () => {
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
          'import { protectedRoute } from "../lib/auth.ts";',
          'import type { AppEnv } from "../env.ts";',
          'import { EvalSchema } from "../schemas/eval.ts";',
          'import { requirePermission } from "../middleware/permissions.ts";',
          'import { mcpServer } from "../mcp/server.ts";',
          'import { configOf } from "../config.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import { consoleRoutes } from "../console/routes.ts";',
          'import { createApp } from "../app.ts";',
          'import { version } from "../../package.json";',
          'export { approvalRequests } from "../db/schema.ts";',
          'export type { ApprovalRequestRow } from "../db/schema.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "routes-call-services ../jobs/sweep.ts",
      "routes-call-services ../console/routes.ts",
      "routes-call-services ../app.ts",
      "routes-call-services ../../package.json",
      "routes-call-services ../db/schema.ts",
    ]);
  });

  it("src/mcp and src/console go through services and import neither routes, each other, jobs nor db values", () => {
    const source = (own: string) =>
      [
        'import { Hono } from "hono";',
        'import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";',
        'import { decideRequest } from "../services/approval-requests.ts";',
        'import { assertCan } from "../lib/permissions.ts";',
        'import { can } from "../domain/access.ts";',
        'import { RequestSchema } from "../schemas/requests.ts";',
        'import { authenticate } from "../middleware/authenticate.ts";',
        'import type { AppEnv } from "../env.ts";',
        'import { configOf } from "../config.ts";',
        'import type { ApprovalRequestRow } from "../db/schema.ts";',
        `import { helper } from "./${own}.ts";`,
        'import { approvalRequests } from "../db/schema.ts";',
        'import { requestRoutes } from "../routes/requests.ts";',
        'import { sweep } from "../jobs/sweep.ts";',
        'import { createApp } from "../app.ts";',
      ].join("\n");
    expect(
      violationsOf("src/mcp/tools.ts", `${source("texts")}\nimport { views } from "../console/views.ts";`),
    ).toEqual([
      "mcp-calls-services ../db/schema.ts",
      "mcp-calls-services ../routes/requests.ts",
      "mcp-calls-services ../jobs/sweep.ts",
      "mcp-calls-services ../app.ts",
      "mcp-calls-services ../console/views.ts",
    ]);
    expect(
      violationsOf(
        "src/console/routes.ts",
        `${source("views")}\nimport { mcpServer } from "../mcp/server.ts";`,
      ),
    ).toEqual([
      "console-calls-services ../db/schema.ts",
      "console-calls-services ../routes/requests.ts",
      "console-calls-services ../jobs/sweep.ts",
      "console-calls-services ../app.ts",
      "console-calls-services ../mcp/server.ts",
    ]);
  });

  it("src/jobs import services, lib, domain, config, env and db types; no Hono, routes, middleware, adapters or schemas", () => {
    expect(
      violationsOf(
        "src/jobs/sweep.ts",
        [
          'import { expire } from "../services/requests.ts";',
          'import { createLogger } from "../lib/log.ts";',
          'import { newRunId } from "../domain/ids.ts";',
          'import { configOf } from "../config.ts";',
          'import type { Bindings } from "../env.ts";',
          'import type { DecisionInsert } from "../db/decisions.ts";',
          'import { retryDelay } from "./retries.ts";',
          'import { writeDecisions } from "../db/decisions.ts";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { Hono } from "hono";',
          'import type { Context } from "hono/tiny";',
          'import { z } from "@hono/zod-openapi";',
          'import { createRouter } from "../lib/openapi.ts";',
          'import { authenticate } from "../middleware/authenticate.ts";',
          'import { consoleRoutes } from "../console/routes.ts";',
          'import { mcpServer } from "../mcp/server.ts";',
          'import { RequestSchema } from "../schemas/requests.ts";',
          'import { createApp } from "../app.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "jobs-are-not-http ../db/decisions.ts",
      "jobs-are-not-http ../routes/eval.ts",
      "jobs-are-not-http hono",
      "jobs-are-not-http hono/tiny",
      "jobs-are-not-http @hono/zod-openapi",
      "jobs-are-not-http ../lib/openapi.ts",
      "jobs-are-not-http ../middleware/authenticate.ts",
      "jobs-are-not-http ../console/routes.ts",
      "jobs-are-not-http ../mcp/server.ts",
      "jobs-are-not-http ../schemas/requests.ts",
      "jobs-are-not-http ../app.ts",
    ]);
  });

  it("src/durable holds Durable Object classes: domain, durable and cloudflare:workers only; nothing else reaches in but index.ts", () => {
    expect(
      violationsOf(
        "src/durable/gate.ts",
        [
          'import { DurableObject } from "cloudflare:workers";',
          'import { leaseRefusal } from "../domain/wait-gate.ts";',
          'import { other } from "./other.ts";',
          'import { createLogger } from "../lib/log.ts";',
          'import { loadConfig } from "../config.ts";',
          'import type { Bindings } from "../env.ts";',
          'import { createDb } from "../db/client.ts";',
          'import { holdWait } from "../services/waits.ts";',
          'import { Hono } from "hono";',
          'import { evalRoutes } from "../routes/eval.ts";',
          'import { sweep } from "../jobs/sweep.ts";',
          'import { z } from "zod";',
          'import worker from "../index.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "durable-objects-keep-to-themselves ../lib/log.ts",
      "durable-objects-keep-to-themselves ../config.ts",
      "durable-objects-keep-to-themselves ../env.ts",
      "durable-objects-keep-to-themselves ../db/client.ts",
      "durable-objects-keep-to-themselves ../services/waits.ts",
      "durable-objects-keep-to-themselves hono",
      "durable-objects-keep-to-themselves ../routes/eval.ts",
      "durable-objects-keep-to-themselves ../jobs/sweep.ts",
      "durable-objects-keep-to-themselves zod",
      "durable-objects-keep-to-themselves ../index.ts",
    ]);
    // The services reach a Durable Object through its binding's interface, never its class.
    expect(violationsOf("src/services/x.ts", 'import { WaitGate } from "../durable/wait-gate.ts";')).toEqual([
      "services-below-http ../durable/wait-gate.ts",
    ]);
    expect(violationsOf("src/routes/x.ts", 'import { WaitGate } from "../durable/wait-gate.ts";')).toEqual([
      "routes-call-services ../durable/wait-gate.ts",
    ]);
  });

  it("src/app.ts mounts middleware, routes and the console; src/index.ts hands work to app.ts and src/jobs", () => {
    expect(
      violationsOf(
        "src/app.ts",
        [
          'import { Hono } from "hono";',
          'import { authenticate } from "./middleware/authenticate.ts";',
          'import { evalRoutes } from "./routes/eval.ts";',
          'import { consoleRoutes } from "./console/routes.ts";',
          'import { createServiceContext } from "./services/context.ts";',
          'import { createLogger } from "./lib/log.ts";',
          'import type { AppEnv } from "./env.ts";',
          'import { configOf } from "./config.ts";',
          'import { mcpServer } from "./mcp/server.ts";',
          'import { sweep } from "./jobs/sweep.ts";',
          'import type { ApprovalRequestRow } from "./db/schema.ts";',
          'import worker from "./index.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "app-builds-the-http-app ./mcp/server.ts",
      "app-builds-the-http-app ./jobs/sweep.ts",
      "app-builds-the-http-app ./db/schema.ts",
      "app-builds-the-http-app ./index.ts",
    ]);
    expect(
      violationsOf(
        "src/index.ts",
        [
          'import { createApp } from "./app.ts";',
          'import { consumeWebhooks } from "./jobs/webhook-consumer.ts";',
          'export { WaitGate } from "./durable/wait-gate.ts";',
          'import { createLogger } from "./lib/log.ts";',
          'import { newRunId } from "./domain/ids.ts";',
          'import type { Bindings } from "./env.ts";',
          'import { configOf } from "./config.ts";',
          'import { runEscalation } from "./services/escalation.ts";',
          'import type { DecisionInsert } from "./db/decisions.ts";',
          'import { evalRoutes } from "./routes/eval.ts";',
          'import { authenticate } from "./middleware/authenticate.ts";',
        ].join("\n"),
      ),
    ).toEqual([
      "index-dispatches ./services/escalation.ts",
      "index-dispatches ./db/decisions.ts",
      "index-dispatches ./routes/eval.ts",
      "index-dispatches ./middleware/authenticate.ts",
    ]);
  });

  it("reports a file in no layer of the layout, ignores files outside src/, and reports computed import()", () => {
    expect(
      checkLayering({
        "src/utils/strings.ts": "export const trim = (s: string) => s.trim();",
        "src/helpers.ts": "",
        "test/x.test.ts": 'import { createDb } from "../src/db/client.ts";',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal
        "src/domain/x.ts": "export const load = (name: string) => import(`./${name}.ts`);",
      }).map((v) => `${v.file} ${v.rule} ${v.import}`),
    ).toEqual([
      "src/domain/x.ts literal-specifiers import(<computed>)",
      "src/helpers.ts in-the-layout ",
      "src/utils/strings.ts in-the-layout ",
    ]);
  });

  it("reads a relative path into node_modules/ as that package", () => {
    const scalar =
      'import bundle from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js";';
    expect(violationsOf("src/routes/docs.ts", scalar)).toEqual([]);
    expect(violationsOf("src/domain/x.ts", scalar)).toEqual([
      "domain-is-pure ../../node_modules/@scalar/api-reference/dist/browser/standalone.js",
    ]);
  });

  it("resolves .js, extensionless and index specifiers onto the .ts files", () => {
    expect(
      checkLayering({
        "src/db/index.ts": 'import { sql } from "./raw.js"; import { log } from "../lib/log.js";',
        "src/db/raw.ts": "",
        "src/routes/z.ts": 'import { createDb } from "../db"; import type { Row } from "../db/raw";',
        "src/services/y.ts": 'import type { Bindings } from "../env"; import "../lib/auth";',
      }).map((v) => `${v.file} ${v.import}`),
    ).toEqual(["src/db/index.ts ../lib/log.js", "src/routes/z.ts ../db", "src/services/y.ts ../lib/auth"]);
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

  it("governs every folder and top-level file of the layout, each by exactly one rule", () => {
    const layout = [
      "src/index.ts",
      "src/app.ts",
      "src/env.ts",
      "src/config.ts",
      "src/middleware/x.ts",
      "src/routes/x.ts",
      "src/schemas/x.ts",
      "src/mcp/x.ts",
      "src/console/x.ts",
      "src/jobs/x.ts",
      "src/services/x.ts",
      "src/domain/x.ts",
      "src/db/x.ts",
      "src/lib/x.ts",
    ];
    for (const file of layout) {
      expect(
        RULES.filter((rule) => governs(rule, file)).map((rule) => rule.id),
        file,
      ).toHaveLength(1);
    }
  });

  it("allows no cycle between layers: the value imports the rules permit only point down", () => {
    // Each rule's files, and the other layers its allow list lets it load (type-only entries erased).
    const layer = (pattern: string) => pattern.replace(/\/\*\*$/, "");
    const edges = new Map<string, string[]>();
    for (const rule of RULES) {
      const targets = (rule.allow ?? [])
        .filter((t): t is string => typeof t === "string" && t.startsWith("src/"))
        .map(layer)
        .filter((target) => target !== layer(rule.files));
      edges.set(layer(rule.files), targets);
    }
    const depth = new Map<string, number>();
    const visiting: string[] = [];
    const depthOf = (node: string): number => {
      const known = depth.get(node);
      if (known !== undefined) return known;
      expect(
        visiting,
        `the rules let layers load each other: ${[...visiting, node].join(" -> ")}`,
      ).not.toContain(node);
      visiting.push(node);
      const below = (edges.get(node) ?? []).map(depthOf);
      visiting.pop();
      const own = below.length === 0 ? 0 : Math.max(...below) + 1;
      depth.set(node, own);
      return own;
    };
    for (const node of edges.keys()) depthOf(node);
    expect(depth.get("src/domain")).toBe(0);
    expect(depth.get("src/index.ts")).toBe(Math.max(...depth.values()));
  });
});

describe("import cycles, on synthetic files", () => {
  it("reports a 2-cycle once, at its first file's import, with the path of the cycle", () => {
    const violations = checkLayering({
      "src/services/webhooks.ts": 'import { x } from "./other.ts";\nimport { expire } from "./requests.ts";',
      "src/services/requests.ts": 'import { enqueue } from "./webhooks.ts";',
      "src/services/other.ts": "",
    });
    expect(violations).toEqual([
      expect.objectContaining({
        rule: CYCLE_RULE,
        file: "src/services/requests.ts",
        line: 1,
        import: "./webhooks.ts",
        cycle: ["src/services/requests.ts", "src/services/webhooks.ts", "src/services/requests.ts"],
      }),
    ]);
    expect(formatViolations(violations)).toContain(
      '  src/services/requests.ts:1  "./webhooks.ts"  cycle: src/services/requests.ts -> src/services/webhooks.ts -> src/services/requests.ts',
    );
  });

  it("reports a 3-cycle across layers with its path, and not the files that only lead into it", () => {
    // lib -> services is also an upward import; the cycle is reported besides.
    const violations = checkLayering({
      "src/services/a.ts": 'import { b } from "../lib/b.ts";',
      "src/lib/b.ts": 'import { c } from "./c.ts";',
      "src/lib/c.ts": '\n\nexport { a } from "../services/a.ts";',
      "src/services/d.ts": 'import { a } from "./a.ts";',
    });
    expect(violations.map((v) => `${v.rule} ${v.file}:${v.line} ${v.import}`)).toEqual([
      "lib-is-plumbing src/lib/c.ts:3 ../services/a.ts",
      "no-cycles src/lib/b.ts:1 ./c.ts",
    ]);
    expect(violations[1]?.cycle).toEqual([
      "src/lib/b.ts",
      "src/lib/c.ts",
      "src/services/a.ts",
      "src/lib/b.ts",
    ]);
  });

  it("reports the shortest cycle of a tangle, a self-import, and lazy import() edges", () => {
    const violations = checkLayering({
      "src/services/a.ts": 'import "./b.ts";\nimport "./c.ts";',
      "src/services/b.ts": 'import "./c.ts";',
      "src/services/c.ts": 'const lazy = () => import("./a.ts");',
      "src/services/self.ts": 'import { x } from "./self.ts";\nexport const y = 1;',
    });
    expect(violations.map((v) => v.cycle)).toEqual([
      ["src/services/a.ts", "src/services/c.ts", "src/services/a.ts"],
      ["src/services/self.ts", "src/services/self.ts"],
    ]);
  });

  it("does not count type-only imports: they are erased and order no module loading", () => {
    expect(
      checkLayering({
        "src/env.ts": 'import type { ServiceContext } from "./services/context.ts";',
        "src/services/context.ts": 'import type { Bindings } from "../env.ts";',
        "src/services/a.ts": 'import { b } from "./b.ts";',
        "src/services/b.ts": 'import type { A } from "./a.ts";\nexport type { A2 } from "./a.ts";',
      }),
    ).toEqual([]);
    // ...but `import { type X }` loads the module under verbatimModuleSyntax, so it closes a cycle.
    expect(
      checkLayering({
        "src/services/a.ts": 'import { b } from "./b.ts";',
        "src/services/b.ts": 'import { type A } from "./a.ts";',
      }).map((v) => v.cycle),
    ).toEqual([["src/services/a.ts", "src/services/b.ts", "src/services/a.ts"]]);
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
