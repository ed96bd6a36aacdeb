// Input the database cannot store, checked once before any route or service runs
// (src/middleware/json-input.ts, with jsonInputProblem in src/domain/limits.ts): NUL characters and
// lone surrogates in any string or key, and JSON nested deeper than MAX_JSON_DEPTH, answer 400
// naming the field, never 500. Also the query strings and path parameters, and a seeded fuzz of the
// eval and create bodies.
import { beforeAll, describe, expect, it } from "vitest";
import { jsonInputProblem, MAX_JSON_DEPTH } from "../src/domain/limits.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const EVAL = "/api/v1/policy/eval";
const REQUESTS = "/api/v1/policy/requests";
const POLICIES = "/api/v1/admin/policies";
const KEYS = "/api/v1/admin/keys";

interface Issue {
  path: string;
  message: string;
  code: string;
}

interface Sent {
  status: number;
  body: ErrorEnvelope & Record<string, unknown>;
}

let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent");
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

/** Sends `text` exactly as given, so a test controls every escape JSON.parse will see. */
async function sendText(method: string, path: string, text: string, key: TestKey = admin): Promise<Sent> {
  const res = await call(path, {
    method,
    headers: { ...key.headers, "Content-Type": "application/json" },
    body: text,
  });
  const body = await res.text();
  return { status: res.status, body: (body ? JSON.parse(body) : {}) as Sent["body"] };
}

function expectRefused(sent: Sent, path: string, message: RegExp, target = "json") {
  expect(sent.status, JSON.stringify(sent.body)).toBe(400);
  expect(sent.body.error.code).toBe("validation_failed");
  const details = sent.body.error.details as { target: string; issues: Issue[] };
  expect(details.target).toBe(target);
  expect(details.issues).toHaveLength(1);
  expect(details.issues[0]).toEqual({ path, message: expect.stringMatching(message), code: "custom" });
}

const NUL = /NUL character/;
const SURROGATE = /unpaired UTF-16 surrogate/;
const DEPTH = new RegExp(`more than ${MAX_JSON_DEPTH} levels deep`);

/** JSON text of an object nested `levels` deep through key "a" ({"a":{"a":1}} is 2 levels). */
const nestedObject = (levels: number) => `${'{"a":'.repeat(levels - 1)}{"a":1${"}".repeat(levels)}`;
/** JSON text of an array nested `levels` deep ([[1]] is 2 levels). */
const nestedArray = (levels: number) => `${"[".repeat(levels)}1${"]".repeat(levels)}`;
/** The path jsonInputProblem names for the first level past the bound inside `payload`. */
const tooDeepPath = (segment: string) => `payload${`.${segment}`.repeat(MAX_JSON_DEPTH)}`;

/** A valid eval body's JSON text with `payload` given as raw JSON text. */
const evalText = (tenant: string, payload: string) =>
  `{"skill_id":"email.send","tenant_id":"${tenant}","payload":${payload}}`;

/** A valid create body's JSON text with `payload` given as raw JSON text and extra raw fields. */
const createText = (tenant: string, payload: string, extra = "") =>
  `{"policy_type":"cost","skill_id":"email.send","tenant_id":"${tenant}","requested_by":"agent-7","payload":${payload}${extra}}`;

