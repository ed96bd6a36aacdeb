import { describe, expect, it } from "vitest";
import { call } from "./helpers/http.ts";

interface Operation {
  requestBody?: unknown;
  parameters?: unknown[];
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

async function openApiDocument(): Promise<OpenApiDocument> {
  return (await (await call("/openapi.json")).json()) as OpenApiDocument;
}

describe("API documentation", () => {
  it("serves an OpenAPI 3.1 document generated from the route schemas, without an API key", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDocument;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "Policy API", version: "0.1.0" });
    expect(Object.keys(doc.paths["/health"]?.get?.responses ?? {})).toEqual(["200", "503"]);
    expect(doc.components?.schemas).toHaveProperty("Health");
  });

  it("documents every error an API operation can give, each in the one error envelope", async () => {
    const doc = await openApiDocument();
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        name: `${method.toUpperCase()} ${path}`,
        operation,
      })),
    );
    const api = operations.filter(({ name }) => name.includes(" /api/"));
    expect(api.length).toBeGreaterThan(20);
    for (const { name, operation } of api) {
      const statuses = Object.keys(operation.responses);
      // Every protected operation: the key can be missing or refused, and the database can be away.
      for (const status of ["401", "403", "503"]) expect(statuses, `${name} ${status}`).toContain(status);
      if (operation.requestBody || operation.parameters?.length) {
        expect(statuses, `${name} takes input, so it can answer 400`).toContain("400");
      }
      if (operation.requestBody) {
        for (const status of ["413", "415"]) expect(statuses, `${name} ${status}`).toContain(status);
      }
      // A PUT that creates the record when it is absent (201) never answers 404 for it.
      const upsert = name.startsWith("PUT ") && statuses.includes("201");
      if (name.includes("{") && !upsert)
        expect(statuses, `${name} names a record, so it can answer 404`).toContain("404");
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content?.["application/json"]?.schema?.$ref, `${name} ${status}`).toBe(
          "#/components/schemas/ErrorResponse",
        );
      }
    }
    // Operations that change a request's state document the conflict of a lost race or a decided request.
    for (const action of ["approve", "reject", "cancel"]) {
      expect(
        Object.keys(doc.paths[`/api/v1/policy/requests/{request_id}/${action}`]?.post?.responses ?? {}),
      ).toContain("409");
    }
  });

  it("documents upstream_unavailable: in the error codes, and on the Slack connect that can give it", async () => {
    const doc = await openApiDocument();
    const envelope = JSON.stringify(doc.components?.schemas?.ErrorResponse);
    expect(envelope).toContain("upstream_unavailable");
    expect(envelope).toContain("database_unavailable");
    const put = doc.paths["/api/v1/admin/slack/workspaces/{tenant_id}"]?.put;
    const described = put?.responses["503"] as { description?: string } | undefined;
    expect(described?.description).toMatch(/upstream_unavailable/);
    expect(JSON.stringify(doc.components?.schemas?.ConnectedSlackWorkspace)).toContain("token_check");
  });

  it("serves a human-readable docs page pointing at the document", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain("/openapi.json");
  });
});
