// Creating and reading approval requests.
//
// Create is one round trip when this isolate has the matching policy cached: the insert carries the
// policy-set version it was judged by and only happens if that is still the current version (else
// the policy is re-read and the insert retried). The same statement writes the created event to the
// outbox, adds an auto-approved request's cost to the spend ledger, and settles Idempotency-Key
// retries: a second insert with the same key inserts nothing and returns the first row.
import { eq, type SQL, sql } from "drizzle-orm";
import { WEBHOOK_EVENTS } from "../domain/approvals.ts";
import type { ApprovalLevelPolicy, PolicySettings, SkillCost } from "../domain/evaluation.ts";
import type { Database } from "./client.ts";
import { loadPolicyState } from "./policy-state.ts";
import { columnsAndValues, rowFromRaw } from "./raw.ts";
import { type ApprovalRequestRow, approvalRequests } from "./schema.ts";
import { ledgerInsert, outboxInsert } from "./transitions.ts";

export interface CreatePolicy {
  version: number;
  approvalLevels: ApprovalLevelPolicy[];
  skillCosts: SkillCost[];
  settings: PolicySettings;
}

/** Policy for creating requests, per (policy type, tenant, skill), kept while the version holds. */
const POLICY_CACHE_TTL_MS = 60_000;
const policyCache = new Map<string, { policy: CreatePolicy; expiresAt: number }>();

export async function createPolicyFor(
  db: Database,
  call: { policyType: string; tenantId: string; agentId: string | null; skillId: string },
  fresh = false,
): Promise<CreatePolicy> {
  const key = `${call.policyType}\u0000${call.tenantId}\u0000${call.skillId}`;
  const cached = policyCache.get(key);
  if (!fresh && cached && cached.expiresAt > Date.now()) return cached.policy;
  const state = await loadPolicyState(db, call);
  const policy = {
    version: state.version,
    approvalLevels: state.approvalLevels,
    skillCosts: state.skillCosts,
    settings: state.settings,
  };
  if (policyCache.size > 5_000) policyCache.clear();
  policyCache.set(key, { policy, expiresAt: Date.now() + POLICY_CACHE_TTL_MS });
  return policy;
}

export type InsertOutcome =
  | { outcome: "created"; row: ApprovalRequestRow }
  | { outcome: "existing"; row: ApprovalRequestRow }
  /** Nothing visible: policy changed since it was read, or a concurrent retry has not committed yet. */
  | { outcome: "retry" };

export async function insertRequest(
  db: Database,
  row: typeof approvalRequests.$inferInsert,
  policyVersion: number,
  actor: string,
): Promise<InsertOutcome> {
  const { columns, values } = columnsAndValues(approvalRequests, row);
  const at = row.createdAt instanceof Date ? row.createdAt : new Date();
  const existing: SQL =
    row.idempotencyKey && row.createdByKeyId
      ? sql`SELECT 'existing' AS outcome, r.* FROM ${approvalRequests} r
            WHERE r.created_by_key_id = ${row.createdByKeyId} AND r.idempotency_key = ${row.idempotencyKey}
              AND NOT EXISTS (SELECT 1 FROM inserted)`
      : sql`SELECT 'existing' AS outcome, r.* FROM ${approvalRequests} r WHERE false`;
  const result = await db.execute(sql`
    WITH current_policy AS (SELECT 1 FROM policy_set_version WHERE version = ${policyVersion}),
    inserted AS (
      INSERT INTO ${approvalRequests} ${columns}
      SELECT ${values} FROM current_policy
      ON CONFLICT (created_by_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING *
    ),
    outbox AS (${outboxInsert(sql`inserted`, WEBHOOK_EVENTS.created, actor, "created", at)}),
    ledger AS (${ledgerInsert(sql`inserted`, "auto_approved", "auto_approval", at)})
    SELECT 'created' AS outcome, inserted.* FROM inserted
    UNION ALL ${existing}`);
  const [raw] = result.rows as Record<string, unknown>[];
  if (!raw) return { outcome: "retry" };
  return {
    outcome: raw.outcome === "created" ? "created" : "existing",
    row: rowFromRaw<ApprovalRequestRow>(approvalRequests, raw),
  };
}

export async function loadRequest(db: Database, id: string): Promise<ApprovalRequestRow | undefined> {
  const [row] = await db.select().from(approvalRequests).where(eq(approvalRequests.id, id));
  return row;
}

export function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `apr_${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** JSON with object keys sorted at every depth: equal values hash equally whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