describe("jsonInputProblem (pure)", () => {
  it("accepts ordinary values, paired surrogates (emoji) and containers at the bound", () => {
    expect(jsonInputProblem({ a: ["x", 1, null, true, { "😀 key": "😀 value, 𝄞" }] })).toBeNull();
    expect(jsonInputProblem(JSON.parse(nestedObject(MAX_JSON_DEPTH + 1)))).toBeNull();
    expect(jsonInputProblem("plain")).toBeNull();
    expect(jsonInputProblem(42)).toBeNull();
  });

  it("reports NUL and lone surrogates in values and keys with the dotted path", () => {
    expect(jsonInputProblem({ payload: { items: [1, 2, 3, "a\u0000"] } })).toEqual({
      path: "payload.items.3",
      message: expect.stringMatching(NUL),
    });
    expect(jsonInputProblem({ a: { "b\u0000c": 1 } })).toEqual({
      path: "a.b\\u0000c",
      message: expect.stringMatching(/^is a key that must not contain the NUL/),
    });
    for (const lone of ["\ud800", "x\ud800y", "\udc00", "\udfff\ud800", "😀\ud83d"]) {
      expect(jsonInputProblem({ s: lone }), JSON.stringify(lone)).toEqual({
        path: "s",
        message: expect.stringMatching(SURROGATE),
      });
    }
    expect(jsonInputProblem({ "k\ud800": 1 })?.path).toBe("k\\ud800");
    expect(jsonInputProblem("\u0000")).toEqual({ path: "", message: expect.stringMatching(NUL) });
  });

  it("reports the first problem in document order", () => {
    expect(jsonInputProblem({ a: "ok", b: ["\u0000"], "c\u0000": 1, d: "\ud800" })?.path).toBe("b.0");
    expect(jsonInputProblem([{ x: "\ud800" }, "\u0000"])?.path).toBe("0.x");
  });

  it("bounds depth without recursion, even 100,000 levels deep", () => {
    const deep = JSON.parse(nestedArray(100_000));
    expect(jsonInputProblem(deep)).toEqual({
      path: Array(MAX_JSON_DEPTH + 1)
        .fill("0")
        .join("."),
      message: expect.stringMatching(DEPTH),
    });
    expect(jsonInputProblem(JSON.parse(nestedArray(4)), { maxDepth: 3 })).toBeNull();
    expect(jsonInputProblem(JSON.parse(nestedArray(5)), { maxDepth: 3 })?.path).toBe("0.0.0.0");
  });
});

describe("eval and create bodies", () => {
  const endpoints: [string, string, (tenant: string, payload: string) => string][] = [
    ["eval", EVAL, evalText],
    ["create", REQUESTS, createText],
  ];

  describe.each(endpoints)("%s", (_name, path, body) => {
    it("refuses NUL in a payload value, at any depth", async () => {
      expectRefused(await sendText("POST", path, body(newTenant(), '{"to":"a\\u0000b"}')), "payload.to", NUL);
      expectRefused(
        await sendText("POST", path, body(newTenant(), '{"items":[1,2,3,{"x":"\\u0000"}]}')),
        "payload.items.3.x",
        NUL,
      );
    });

    it("refuses NUL in a payload key", async () => {
      expectRefused(
        await sendText("POST", path, body(newTenant(), '{"ok":{"to\\u0000":1}}')),
        "payload.ok.to\\u0000",
        /^is a key that must not contain the NUL/,
      );
    });

    it("refuses lone surrogates (high without low, low alone) in values and keys", async () => {
      for (const [payload, field] of [
        ['{"to":"\\ud800"}', "payload.to"],
        ['{"to":"x\\udc00y"}', "payload.to"],
        ['{"to":"\\ud83d\\ude00\\ud83d"}', "payload.to"],
        ['{"k\\udbff":1}', "payload.k\\udbff"],
      ] as const) {
        expectRefused(await sendText("POST", path, body(newTenant(), payload)), field, SURROGATE);
      }
    });

    it("refuses NUL in a top-level text field before its schema sees it", async () => {
      const sent = await sendText(
        "POST",
        path,
        body(newTenant(), "{}").replace('"email.send"', '"email\\u0000send"'),
      );
      expectRefused(sent, "skill_id", NUL);
    });

    it("refuses payloads nested 5,000 deep and one level past the bound, naming where", async () => {
      for (const levels of [5_000, MAX_JSON_DEPTH + 1]) {
        expectRefused(
          await sendText("POST", path, body(newTenant(), nestedObject(levels))),
          tooDeepPath("a"),
          DEPTH,
        );
        expectRefused(
          await sendText("POST", path, body(newTenant(), `{"list":${nestedArray(levels - 1)}}`)),
          `payload.list${".0".repeat(MAX_JSON_DEPTH - 1)}`,
          DEPTH,
        );
      }
    });

    it("refuses a body nested as deep as the 256 KiB limit allows with a 400, not a stack overflow", async () => {
      const sent = await sendText("POST", path, body(newTenant(), `{"a":${nestedArray(120_000)}}`));
      expect(sent.status).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
    });

    it("takes a payload nested exactly to the bound (payload itself is level 1)", async () => {
      const sent = await sendText("POST", path, body(newTenant(), nestedObject(MAX_JSON_DEPTH)), agent);
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    });
  });

  it("stores and returns a payload at the bound intact, with emoji and other non-ASCII text", async () => {
    const payload = JSON.parse(nestedObject(MAX_JSON_DEPTH));
    payload.text = "😀 ünïcödé 𝄞 \u2028 \ufeff";
    const sent = await sendText("POST", REQUESTS, createText(newTenant(), JSON.stringify(payload)), agent);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const res = await call(`${REQUESTS}/${sent.body.request_id}`, { headers: admin.headers });
    expect(((await res.json()) as { payload: unknown }).payload).toEqual(payload);
  });

  it("refuses NUL and lone surrogates in justification", async () => {
    expectRefused(
      await sendText("POST", REQUESTS, createText(newTenant(), "{}", ',"justification":"a\\u0000"')),
      "justification",
      NUL,
    );
    expectRefused(
      await sendText("POST", REQUESTS, createText(newTenant(), "{}", ',"justification":"\\udead"')),
      "justification",
      SURROGATE,
    );
  });

  it("answers malformed JSON with malformed_json", async () => {
    for (const text of ['{"a":', "{'a':1}", `${"[".repeat(5000)}`, "\u0000"]) {
      const sent = await sendText("POST", EVAL, text);
      expect(sent.status).toBe(400);
      expect(sent.body.error.code).toBe("malformed_json");
    }
  });
});

