// The principal directory as operations (issue 25): create, list, read and delete contact points for
// admins (tenant-scoped admin keys confined to their tenant), and, for the notification engine, the
// contact points that reach given principals (contactsFor) and a row's unsealed target (openContact).
// URLs and webhook secrets are sealed with WEBHOOK_ENCRYPTION_KEY; answers carry the display address.
import {
  type ContactFilter,
  contactsReaching,
  deleteContact,
  findContact,
  insertContact,
  listContacts,
} from "../db/contacts.ts";
import { sqlState, UNIQUE_VIOLATION } from "../db/errors.ts";
import type { ContactPointRow } from "../db/schema.ts";
import type { Principal } from "../domain/access.ts";
import {
  checkContactTarget,
  contactDisplayAddress,
  contactFingerprintText,
  contactSecretFrom,
  contactSecretProblem,
} from "../domain/contacts.ts";
import { canonicalId } from "../domain/limits.ts";
import type { ContactChannel } from "../domain/vocabulary.ts";
import { ApiError, validationError } from "../lib/errors.ts";
import { decryptSecret, encryptSecret, importEncryptionKey, keyedFingerprint } from "../lib/secrets.ts";
import type { ServiceContext } from "./context.ts";

/** A contact point as answers show it: never the sealed URL or secret. */
export interface ContactSummary {
  contact_id: number;
  principal_id: string | null;
  tenant_id: string | null;
  channel: ContactChannel;
  address: string;
  has_secret: boolean;
  created_by: string;
  created_at: string;
}

export function toContactSummary(row: ContactPointRow): ContactSummary {
  return {
    contact_id: row.id,
    principal_id: row.principalId,
    tenant_id: row.tenantId,
    channel: row.channel,
    address: row.address,
    has_secret: row.secretEncrypted !== null,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
  };
}

/** A new contact point as asked for (ids folded here too, for entry points without a wire schema). */
export interface NewContactCommand {
  principalId: string | null;
  tenantId: string | null;
  channel: ContactChannel;
  email?: string | undefined;
  url?: string | undefined;
  secret?: string | undefined;
}

/** A 400 for one field whose message names it too: the console and the CLI show it as it is. */
function invalidField(field: string, reason: string): ApiError {
  return validationError([{ path: [field], message: reason, code: "custom" }], "json", `${field}: ${reason}`);
}

/** The server key that seals and fingerprints targets; a deployment without it cannot keep a directory. */
async function directoryKey(ctx: ServiceContext): Promise<{ key: CryptoKey; raw: string }> {
  const raw = ctx.config.WEBHOOK_ENCRYPTION_KEY;
  const key = await importEncryptionKey(raw);
  if (!raw || !key) {
    ctx.log.error("webhook_encryption_key_invalid", { reason: "WEBHOOK_ENCRYPTION_KEY is not set" });
    throw new ApiError("internal_error", "This deployment cannot store contact points; try again later");
  }
  return { key, raw };
}

/** An owner id in its canonical form (every id is folded alike), null when absent. */
function ownerId(field: "principal_id" | "tenant_id", raw: string | null): string | null {
  if (raw === null) return null;
  const id = canonicalId(raw);
  if (!id.ok) throw invalidField(field, id.reason);
  return id.value;
}

/** A tenant-scoped key manages only its tenant's contact points: those carrying its tenant_id. */
function ownerRefusal(actor: Principal, tenantId: string | null): ApiError | undefined {
  if (actor.tenantId === null || tenantId === actor.tenantId) return undefined;
  return new ApiError(
    "forbidden",
    `This key may only manage contact points of tenant ${actor.tenantId}: send tenant_id "${actor.tenantId}"`,
  );
}

/**
 * Creates a contact point and its audit event. The webhook channel's secret is the one supplied or a
 * new one; a generated secret is in this answer and nowhere else, ever.
 */
