// Issue 23 finding 6: one validation of a new key for every way one is made. The table of inputs
// (test/fixtures/new-key-inputs.ts) goes through the admin API and the console's key form here, and
// through `npm run keys` in test/node/keys-cli.test.ts: each bad row is a 400 naming its field (a page
// in the console) and writes nothing; each good row is created with what it asked for.
import { beforeEach, describe, expect, it } from "vitest";
import { BAD_KEY_INPUTS, GOOD_KEY_INPUTS, type KeyInput, keyInputJson } from "./fixtures/new-key-inputs.ts";
import { form, signIn } from "./helpers/console.ts";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

// A fresh admin per case: key management allows 30 calls a minute per key, and the table is longer.
let admin: TestKey;
let session: { cookie: string; csrf: string };

beforeEach(async () => {
  admin = await createTestKey("admin");
  session = await signIn(admin);
});

async function keyCount(): Promise<number> {
  const [row] = (await testSql()`SELECT count(*)::int AS n FROM api_keys`) as { n: number }[];
  return row?.n ?? 0;
}

function consoleForm(input: KeyInput): Record<string, string> {
  return { _csrf: session.csrf, ...input };
}

describe("a new key's inputs, checked once for the API and the console", () => {
  it.each(BAD_KEY_INPUTS)(
    "refuses $label through the API: 400 naming $field",
    async ({ input, field, json }) => {
      const before = await keyCount();
      const res = await postJson("/api/v1/admin/keys", keyInputJson(input, json), admin.headers);
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorEnvelope & {
        error: { details: { issues: { path: string }[] } };
      };
      expect(body.error.code).toBe("validation_failed");
      expect(body.error.details.issues.map((issue) => issue.path)).toContain(field);
      expect(await keyCount()).toBe(before);
    },
  );

  it.each(BAD_KEY_INPUTS)(
    "refuses $label through the console: a 400 page naming $field",
    async ({ input, field }) => {
      const before = await keyCount();
      const res = await call("/console/admin/keys", form(consoleForm(input), session.cookie));
      expect(res.status).toBe(400);
      expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
      const page = await res.text();
      expect(page).toMatch(new RegExp(`class="error"[^>]*>${field}: `));
      expect(page).not.toContain('id="new-key"');
      expect(await keyCount()).toBe(before);
    },
  );

  it.each(GOOD_KEY_INPUTS)(
    "creates $label through the API and the console alike",
    async ({ input, expect: want }) => {
      const viaApi = await postJson("/api/v1/admin/keys", keyInputJson(input), admin.headers);
      expect(viaApi.status, await viaApi.clone().text()).toBe(201);
      expect(await viaApi.json()).toMatchObject({ principal_id: input.principal_id, ...want });

      const viaConsole = await call("/console/admin/keys", form(consoleForm(input), session.cookie));
      expect(viaConsole.status).toBe(200);
      const keyId = /Key <code>([0-9a-f]{16})<\/code> created/.exec(await viaConsole.text())?.[1] ?? "-";
      const read = await call(`/api/v1/admin/keys/${keyId}`, { headers: admin.headers });
      expect(await read.json()).toMatchObject({ principal_id: input.principal_id, ...want });
    },
  );
});