describe("decision, cancel and admin bodies", () => {
  async function pending(): Promise<string> {
    const sent = await sendText("POST", REQUESTS, createText(newTenant(), '{"tokens":5000}'), agent);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.status).toBe("pending");
    return sent.body.request_id as string;
  }

  it.each(["approve", "reject"])(
    "refuses NUL and lone surrogates in %s notes; the request stays pending",
    async (kind) => {
      const id = await pending();
      expectRefused(
        await sendText("POST", `${REQUESTS}/${id}/${kind}`, '{"notes":"ok\\u0000"}'),
        "notes",
        NUL,
      );
      expectRefused(
        await sendText("POST", `${REQUESTS}/${id}/${kind}`, '{"notes":"\\ud800"}'),
        "notes",
        SURROGATE,
      );
      const res = await call(`${REQUESTS}/${id}`, { headers: admin.headers });
      expect(((await res.json()) as { status: string }).status).toBe("pending");
    },
  );

  it("refuses NUL and lone surrogates in a cancel reason and a reject-pending reason", async () => {
    const id = await pending();
    expectRefused(await sendText("POST", `${REQUESTS}/${id}/cancel`, '{"reason":"\\u0000"}'), "reason", NUL);
    expectRefused(
      await sendText("POST", `${REQUESTS}/${id}/cancel`, '{"reason":"\\udfff"}'),
      "reason",
      SURROGATE,
    );
    expectRefused(
      await sendText(
        "POST",
        `${REQUESTS}/reject-pending`,
        `{"reason":"x\\u0000","tenant_id":"${newTenant()}"}`,
      ),
      "reason",
      NUL,
    );
  });

  it("refuses NUL and lone surrogates in capability rule descriptions and skill patterns", async () => {
    const rule = (fields: string) =>
      `{"tenant_id":"${newTenant()}","skill_pattern":"email.*","effect":"deny",${fields}}`;
    expectRefused(
      await sendText("POST", `${POLICIES}/capability-rules`, rule('"description":"a\\u0000"')),
      "description",
      NUL,
    );
    expectRefused(
      await sendText("POST", `${POLICIES}/capability-rules`, rule('"description":"\\ud800"')),
      "description",
      SURROGATE,
    );
    expectRefused(
      await sendText(
        "POST",
        `${POLICIES}/capability-rules`,
        rule('"description":null').replace('"email.*"', '"email\\u0000*"'),
      ),
      "skill_pattern",
      NUL,
    );
    expectRefused(
      await sendText("POST", `${POLICIES}/skill-costs`, '{"skill_id":"x.y","description":"\\udc00"}'),
      "description",
      SURROGATE,
    );
    // PATCH goes through the same check.
    expectRefused(
      await sendText("PATCH", `${POLICIES}/capability-rules/1`, '{"description":"\\u0000"}'),
      "description",
      NUL,
    );
  });

  it("refuses NUL and lone surrogates in a key's name", async () => {
    expectRefused(
      await sendText("POST", KEYS, '{"principal_id":"bot-1","role":"agent","name":"ci\\u0000"}'),
      "name",
      NUL,
    );
    expectRefused(
      await sendText("POST", KEYS, '{"principal_id":"bot-1","role":"agent","name":"ci \\ud800"}'),
      "name",
      SURROGATE,
    );
  });

  it("still answers 401 to a caller without a key, whatever the body holds", async () => {
    const res = await call(EVAL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: evalText("t", '{"a":"\\u0000"}'),
    });
    expect(res.status).toBe(401);
  });
});

