// Local notifications (issue 25): what `npm run dev` (and the throwaway stack of the node tests) sets up
// so a request filed in tenant `demo` that needs approval is seen without any account: the approver's
// email through wrangler's local send_email binding (it writes a .eml file and logs its path) and a
// Teams card at `npm run receiver`.
//
// The contact points are created through the admin API, not SQL: chat URLs are sealed with the worker's
// WEBHOOK_ENCRYPTION_KEY and fingerprinted there. Seeding is idempotent: one already listed is left
// alone (asked first, so the database logs no duplicate-key error on every start), and a 409 (the same
// owner, channel and target) means the same.

/** The From of local notification email (NOTIFY_EMAIL_FROM); an operator's own NOTIFY_EMAIL_FROM wins. */
export const DEV_NOTIFY_EMAIL_FROM = "approvals@example.com";
/** Where `npm run receiver` listens by default (RECEIVER_PORT or --port change it). */
export const DEV_RECEIVER_PORT = 8787;
/** Where the dev approver's (principal dev-approver, see dev-keys.ts) notification email goes. */
export const DEV_APPROVER_EMAIL = "dev-approver@example.com";
/** The tenant the seed data and the tour use. */
export const DEV_TENANT = "demo";

/** The receiver's path for Teams cards (scripts/receiver.ts prints whatever arrives, on any path). */
export function devTeamsUrl(receiverPort: number = DEV_RECEIVER_PORT): string {
  return `http://127.0.0.1:${receiverPort}/cards/teams`;
}

export interface DevContact {
  principal_id?: string;
  tenant_id?: string;
  channel: "email" | "teams";
  email?: string;
  url?: string;
}

/** The demo's contact points: the dev approver's email, and a Teams card for all of tenant demo. */
export function devContacts(receiverPort: number = DEV_RECEIVER_PORT): DevContact[] {
  return [
    { principal_id: "dev-approver", channel: "email", email: DEV_APPROVER_EMAIL },
    { tenant_id: DEV_TENANT, channel: "teams", url: devTeamsUrl(receiverPort) },
  ];
}

/** How the list answers (GET /api/v1/admin/contacts): never a URL, only its scheme and host. */
interface ListedContact {
  principal_id: string | null;
  tenant_id: string | null;
  address: string;
}

/** The listed form of `contact`'s target: the address, or the URL's origin (host and port). */
function listedAddress(contact: DevContact): string {
  return contact.email ?? new URL(contact.url ?? "").origin;
}

export interface SeededContact {
  channel: DevContact["channel"];
  /** "created" now, or "present" from an earlier run. */
  outcome: "created" | "present";
}

/**
 * Creates the demo's contact points through POST /api/v1/admin/contacts with the admin key (in a
 * header, never in a log line), once the worker answers. Throws on any answer but 201 and 409.
 */
export async function seedDevContacts(
  api: string,
  adminKey: string,
  receiverPort: number = DEV_RECEIVER_PORT,
): Promise<SeededContact[]> {
  const seeded: SeededContact[] = [];
  const headers = { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" };
  for (const contact of devContacts(receiverPort)) {
    const query = new URLSearchParams({ channel: contact.channel });
    if (contact.principal_id) query.set("principal_id", contact.principal_id);
    if (contact.tenant_id) query.set("tenant_id", contact.tenant_id);
    const listed = await fetch(`${api}/api/v1/admin/contacts?${query}`, {
      headers,
      signal: AbortSignal.timeout(10_000),
    });
    if (listed.status !== 200) throw new Error(`GET /api/v1/admin/contacts answered ${listed.status}`);
    const present = ((await listed.json()) as ListedContact[]).some(
      (row) =>
        row.principal_id === (contact.principal_id ?? null) &&
        row.tenant_id === (contact.tenant_id ?? null) &&
        row.address.startsWith(listedAddress(contact)),
    );
    if (present) {
      seeded.push({ channel: contact.channel, outcome: "present" });
      continue;
    }
    const res = await fetch(`${api}/api/v1/admin/contacts`, {
      method: "POST",
      headers,
      body: JSON.stringify(contact),
      signal: AbortSignal.timeout(10_000),
    });
    // The answer of a create carries nothing secret for these channels, but it is not printed anyway.
    await res.body?.cancel();
    if (res.status === 201) seeded.push({ channel: contact.channel, outcome: "created" });
    else if (res.status === 409) seeded.push({ channel: contact.channel, outcome: "present" });
    else throw new Error(`POST /api/v1/admin/contacts (${contact.channel}) answered ${res.status}`);
  }
  return seeded;
}
