import { describe, expect, it } from "vitest";
import { call } from "./helpers/http.ts";

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components?: { schemas?: Record<string, unknown> };
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

  it("serves a human-readable docs page pointing at the document", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain("/openapi.json");
  });
});