describe("query strings and path parameters", () => {
  it.each([
    `${KEYS}?tenant_id=%00`,
    `${KEYS}?principal_id=a%00b`,
    `${POLICIES}/capability-rules?tenant_id=%00`,
    `${POLICIES}/budgets?agent_id=x%00`,
    `${REQUESTS}?tenant_id=%00`,
    "/api/v1/policy/decisions?tenant_id=%00",
  ])("refuses NUL in %s", async (path) => {
    const res = await call(path, { headers: admin.headers });
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status, JSON.stringify(body)).toBe(400);
    const details = body.error.details as { target: string; issues: Issue[] };
    expect(details.target).toBe("query");
    expect(details.issues[0]?.path).toMatch(/^(tenant_id|principal_id|agent_id)$/);
  });

  it("names a repeated parameter's bad value and a bad parameter name", async () => {
    let res = await call(`${REQUESTS}?status=pending&status=%00`, { headers: admin.headers });
    let body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect((body.error.details as { issues: Issue[] }).issues[0]?.path).toBe("status.1");
    res = await call(`${KEYS}?a%00=1`, { headers: admin.headers });
    body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect((body.error.details as { issues: Issue[] }).issues[0]?.path).toBe("a\\u0000");
  });

  it.each([`${POLICIES}/skill-costs?x=%ED%A0%80`])(
    "takes %s as text that is not UTF-8 (left undecoded, no lone surrogate): no 500",
    async (path) => {
      const res = await call(path, { headers: admin.headers });
      expect(res.status).toBe(200);
    },
  );

  it.each([`${KEYS}?tenant_id=%ED%A0%80`, `${KEYS}?tenant_id=%C0%80`, `${KEYS}?tenant_id=%FF`])(
    "refuses %s, an id filter left undecoded (not UTF-8), as 400 naming it: no 500",
    async (path) => {
      const res = await call(path, { headers: admin.headers });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain("tenant_id");
    },
  );

  it.each([
    `${REQUESTS}/%00`,
    `${REQUESTS}/apr_%00`,
    `${REQUESTS}/%ED%A0%80`,
    `${KEYS}/%00`,
    `${POLICIES}/capability-rules/%00`,
    `${POLICIES}/skill-costs/%00`,
    `${POLICIES}/skill-costs/a%ED%A0%80`,
    "/api/v1/policy/decisions/%00",
  ])("answers %s with a 4xx envelope, never a 500", async (path) => {
    const res = await call(path, { headers: admin.headers });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(((await res.json()) as ErrorEnvelope).error.code).toMatch(/^[a-z_]+$/);
  });
});

