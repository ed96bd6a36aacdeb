// The MCP tool list and the OpenAPI document describe the same operations: each tool's input fields are
// its REST operation's body, path, query and header fields (renamed only where REST puts them outside
// the body), with the same types, bounds, patterns, enums, defaults and required-ness, save the few
// differences listed here with their reasons. A field added to a route's schema and not to its tool
// (or the other way round) fails this test.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";
import { connectMcp } from "./helpers/mcp.ts";

type JsonSchema = Record<string, unknown>;

interface Correspondence {
  method: "get" | "post";
  path: string;
  /** REST name → tool field, for values REST carries outside the body. */
  renamed?: Record<string, string>;
  /** REST fields the tool does not take, and why. */
  notInTool?: Record<string, string>;
  /** Tool fields required where REST leaves them optional, and why. */
  requiredInTool?: Record<string, string>;
  /** Tool fields whose default differs from REST (REST has none), and why. */
  ownDefault?: Record<string, string>;
}

const CORRESPONDENCE: Record<string, Correspondence> = {
  evaluate_action: {
    method: "post",
    path: "/api/v1/policy/eval",
    notInTool: { policy_overrides: "the admin-only what-if sandbox; agents evaluate against stored policy" },
  },
  request_approval: {
    method: "post",
    path: "/api/v1/policy/requests",
    renamed: { "idempotency-key": "idempotency_key" },
    requiredInTool: {
      idempotency_key:
        "a tool call an agent framework retries must never file twice, so the key is not optional",
    },
  },
  wait_for_decision: {
    method: "get",
    path: "/api/v1/policy/requests/{request_id}",
    renamed: { wait: "wait_seconds" },
    ownDefault: { wait_seconds: "waiting is the tool's purpose; a REST read without ?wait answers at once" },
  },
  get_request: {
    method: "get",
    path: "/api/v1/policy/requests/{request_id}",
    notInTool: { wait: "waiting is wait_for_decision's job" },
  },
  cancel_request: { method: "post", path: "/api/v1/policy/requests/{request_id}/cancel" },
};

interface OpenApiOperation {
  parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  description?: string;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const COMPARED_KEYWORDS = ["type", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum"];

/**
 * A schema as the set of values it admits, in a form both generators agree on: one entry per
 * alternative (OpenAPI 3.1 writes `type: ["string", "null"]`, draft-07 `anyOf: [..., {type: null}]`),
 * each with the validating keywords only (no descriptions or examples), and without the
 * ±MAX_SAFE_INTEGER bounds zod adds to every integer in JSON Schema.
 */
function alternatives(schema: JsonSchema): string[] {
  const nested = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (nested) return [...new Set(nested.flatMap(alternatives))].sort();
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string | undefined];
  return types
    .map((type) => {
      if (type === "null") return JSON.stringify({ type });
      const kept: Record<string, unknown> = {};
      for (const keyword of COMPARED_KEYWORDS) {
        const value = keyword === "type" ? type : schema[keyword];
        if (value === undefined) continue;
        if ((keyword === "minimum" || keyword === "maximum") && Math.abs(value as number) === MAX_SAFE)
          continue;
        kept[keyword] = value;
      }
      return JSON.stringify(kept);
    })
    .sort();
}

interface Field {
  schema: JsonSchema;
  required: boolean;
}

/** An operation's input fields (body properties, path, query and header parameters) by name. */
function operationFields(doc: OpenApiDocument, operation: OpenApiOperation): Map<string, Field> {
  const fields = new Map<string, Field>();
  for (const parameter of operation.parameters ?? []) {
    fields.set(parameter.name, { schema: parameter.schema, required: parameter.required === true });
  }
  let body = operation.requestBody?.content["application/json"]?.schema;
  const ref = body?.$ref as string | undefined;
  if (ref) body = doc.components.schemas[ref.replace("#/components/schemas/", "")];
  const required = new Set((body?.required as string[] | undefined) ?? []);
  for (const [name, schema] of Object.entries((body?.properties ?? {}) as Record<string, JsonSchema>)) {
    fields.set(name, { schema, required: required.has(name) });
  }
  return fields;
}

let client: Client;
let doc: OpenApiDocument;
let tools: Awaited<ReturnType<Client["listTools"]>>["tools"];

beforeAll(async () => {
  client = await connectMcp((await createTestKey("agent")).token);
  tools = (await client.listTools()).tools;
  doc = (await (await call("/openapi.json")).json()) as OpenApiDocument;
});

afterAll(async () => {
  await client.close();
});

describe("MCP tools and the OpenAPI document", () => {
  it("every tool has a REST operation in the document, named in its description", () => {
    expect(tools.map((tool) => tool.name).sort()).toEqual(Object.keys(CORRESPONDENCE).sort());
    for (const tool of tools) {
      const { method, path } = CORRESPONDENCE[tool.name] as Correspondence;
      expect(doc.paths[path]?.[method], `${tool.name}: ${method} ${path}`).toBeDefined();
      expect(tool.description, tool.name).toContain(`Same as ${method.toUpperCase()} ${path}`);
    }
  });

  it("POST /mcp is in the document, with the key scheme, and names every tool", () => {
    const operation = doc.paths["/mcp"]?.post as OpenApiOperation & { security?: unknown[] };
    expect(operation.security).toEqual([{ ApiKey: [] }]);
    for (const tool of tools) expect(operation.description).toContain(tool.name);
  });

  for (const [name, correspondence] of Object.entries(CORRESPONDENCE)) {
    it(`${name} takes the fields of ${correspondence.method.toUpperCase()} ${correspondence.path}, with the same constraints`, () => {
      const tool = tools.find((candidate) => candidate.name === name);
      const input = tool?.inputSchema as JsonSchema;
      const toolRequired = new Set((input.required as string[] | undefined) ?? []);
      const toolFields = (input.properties ?? {}) as Record<string, JsonSchema>;
      expect(input.additionalProperties, `${name} refuses unknown fields, like the REST bodies`).toBe(false);

      const operation = doc.paths[correspondence.path]?.[correspondence.method] as OpenApiOperation;
      const expected = new Map<string, Field>();
      for (const [restName, field] of operationFields(doc, operation)) {
        if (correspondence.notInTool?.[restName]) continue;
        expected.set(correspondence.renamed?.[restName] ?? restName, field);
      }
      expect(Object.keys(toolFields).sort(), `${name}: fields`).toEqual([...expected.keys()].sort());

      for (const [field, rest] of expected) {
        const mine = toolFields[field] as JsonSchema;
        const label = `${name}.${field}`;
        const ownDefault = correspondence.ownDefault?.[field] !== undefined;
        // A REST query parameter may be absent (read as null); the tool's own default stands in for that.
        const restAlternatives = alternatives(rest.schema).filter(
          (alternative) => !(ownDefault && alternative === '{"type":"null"}'),
        );
        expect(alternatives(mine), `${label}: types and bounds`).toEqual(restAlternatives);
        if (!ownDefault) expect(mine.default, `${label}: default`).toEqual(rest.schema.default);
        const requiredHere = toolRequired.has(field);
        if (correspondence.requiredInTool?.[field]) expect(requiredHere, label).toBe(true);
        else expect(requiredHere, `${label}: required`).toBe(rest.required);
      }
    });
  }
});
