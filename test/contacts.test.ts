// The principal directory through its admin API (/api/v1/admin/contacts): each channel's target rules
// with hostile inputs, duplicates, URLs and secrets never in an answer, list, log or audit row, the
// generated webhook secret shown once, tenant-scoped admin keys confined to their tenant, non-admins
// refused; and the engine's side (contactsFor, openContact) against the same rows.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { contactsFor, openContact } from "../src/services/contacts.ts";
import { createServiceContext } from "../src/services/context.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const CONTACTS = "/api/v1/admin/contacts";

interface Contact {
  contact_id: number;
  principal_id: string | null;
  tenant_id: string | null;
  channel: string;
  address: string;
  has_secret: boolean;
  created_by: string;
  created_at: string;
  secret?: string | null;
}

const TEAMS_URL =
  "https://contoso.webhook.office.com/webhookb2/abc-secret-path@def/IncomingWebhook/teamsecret123/xyz";
const WORKFLOW_URL =
  "https://prod-12.westeurope.logic.azure.com:443/workflows/wf123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=workflowsig";
const CHAT_URL = "https://chat.googleapis.com/v1/spaces/AAAAspace/messages?key=chatkey123&token=chattoken456";
const HOOK_URL = "https://hooks.pagerduty.example.org/notify/hooksecret789";

let admin: TestKey;
let acmeAdmin: TestKey;
let globexAdmin: TestKey;
let approver: TestKey;
let agent: TestKey;
let unique = 0;

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-dir" });
  acmeAdmin = await createTestKey("admin", { principalId: "acme-ops", tenantId: "acme" });
  globexAdmin = await createTestKey("admin", { principalId: "globex-ops", tenantId: "globex" });
  approver = await createTestKey("approver", { maxLevel: 5 });
  agent = await createTestKey("agent");
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** A principal id no other test uses, so duplicates are only the ones a test makes. */
const fresh = (stem = "p") => `${stem}-${Date.now().toString(36)}-${unique++}`;

async function create(body: Record<string, unknown>, key: TestKey = admin) {
  const res = await postJson(CONTACTS, body, key.headers);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Contact & ErrorEnvelope };
}

async function expectRefused(body: Record<string, unknown>, field: string, key: TestKey = admin) {
  const { status, body: answer } = await create(body, key);
  expect(status, JSON.stringify(body)).toBe(400);
  expect(answer.error.code, JSON.stringify(body)).toBe("validation_failed");
  const issues = (answer.error.details as { issues: { path: string }[] }).issues;
  expect(
    issues.map((issue) => issue.path),
    JSON.stringify(body),
  ).toContain(field);
}