/** mulberry32: a small seeded PRNG, so the fuzz cases are the same on every run. */
function prng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("fuzz: mutated eval and create bodies", () => {
  const random = prng(0x5eed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

  const CHARS = [
    "a",
    "Z",
    "0",
    " ",
    ".",
    "\u0000",
    "\ud800",
    "\udfff",
    "😀",
    "\u2028",
    "\ufeff",
    "é",
    "'",
    '"',
    "\\",
    "\n",
    "ﾟ",
    "%00",
    "*",
  ];
  const randomText = () => Array.from({ length: int(12) }, () => pick(CHARS)).join("");
  const NUMBERS = [0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 5e-324, 1e21, 1_000_000_001];

  function randomValue(depth = 0): unknown {
    switch (int(depth > 3 ? 5 : 8)) {
      case 0:
        return randomText();
      case 1:
        return pick(NUMBERS);
      case 2:
        return pick([true, false, null]);
      case 3:
        return "x".repeat(pick([0, 1, 199, 200, 201, 2001, 70_000]));
      case 4:
        return JSON.parse(pick([nestedArray, nestedObject])(1 + int(MAX_JSON_DEPTH + 8)));
      case 5:
        return Array.from({ length: int(4) }, () => randomValue(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: int(4) }, () => [randomText(), randomValue(depth + 1)]),
        );
    }
  }

  const FIELDS = [
    "policy_type",
    "skill_id",
    "tenant_id",
    "agent_id",
    "requested_by",
    "justification",
    "payload",
    "simulate_cost",
    "policy_version",
    "expires_in_seconds",
    "webhook_url",
    "webhook_secret",
    "__proto__",
    "constructor",
  ];

  /** A valid create body with one to three random changes, and a raw-text mutation to apply. */
  function mutated(): { body: Record<string, unknown>; raw: number; cut: number } {
    const body: Record<string, unknown> = {
      policy_type: "cost",
      skill_id: "email.send",
      tenant_id: `fuzz-${int(5)}`,
      payload: { to: "ops@example.com", max_tokens: 200, nested: { list: [1, "two"] } },
      requested_by: "agent-7",
    };
    for (let changes = 1 + int(3); changes > 0; changes--) {
      const payload = body.payload;
      const target =
        random() < 0.5 || payload === null || typeof payload !== "object"
          ? body
          : (payload as Record<string, unknown>);
      const field = target === body ? pick(FIELDS) : random() < 0.5 ? randomText() : "to";
      if (random() < 0.15) delete target[field];
      // defineProperty, so "__proto__" becomes an own key as JSON.parse would make it.
      else
        Object.defineProperty(target, field, {
          value: randomValue(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return { body, raw: int(8), cut: random() };
  }

  /** The JSON text sent, with raw-text mutations JSON.stringify cannot produce. */
  function serialize({ raw, cut }: { raw: number; cut: number }, body: Record<string, unknown>): string {
    let text = JSON.stringify(body);
    if (raw === 0) text = text.replace(/200/, "1e400");
    if (raw === 1) text = text.replace(/200/, "-0.0e-400");
    if (raw === 2) text = text.replace('"ops@', '"\\ud800ops@');
    if (raw === 3) text = text.slice(0, Math.floor(cut * text.length));
    return text;
  }

  /** The same body as eval takes it: without requested_by, which only create knows. */
  const forEval = (body: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(body).filter(([key]) => key !== "requested_by"));

  it("never answers 500 to 200 mutated bodies, and every 4xx is the error envelope", async () => {
    const cases = Array.from({ length: 200 }, mutated);
    const outcomes: Record<number, number> = {};
    for (const mutation of cases) {
      for (const [path, text] of [
        [EVAL, serialize(mutation, forEval(mutation.body))],
        [REQUESTS, serialize(mutation, mutation.body)],
      ] as const) {
        const res = await call(path, {
          method: "POST",
          headers: { ...admin.headers, "Content-Type": "application/json" },
          body: text,
        });
        const answer = await res.text();
        outcomes[res.status] = (outcomes[res.status] ?? 0) + 1;
        expect(res.status, `${path} ${text.slice(0, 300)} -> ${answer.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 400) {
          const body = JSON.parse(answer) as ErrorEnvelope;
          expect(Object.keys(body), answer).toEqual(["error"]);
          expect(body.error.code).toMatch(/^[a-z_]+$/);
          expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
        }
      }
    }
    // The mutations reach both sides: some bodies pass, most are refused.
    console.log("fuzz outcomes", outcomes);
    expect(outcomes[200]).toBeGreaterThan(0);
    expect(outcomes[400]).toBeGreaterThan(0);
  });
});
