// The TypeScript SDK's committed copy of the OpenAPI document (sdk/typescript/openapi.json) is the
// app's current one: a route or schema that changed without `npm run sdk:generate` fails here. That
// the generated types are what the generator makes of the copy is checked in
// test/node/sdk-typescript.test.ts (the generator runs in Node).
import { describe, expect, it } from "vitest";
import committed from "../sdk/typescript/openapi.json";
import { call } from "./helpers/http.ts";

describe("TypeScript SDK spec copy", () => {
  it("equals the app's /openapi.json (else: npm run sdk:generate, and commit the result)", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    expect(
      await res.json(),
      "the spec changed and the SDK was not regenerated: npm run sdk:generate",
    ).toEqual(committed);
  });
});
