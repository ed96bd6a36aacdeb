// Contact point rows (the principal directory, issue 25) and their audit events: each creation and
// deletion is audited in the same transaction, naming the channel and display address only (never the
// sealed URL or secret). Tenant scope is a parameter of every read, so a scoped key's queries cannot
// reach another tenant's rows.
import { and, desc, eq, inArray, isNull, or, type SQL, sql } from "drizzle-orm";
import type { ContactChannel } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { auditEvents, type ContactPointRow, contactPoints } from "./schema.ts";

export type NewContactRow = typeof contactPoints.$inferInsert & { createdBy: string };

/** Who acts, as the audit trail names them. */
export interface ContactActor {
  principalId: string;
  keyId: string;
  requestId?: string | null | undefined;
}

/** Which rows a key may touch: its own tenant's (tenantScope set) or all (null). */
const inScope = (tenantScope: string | null): SQL | undefined =>
  tenantScope === null ? undefined : eq(contactPoints.tenantId, tenantScope);

/**
 * Inserts the contact point and its audit event in one transaction; the audit row finds the new row
 * by its unique (owner, channel, fingerprint), so both commit or neither (a duplicate fails both).
 */
export async function insertContact(
  db: Database,
  row: NewContactRow,
  actor: ContactActor,
): Promise<ContactPointRow> {
  const [[inserted]] = await db.batch([
    db.insert(contactPoints).values(row).returning(),
    db.execute(sql`
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, after, request_id)
      SELECT ${actor.principalId}, ${actor.keyId}, 'contact_point.create', 'contact_point', id::text,
             jsonb_build_object('principal_id', principal_id, 'tenant_id', tenant_id, 'channel', channel,
                                'address', address),
             ${actor.requestId ?? null}
        FROM ${contactPoints}
       WHERE principal_id IS NOT DISTINCT FROM ${row.principalId ?? null}
         AND tenant_id IS NOT DISTINCT FROM ${row.tenantId ?? null}
         AND channel = ${row.channel} AND target_fingerprint = ${row.targetFingerprint}`),
  ]);
  if (!inserted) throw new Error("insert returned no row");
  return inserted;
}

/**
 * Deletes the contact point (within the scope) and audits it in one statement: the audit row is
 * written only for a row this statement deleted, so two concurrent deletes audit once. True if deleted.
 */
export async function deleteContact(
  db: Database,
  id: number,
  tenantScope: string | null,
  actor: ContactActor,
): Promise<boolean> {
  const scope = tenantScope === null ? sql`TRUE` : sql`tenant_id = ${tenantScope}`;
  const result = await db.execute(sql`
    WITH gone AS (
      DELETE FROM ${contactPoints} WHERE id = ${id} AND ${scope}
      RETURNING id, principal_id, tenant_id, channel, address
    ), audited AS (
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, request_id)
      SELECT ${actor.principalId}, ${actor.keyId}, 'contact_point.delete', 'contact_point', id::text,
             jsonb_build_object('principal_id', principal_id, 'tenant_id', tenant_id, 'channel', channel,
                                'address', address),
             ${actor.requestId ?? null}
        FROM gone
    )
    SELECT id FROM gone`);
  return result.rows.length > 0;
}

export async function findContact(
  db: Database,
  id: number,
  tenantScope: string | null,
): Promise<ContactPointRow | undefined> {
  const [row] = await db
    .select()
    .from(contactPoints)
    .where(and(eq(contactPoints.id, id), inScope(tenantScope)));
  return row;
}

export interface ContactFilter {
  principalId?: string | undefined;
  tenantId?: string | undefined;
  channel?: ContactChannel | undefined;
}

/** Contact points newest first; tenantScope confines a scoped key whatever the filter says. */
export async function listContacts(
  db: Database,
  filter: ContactFilter,
  tenantScope: string | null,
  page: { limit: number; offset: number },
): Promise<ContactPointRow[]> {
  return db
    .select()
    .from(contactPoints)
    .where(
      and(
        inScope(tenantScope),
        filter.principalId ? eq(contactPoints.principalId, filter.principalId) : undefined,
        filter.tenantId ? eq(contactPoints.tenantId, filter.tenantId) : undefined,
        filter.channel ? eq(contactPoints.channel, filter.channel) : undefined,
      ),
    )
    .orderBy(desc(contactPoints.createdAt), desc(contactPoints.id))
    .limit(page.limit)
    .offset(page.offset);
}

/**
 * The contact points that reach `principalIds` for `tenantId`: theirs for that tenant or for every
 * tenant (tenant_id NULL), plus the tenant's own (principal_id NULL). Oldest first, so the order is
 * stable from one notification to the next.
 */
export async function contactsReaching(
  db: Database,
  principalIds: readonly string[],
  tenantId: string,
): Promise<ContactPointRow[]> {
  const principals =
    principalIds.length === 0
      ? undefined
      : and(
          inArray(contactPoints.principalId, [...principalIds]),
          or(isNull(contactPoints.tenantId), eq(contactPoints.tenantId, tenantId)),
        );
  const tenantWide = and(isNull(contactPoints.principalId), eq(contactPoints.tenantId, tenantId));
  return db
    .select()
    .from(contactPoints)
    .where(principals ? or(principals, tenantWide) : tenantWide)
    .orderBy(contactPoints.id);
}
