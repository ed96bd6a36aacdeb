// The committed JSON Schema of a bundle (schemas/policy-bundle.schema.json) is what the generator makes
// from the API's zod schema today: a row field changed without `npm run policy:schema` fails here.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { POLICY_SCHEMA_PATH, policyBundleJsonSchema } from "../../scripts/lib/policy-schema.ts";

describe("schemas/policy-bundle.schema.json", () => {
  it("is up to date with PolicyBundleSchema (run npm run policy:schema)", () => {
    expect(readFileSync(POLICY_SCHEMA_PATH, "utf8")).toBe(policyBundleJsonSchema());
  });

  it("allows the file-only keys and refuses unknown ones", () => {
    const schema = JSON.parse(readFileSync(POLICY_SCHEMA_PATH, "utf8")) as {
      properties: Record<string, unknown>;
      additionalProperties: unknown;
      required: string[];
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(["$schema", "x-base-sha256", "budgets"]),
    );
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["format", "scope"]);
  });
});