describe("contact points: creation per channel", () => {
  it("adds an email contact, folding the domain and the ids", async () => {
    const principal = fresh("Carol");
    const { status, body } = await create({
      principal_id: principal,
      tenant_id: "ACME",
      channel: "email",
      email: "Carol.Smith+approvals@Example.COM",
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({
      principal_id: principal.toLowerCase(),
      tenant_id: "acme",
      channel: "email",
      address: "Carol.Smith+approvals@example.com",
      has_secret: false,
      created_by: "ops-dir",
      secret: null,
    });
    const read = await call(`${CONTACTS}/${body.contact_id}`, { headers: admin.headers });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ address: "Carol.Smith+approvals@example.com" });
  });

  it("refuses hostile and malformed email addresses with a clear 400", async () => {
    const principal = fresh();
    const bad = [
      "carol@example.com\r\nBcc: victim@example.org",
      "carol@example.com\nX: y",
      "carol@exa\u0000mple.com",
      "carol smith@example.com",
      "carol@@example.com",
      "carol@a@example.com",
      "carol",
      "@example.com",
      "carol@",
      "carol@localhost",
      "carol@127.0.0.1",
      ".carol@example.com",
      "carol..smith@example.com",
      "carol@-example.com",
      '"carol"@example.com',
      "carolé@example.com",
      `${"a".repeat(65)}@example.com`,
      `carol@${"a".repeat(250)}.com`,
      "x".repeat(2000),
    ];
    for (const email of bad)
      await expectRefused({ principal_id: principal, channel: "email", email }, "email");
    await expectRefused({ principal_id: principal, channel: "email" }, "email");
    await expectRefused({ principal_id: principal, channel: "email", url: HOOK_URL }, "url");
  });

  it("accepts Teams incoming webhooks and Power Automate workflows, and shows only scheme and host", async () => {
    const principal = fresh();
    for (const [url, address] of [
      [TEAMS_URL, "https://contoso.webhook.office.com/…"],
      [WORKFLOW_URL, "https://prod-12.westeurope.logic.azure.com/…"],
      [
        "https://default123.ab.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/x/triggers/manual/paths/invoke?sig=s3cr3t",
        "https://default123.ab.environment.api.powerplatform.com/…",
      ],
    ] as const) {
      const { status, body, text } = await create({ principal_id: principal, channel: "teams", url });
      expect(status, url).toBe(201);
      expect(body.address).toBe(address);
      expect(text).not.toMatch(/secret-path|teamsecret123|workflowsig|s3cr3t|wf123/);
    }
  });

  it("refuses Teams URLs of other hosts, look-alikes and non-https", async () => {
    const principal = fresh();
    const bad = [
      "http://contoso.webhook.office.com/webhookb2/x",
      "https://webhook.office.com.attacker.example/x",
      "https://attacker.example/contoso.webhook.office.com",
      "https://.webhook.office.com/x",
      "https://webhook.office.com/x",
      "https://evil.example/?h=.logic.azure.com",
      "https://user:pw@contoso.webhook.office.com/x",
      "https://contoso.webhook.office.com:8443/x",
      "https://contoso.webhook.office.com/x#frag",
      "javascript:alert(1)//contoso.webhook.office.com",
      "https://contoso.webhook.office.com/x\r\nHost: evil",
      `https://contoso.webhook.office.com/${"a".repeat(3000)}`,
      "not a url",
    ];
    for (const url of bad) await expectRefused({ principal_id: principal, channel: "teams", url }, "url");
  });

  it("accepts a Google Chat webhook with key and token, and refuses any other shape", async () => {
    const principal = fresh();
    const { status, body, text } = await create({
      principal_id: principal,
      channel: "google_chat",
      url: CHAT_URL,
    });
    expect(status).toBe(201);
    expect(body.address).toBe("https://chat.googleapis.com/…");
    expect(text).not.toMatch(/chatkey123|chattoken456|AAAAspace/);
    const bad = [
      "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k",
      "https://chat.googleapis.com/v1/spaces/AAAA/messages?token=t",
      "https://chat.googleapis.com/v1/spaces/AAAA/members?key=k&token=t",
      "https://chat.googleapis.com/v1/spaces/../messages?key=k&token=t",
      "https://chat.googleapis.com.evil.example/v1/spaces/AAAA/messages?key=k&token=t",
      "http://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t",
      "https://evil.example/v1/spaces/AAAA/messages?key=k&token=t",
      "javascript:alert(1)",
    ];
    for (const url of bad)
      await expectRefused({ principal_id: principal, channel: "google_chat", url }, "url");
  });

  it("applies the request webhook destination rules to approver webhooks", async () => {
    const principal = fresh();
    const bad = [
      "http://hooks.example.org/x",
      "https://127.0.0.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/x",
      "https://localhost/x",
      "https://metadata/x",
      "https://10.0.0.1.nip.io/x",
      "https://2130706433/x",
      "https://internal.corp/x",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "https://hooks.example.org/x\t",
      `https://hooks.example.org/${"a".repeat(3000)}`,
    ];
    for (const url of bad) await expectRefused({ principal_id: principal, channel: "webhook", url }, "url");
  });

  it("allows plain http and private hosts only when ALLOW_INSECURE_WEBHOOKS is set (a local receiver shows chat cards)", async () => {
    const principal = fresh();
    for (const channel of ["webhook", "teams", "google_chat"]) {
      const body = { principal_id: principal, channel, url: `http://127.0.0.1:4000/${channel}` };
      const refused = await postJson(CONTACTS, body, admin.headers);
      expect(refused.status, channel).toBe(400);
      const res = await postJson(CONTACTS, body, admin.headers, { ALLOW_INSECURE_WEBHOOKS: "true" });
      expect(res.status, channel).toBe(201);
      expect(((await res.json()) as Contact).address).toBe("http://127.0.0.1:4000/…");
    }
    // Even in development, a chat URL is a URL the webhook rules accept.
    const bad = await postJson(
      CONTACTS,
      { principal_id: principal, channel: "teams", url: "ftp://127.0.0.1/hook" },
      admin.headers,
      { ALLOW_INSECURE_WEBHOOKS: "true" },
    );
    expect(bad.status).toBe(400);
  });

  it("generates a webhook secret shown once, or keeps a supplied one without echoing it", async () => {
    const principal = fresh();
    const generated = await create({ principal_id: principal, channel: "webhook", url: HOOK_URL });
    expect(generated.status).toBe(201);
    const secret = generated.body.secret ?? "";
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(generated.body).toMatchObject({
      has_secret: true,
      address: "https://hooks.pagerduty.example.org/…",
    });
    expect(generated.text).not.toContain("hooksecret789");

    const again = await call(`${CONTACTS}/${generated.body.contact_id}`, { headers: admin.headers });
    const againText = await again.text();
    expect(againText).not.toContain(secret.slice(6));
    expect(againText).not.toContain("hooksecret789");
    expect(JSON.parse(againText)).not.toHaveProperty("secret");

    const supplied = `whsec_${btoa(String.fromCharCode(...new Uint8Array(32).fill(7)))}`;
    const mine = await create({
      principal_id: principal,
      channel: "webhook",
      url: "https://hooks.pagerduty.example.org/other",
      secret: supplied,
    });
    expect(mine.status).toBe(201);
    expect(mine.body.secret).toBeNull();
    expect(mine.text).not.toContain(supplied.slice(6));

    // Stored sealed: neither the URL nor the secret is readable in the row.
    const rows = (await testSql()`SELECT * FROM contact_points WHERE principal_id = ${principal}`) as Record<
      string,
      unknown
    >[];
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain("hooksecret789");
    expect(stored).not.toContain(secret.slice(6));
    expect(stored).not.toContain(supplied.slice(6));
    expect(rows.every((row) => String(row.url_encrypted).startsWith("v1."))).toBe(true);
  });

  it("refuses bad secrets, and secrets on channels that do not sign", async () => {
    const principal = fresh();
    const short = `whsec_${btoa("x".repeat(16))}`;
    // 32 bytes: 43 characters and one "=": the last character carries 2 unused bits, and "h" for "g" sets one.
    const secret32 = `whsec_${btoa("x".repeat(32))}`;
    const long = `whsec_${btoa("x".repeat(65))}`;
    for (const secret of [
      "plain-text-secret-long-enough",
      short,
      long,
      "whsec_not base64!",
      "whsec_",
      `${secret32.slice(0, -2)}h=`,
    ]) {
      await expectRefused({ principal_id: principal, channel: "webhook", url: HOOK_URL, secret }, "secret");
    }
    await expectRefused(
      { principal_id: principal, channel: "teams", url: TEAMS_URL, secret: `whsec_${btoa("x".repeat(32))}` },
      "secret",
    );
  });

  it("needs an owner, refuses unknown fields and channels", async () => {
    await expectRefused({ channel: "email", email: "a@example.com" }, "principal_id");
    await expectRefused(
      { principal_id: null, tenant_id: null, channel: "email", email: "a@example.com" },
      "principal_id",
    );
    await expectRefused({ principal_id: "x", channel: "sms", email: "a@example.com" }, "channel");
    await expectRefused(
      { principal_id: "has spaces", channel: "email", email: "a@example.com" },
      "principal_id",
    );
    await expectRefused(
      { principal_id: "x", channel: "email", email: "a@example.com", url_encrypted: "v1.x" },
      "",
    );
  });

  it("refuses a duplicate (same owner, channel and target) with 409, whatever the URL's spelling", async () => {
    const principal = fresh();
    expect(
      (await create({ principal_id: principal, channel: "email", email: "dup@example.com" })).status,
    ).toBe(201);
    const again = await create({ principal_id: principal, channel: "email", email: "dup@EXAMPLE.com" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    expect((await create({ principal_id: principal, channel: "teams", url: TEAMS_URL })).status).toBe(201);
    const spelled = TEAMS_URL.replace("contoso.webhook.office.com", "CONTOSO.Webhook.Office.com");
    const dupTeams = await create({ principal_id: principal, channel: "teams", url: spelled });
    expect(dupTeams.status).toBe(409);
    expect(dupTeams.text).not.toContain("teamsecret123");
    // Another owner may reach the same address.
    expect(
      (
        await create({
          principal_id: principal,
          tenant_id: "acme",
          channel: "email",
          email: "dup@example.com",
        })
      ).status,
    ).toBe(201);
  });
});

describe("contact points: listing, reading and removal", () => {
  it("lists newest first with filters and paging, never a URL or secret", async () => {
    const principal = fresh();
    const made: Contact[] = [];
    for (const body of [
      { principal_id: principal, channel: "email", email: "one@example.com" },
      { principal_id: principal, channel: "webhook", url: HOOK_URL },
      { principal_id: principal, channel: "google_chat", url: CHAT_URL },
    ]) {
      made.push((await create(body)).body);
    }
    const res = await call(`${CONTACTS}?principal_id=${principal}`, { headers: admin.headers });
    expect(res.status).toBe(200);
    const text = await res.text();
    const list = JSON.parse(text) as Contact[];
    expect(list.map((c) => c.contact_id)).toEqual(made.map((c) => c.contact_id).reverse());
    expect(text).not.toMatch(/hooksecret789|chatkey123|chattoken456|whsec_|v1\./);
    for (const item of list) expect(item).not.toHaveProperty("secret");

    const chat = (await (
      await call(`${CONTACTS}?principal_id=${principal}&channel=google_chat`, { headers: admin.headers })
    ).json()) as Contact[];
    expect(chat.map((c) => c.channel)).toEqual(["google_chat"]);
    const page = (await (
      await call(`${CONTACTS}?principal_id=${principal}&limit=1&offset=1`, { headers: admin.headers })
    ).json()) as Contact[];
    expect(page.map((c) => c.contact_id)).toEqual([made[1]?.contact_id]);
    expect((await call(`${CONTACTS}?channel=sms`, { headers: admin.headers })).status).toBe(400);
    expect((await call(`${CONTACTS}?limit=501`, { headers: admin.headers })).status).toBe(400);
  });

  it("removes a contact point once; then it is gone (404), and bad ids are 400", async () => {
    const created = (await create({ principal_id: fresh(), channel: "email", email: "gone@example.com" }))
      .body;
    const removed = await call(`${CONTACTS}/${created.contact_id}`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({
      contact_id: created.contact_id,
      address: "gone@example.com",
    });
    const twice = await call(`${CONTACTS}/${created.contact_id}`, {
      method: "DELETE",
      headers: admin.headers,
    });
    expect(twice.status).toBe(404);
    expect((await call(`${CONTACTS}/${created.contact_id}`, { headers: admin.headers })).status).toBe(404);
    for (const id of ["0", "-1", "abc", "1e3", "99999999999999999999"]) {
      expect((await call(`${CONTACTS}/${id}`, { headers: admin.headers })).status, id).toBe(400);
    }
  });

  it("audits creation and removal with channel and address only, never the URL or secret", async () => {
    const principal = fresh();
    const created = (
      await create({ principal_id: principal, tenant_id: "acme", channel: "webhook", url: HOOK_URL })
    ).body;
    await call(`${CONTACTS}/${created.contact_id}`, { method: "DELETE", headers: admin.headers });
    const events = (await testSql()`
      SELECT actor, actor_key_id, action, before, after FROM audit_events
       WHERE target_type = 'contact_point' AND target_id = ${String(created.contact_id)} ORDER BY id`) as {
      actor: string;
      actor_key_id: string;
      action: string;
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
    }[];
    const view = {
      principal_id: principal,
      tenant_id: "acme",
      channel: "webhook",
      address: "https://hooks.pagerduty.example.org/…",
    };
    expect(events).toEqual([
      {
        actor: "ops-dir",
        actor_key_id: admin.keyId,
        action: "contact_point.create",
        before: null,
        after: view,
      },
      {
        actor: "ops-dir",
        actor_key_id: admin.keyId,
        action: "contact_point.delete",
        before: view,
        after: null,
      },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/hooksecret789|whsec_|v1\./);
    expect(JSON.stringify(events)).not.toContain(created.secret?.slice(6));
  });

  it("logs no URL, secret or sealed value", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const principal = fresh();
    const made = (await create({ principal_id: principal, channel: "webhook", url: HOOK_URL })).body;
    await create({ principal_id: principal, channel: "teams", url: TEAMS_URL });
    await create({ principal_id: principal, channel: "teams", url: TEAMS_URL });
    await call(`${CONTACTS}?principal_id=${principal}`, { headers: admin.headers });
    await call(`${CONTACTS}/${made.contact_id}`, { method: "DELETE", headers: admin.headers });
    const logged = lines.join("\n");
    expect(logged).toContain("contact_point_created");
    expect(logged).not.toMatch(/hooksecret789|teamsecret123|whsec_|v1\./);
    expect(logged).not.toContain(made.secret?.slice(6));
  });
});

describe("contact points: who may", () => {
  it("refuses approver and agent keys (403)", async () => {
    for (const key of [approver, agent]) {
      expect(
        (await create({ principal_id: "x", channel: "email", email: "x@example.com" }, key)).status,
      ).toBe(403);
      expect((await call(CONTACTS, { headers: key.headers })).status).toBe(403);
      expect((await call(`${CONTACTS}/1`, { headers: key.headers })).status).toBe(403);
      expect((await call(`${CONTACTS}/1`, { method: "DELETE", headers: key.headers })).status).toBe(403);
    }
  });

  it("confines a tenant-scoped admin key to its tenant's contact points", async () => {
    const principal = fresh();
    const theirs = (
      await create(
        { principal_id: principal, tenant_id: "globex", channel: "email", email: "g@example.com" },
        globexAdmin,
      )
    ).body;
    const global = (await create({ principal_id: principal, channel: "email", email: "all@example.com" }))
      .body;
    const mine = await create(
      { principal_id: principal, tenant_id: "acme", channel: "email", email: "a@example.com" },
      acmeAdmin,
    );
    expect(mine.status).toBe(201);

    // It cannot create one without its tenant, or for another tenant.
    for (const body of [
      { principal_id: principal, channel: "email", email: "b@example.com" },
      { principal_id: principal, tenant_id: null, channel: "email", email: "b@example.com" },
      { principal_id: principal, tenant_id: "globex", channel: "email", email: "b@example.com" },
      { tenant_id: "globex", channel: "email", email: "b@example.com" },
    ]) {
      const refused = await create(body, acmeAdmin);
      expect(refused.status, JSON.stringify(body)).toBe(403);
    }

    // It sees only its own: another tenant's and the all-tenant ones are not found.
    for (const other of [theirs, global]) {
      expect((await call(`${CONTACTS}/${other.contact_id}`, { headers: acmeAdmin.headers })).status).toBe(
        404,
      );
      const del = await call(`${CONTACTS}/${other.contact_id}`, {
        method: "DELETE",
        headers: acmeAdmin.headers,
      });
      expect(del.status).toBe(404);
    }
    expect((await call(`${CONTACTS}/${theirs.contact_id}`, { headers: admin.headers })).status).toBe(200);
    const listed = (await (
      await call(`${CONTACTS}?principal_id=${principal}`, { headers: acmeAdmin.headers })
    ).json()) as Contact[];
    expect(listed.map((c) => c.contact_id)).toEqual([mine.body.contact_id]);
    expect((await call(`${CONTACTS}?tenant_id=globex`, { headers: acmeAdmin.headers })).status).toBe(403);
    // A duplicate of another tenant's row is not a conflict it can probe: the owners differ.
    const probe = await create(
      { principal_id: principal, tenant_id: "acme", channel: "email", email: "g@example.com" },
      acmeAdmin,
    );
    expect(probe.status).toBe(201);

    const removed = await call(`${CONTACTS}/${mine.body.contact_id}`, {
      method: "DELETE",
      headers: acmeAdmin.headers,
    });
    expect(removed.status).toBe(200);
  });
});

describe("contact points: the engine's side", () => {
  it("contactsFor finds a principal's contacts for the tenant and the tenant's own, openContact unseals", async () => {
    const alice = fresh("alice");
    const bob = fresh("bob");
    const tenant = fresh("tenant");
    const secret = `whsec_${btoa("k".repeat(32))}`;
    const made = {
      aliceAll: (await create({ principal_id: alice, channel: "email", email: "alice@example.com" })).body,
      aliceHere: (await create({ principal_id: alice, tenant_id: tenant, channel: "teams", url: TEAMS_URL }))
        .body,
      aliceElsewhere: (
        await create({
          principal_id: alice,
          tenant_id: "elsewhere",
          channel: "email",
          email: "a2@example.com",
        })
      ).body,
      bob: (
        await create({ principal_id: bob, tenant_id: tenant, channel: "email", email: "bob@example.com" })
      ).body,
      tenantWide: (await create({ tenant_id: tenant, channel: "webhook", url: HOOK_URL, secret })).body,
      otherTenant: (await create({ tenant_id: "elsewhere", channel: "google_chat", url: CHAT_URL })).body,
    };
    const ctx = createServiceContext({
      env: testEnv(),
      log: createLogger("error"),
      metrics: new MetricsBuffer(),
      waitUntil: () => {},
      requestId: null,
    });
    const rows = await contactsFor(ctx, { principalIds: [alice], tenantId: tenant });
    expect(rows.map((row) => row.id)).toEqual(
      [made.aliceAll, made.aliceHere, made.tenantWide].map((c) => c.contact_id),
    );
    const onlyTenant = await contactsFor(ctx, { principalIds: [], tenantId: tenant });
    expect(onlyTenant.map((row) => row.id)).toEqual([made.tenantWide.contact_id]);

    const opened = await Promise.all(rows.map((row) => openContact(ctx, row)));
    expect(opened).toEqual([
      { channel: "email", target: "alice@example.com", secret: null },
      { channel: "teams", target: TEAMS_URL, secret: null },
      { channel: "webhook", target: HOOK_URL, secret },
    ]);
  });
});

describe("contact points: the console's directory page", () => {
  it("is for admins only", async () => {
    const asApprover = await signIn(approver);
    expect((await call("/console/admin/contacts", { headers: { Cookie: asApprover.cookie } })).status).toBe(
      403,
    );
    const post = await call(
      "/console/admin/contacts",
      form(
        { _csrf: asApprover.csrf, principal_id: "x", channel: "email", target: "x@example.com" },
        asApprover.cookie,
      ),
    );
    expect(post.status).toBe(403);
  });

  it("adds with the API's rules, shows a generated secret once, never a URL, escapes, and removes", async () => {
    const session = await signIn(admin);
    const principal = fresh("Console");
    const added = await call(
      "/console/admin/contacts",
      form(
        { _csrf: session.csrf, principal_id: principal, channel: "webhook", target: HOOK_URL },
        session.cookie,
      ),
    );
    expect(added.status).toBe(200);
    const page = await added.text();
    const secret = /<pre id="new-secret">(whsec_[^<]+)<\/pre>/.exec(page)?.[1] ?? "";
    expect(secret).toMatch(/^whsec_/);
    expect(page).not.toContain("hooksecret789");
    expect(page).toContain(principal.toLowerCase());

    const refused = await call(
      "/console/admin/contacts",
      form(
        {
          _csrf: session.csrf,
          principal_id: principal,
          channel: "email",
          target: "<script>alert(1)</script>@x.com",
        },
        session.cookie,
      ),
    );
    expect(refused.status).toBe(400);
    const refusedPage = await refused.text();
    expect(refusedPage).toContain("email:");
    expect(refusedPage).not.toContain("<script>alert(1)");

    const listed = await (
      await call("/console/admin/contacts", { headers: { Cookie: session.cookie } })
    ).text();
    expect(listed).toContain("https://hooks.pagerduty.example.org/…");
    expect(listed).not.toContain(secret.slice(6));
    expect(listed).not.toContain("hooksecret789");

    const [row] =
      (await testSql()`SELECT id FROM contact_points WHERE principal_id = ${principal.toLowerCase()}`) as {
        id: string;
      }[];
    const removed = await call(
      `/console/admin/contacts/${row?.id}/remove`,
      form({ _csrf: session.csrf }, session.cookie),
    );
    expect(removed.status).toBe(200);
    expect(await removed.text()).toContain(`Contact point ${row?.id} removed.`);
    const noCsrf = await call(`/console/admin/contacts/${row?.id}/remove`, form({}, session.cookie));
    expect(noCsrf.status).toBe(403);
  });
});