export async function createContact(
  ctx: ServiceContext,
  actor: Principal,
  asked: NewContactCommand,
): Promise<ContactSummary & { secret: string | null }> {
  const command = {
    ...asked,
    principalId: ownerId("principal_id", asked.principalId),
    tenantId: ownerId("tenant_id", asked.tenantId),
  };
  if (command.principalId === null && command.tenantId === null) {
    throw invalidField(
      "principal_id",
      "send principal_id, tenant_id or both: whom the contact point reaches",
    );
  }
  const refusal = ownerRefusal(actor, command.tenantId);
  if (refusal) throw refusal;
  const target = checkContactTarget(command.channel, command, ctx.config.ALLOW_INSECURE_WEBHOOKS);
  if (!target.ok) throw invalidField(target.field, target.reason);
  if (command.secret !== undefined) {
    if (command.channel !== "webhook")
      throw invalidField("secret", "only the webhook channel signs: omit it");
    const problem = contactSecretProblem(command.secret);
    if (problem) throw invalidField("secret", problem);
  }
  const generated =
    command.channel === "webhook" && command.secret === undefined
      ? contactSecretFrom(crypto.getRandomValues(new Uint8Array(32)))
      : null;
  const secret = command.secret ?? generated;
  const { key, raw } = await directoryKey(ctx);
  const sealedUrl = command.channel === "email" ? null : await encryptSecret(target.target, key);
  let row: ContactPointRow;
  try {
    row = await insertContact(
      ctx.db,
      {
        principalId: command.principalId,
        tenantId: command.tenantId,
        channel: command.channel,
        address: contactDisplayAddress(command.channel, target.target),
        urlEncrypted: sealedUrl,
        secretEncrypted: secret === null ? null : await encryptSecret(secret, key),
        targetFingerprint: await keyedFingerprint(
          raw,
          contactFingerprintText(command.channel, target.target),
        ),
        createdBy: actor.principalId,
      },
      { principalId: actor.principalId, keyId: actor.keyId, requestId: ctx.requestId },
    );
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) {
      throw new ApiError("conflict", "This owner already has a contact point with this channel and target");
    }
    throw error;
  }
  ctx.log.info("contact_point_created", {
    contact_id: row.id,
    channel: row.channel,
    principal_id: row.principalId,
    tenant_id: row.tenantId,
  });
  return { ...toContactSummary(row), secret: generated };
}

export async function searchContacts(
  ctx: ServiceContext,
  actor: Principal,
  filter: ContactFilter,
  page: { limit: number; offset: number },
): Promise<ContactSummary[]> {
  if (actor.tenantId !== null && filter.tenantId !== undefined && filter.tenantId !== actor.tenantId) {
    throw new ApiError("forbidden", `This key may only read tenant ${actor.tenantId}`);
  }
  return (await listContacts(ctx.db, filter, actor.tenantId, page)).map(toContactSummary);
}

const notFound = (id: number) => new ApiError("not_found", `No contact point ${id}`);

/** One contact point; another tenant's is "not found" to a scoped key, as if it did not exist. */
export async function getContact(ctx: ServiceContext, actor: Principal, id: number): Promise<ContactSummary> {
  const row = await findContact(ctx.db, id, actor.tenantId);
  if (!row) throw notFound(id);
  return toContactSummary(row);
}

/** Deletes a contact point (audited); answers it as it was. */
export async function removeContact(
  ctx: ServiceContext,
  actor: Principal,
  id: number,
): Promise<ContactSummary> {
  const row = await findContact(ctx.db, id, actor.tenantId);
  if (!row) throw notFound(id);
  const deleted = await deleteContact(ctx.db, id, actor.tenantId, {
    principalId: actor.principalId,
    keyId: actor.keyId,
    requestId: ctx.requestId,
  });
  if (!deleted) throw notFound(id);
  ctx.log.info("contact_point_deleted", { contact_id: id, channel: row.channel, by: actor.principalId });
  return toContactSummary(row);
}

/**
 * For the notification engine: the contact points reaching `principalIds` in `tenantId` (theirs for
 * that tenant or for all tenants) and the tenant's own recipients (tenant-wide contact points).
 */
export async function contactsFor(
  ctx: ServiceContext,
  who: { principalIds: readonly string[]; tenantId: string },
): Promise<ContactPointRow[]> {
  return contactsReaching(ctx.db, who.principalIds, who.tenantId);
}

/** Where a notification goes: the address or the full URL, and the webhook's signing secret. */
export interface OpenedContact {
  channel: ContactChannel;
  target: string;
  secret: string | null;
}

/** Unseals a contact point's target for sending. Never log what it answers. */
export async function openContact(ctx: ServiceContext, row: ContactPointRow): Promise<OpenedContact> {
  if (row.channel === "email") return { channel: row.channel, target: row.address, secret: null };
  const { key } = await directoryKey(ctx);
  if (!row.urlEncrypted) throw new Error(`contact point ${row.id} has no sealed URL`);
  return {
    channel: row.channel,
    target: await decryptSecret(row.urlEncrypted, key),
    secret: row.secretEncrypted ? await decryptSecret(row.secretEncrypted, key) : null,
  };
}
