// Statements of the Slack integration's administration (issue 26): a tenant's workspace connected,
// replaced, listed and disconnected; the links between Slack users and principals made by an admin or
// by redeeming a link code, listed and removed. Every change is audited in the same statement
// (audit_events: the tenant named, so the row joins the tenant's chain; never a token or secret).
// A team belongs to one tenant (links are keyed by team), so connecting checks it under a lock per team.
import { and, asc, desc, eq, inArray, isNull, or, type SQL, sql } from "drizzle-orm";
import type { Role } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { rowFromRaw } from "./raw.ts";
import {
  apiKeys,
  auditEvents,
  type SlackUserLinkRow,
  type SlackWorkspaceRow,
  slackUserLinks,
  slackWorkspaces,
} from "./schema.ts";

/** Who acts, as the audit trail names them. */
export interface SlackActor {
  principalId: string;
  keyId: string;
  requestId?: string | null | undefined;
}

/** A workspace as asked for: sealed secrets, or null to keep the stored ones (a replace only). */
export interface SlackWorkspaceWrite {
  tenantId: string;
  teamId: string;
  botTokenEncrypted: string | null;
  signingSecretEncrypted: string | null;
  defaultChannel: string;
  routes: unknown[];
  maxDecideLevel: number;
}

export type WorkspaceWriteOutcome =
  | { outcome: "created" | "updated"; row: SlackWorkspaceRow; linksRemoved: number }
  | { outcome: "team_taken" }
  | { outcome: "secrets_missing" };

/** A workspace's audit view: everything but the sealed secrets. */
const workspaceAudit = (alias: string) =>
  sql.raw(`jsonb_build_object('tenant_id', ${alias}.tenant_id,
  'team_id', ${alias}.team_id, 'default_channel', ${alias}.default_channel, 'routes', ${alias}.routes,
  'max_decide_level', ${alias}.max_decide_level)`);

/** Serialises the statements about one team (which tenant holds it): a team is connected once. */
const teamLock = (teamId: string) =>
  sql`SELECT pg_advisory_xact_lock(hashtextextended(${`slack.team:${teamId}`}, 0))`;

/**
 * Connects or replaces the tenant's workspace and audits it (slack.workspace.connect or .update), in
 * one transaction under the team's lock. Refused (nothing written) when another tenant holds the team,
 * or when there is no stored workspace and a secret is missing. A replace that moves the tenant to
 * another team removes the old team's links: they vouched for accounts of a team no longer connected.
 */
export async function writeSlackWorkspace(
  db: Database,
  write: SlackWorkspaceWrite,
  actor: SlackActor,
): Promise<WorkspaceWriteOutcome> {
  const [, result] = await db.batch([
    db.execute(teamLock(write.teamId)),
    db.execute(sql`
      WITH prior AS (
        SELECT * FROM ${slackWorkspaces} WHERE tenant_id = ${write.tenantId}
      ), taken AS (
        SELECT 1 FROM ${slackWorkspaces} WHERE team_id = ${write.teamId} AND tenant_id <> ${write.tenantId} LIMIT 1
      ), sealed AS (
        SELECT coalesce(${write.botTokenEncrypted}::text, (SELECT bot_token_encrypted FROM prior)) AS bot,
               coalesce(${write.signingSecretEncrypted}::text, (SELECT signing_secret_encrypted FROM prior)) AS signing
      ), written AS (
        INSERT INTO ${slackWorkspaces} (tenant_id, team_id, bot_token_encrypted, signing_secret_encrypted,
                                        default_channel, routes, max_decide_level, created_by, updated_by)
        SELECT ${write.tenantId}::text, ${write.teamId}::text, sealed.bot, sealed.signing, ${write.defaultChannel}::text,
               ${JSON.stringify(write.routes)}::jsonb, ${write.maxDecideLevel}::smallint, ${actor.principalId}::text,
               ${actor.principalId}::text
          FROM sealed
         WHERE NOT EXISTS (SELECT 1 FROM taken) AND sealed.bot IS NOT NULL AND sealed.signing IS NOT NULL
        ON CONFLICT (tenant_id) DO UPDATE SET
          team_id = excluded.team_id, bot_token_encrypted = excluded.bot_token_encrypted,
          signing_secret_encrypted = excluded.signing_secret_encrypted, default_channel = excluded.default_channel,
          routes = excluded.routes, max_decide_level = excluded.max_decide_level,
          updated_by = excluded.updated_by, updated_at = now()
        RETURNING *, (xmax = 0) AS inserted
      ), dropped AS (
        DELETE FROM ${slackUserLinks}
         WHERE team_id IN (SELECT team_id FROM prior WHERE team_id <> ${write.teamId})
           AND EXISTS (SELECT 1 FROM written)
        RETURNING 1
      ), audited AS (
        INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
        SELECT ${actor.principalId}::text, ${actor.keyId}::text,
               CASE WHEN w.inserted THEN 'slack.workspace.connect' ELSE 'slack.workspace.update' END,
               'slack_workspace', w.tenant_id, (SELECT ${workspaceAudit("p")} FROM prior p),
               ${workspaceAudit("w")} || jsonb_build_object(
                 'bot_token_replaced', ${write.botTokenEncrypted !== null}::boolean,
                 'signing_secret_replaced', ${write.signingSecretEncrypted !== null}::boolean,
                 'links_removed', (SELECT count(*) FROM dropped)),
               ${actor.requestId ?? null}::text
          FROM written w
      )
      SELECT (SELECT row_to_json(w) FROM written w) AS row,
             (SELECT inserted FROM written) AS inserted,
             EXISTS (SELECT 1 FROM taken) AS taken,
             (SELECT count(*) FROM dropped)::int AS links_removed`),
  ]);
  const answer = result.rows[0] as
    | { row: Record<string, unknown> | null; inserted: boolean | null; taken: boolean; links_removed: number }
    | undefined;
  if (!answer?.row) return answer?.taken ? { outcome: "team_taken" } : { outcome: "secrets_missing" };
  return {
    outcome: answer.inserted ? "created" : "updated",
    row: rowFromRaw<SlackWorkspaceRow>(slackWorkspaces, answer.row),
    linksRemoved: Number(answer.links_removed),
  };
}

/** Disconnects the tenant's workspace and removes its team's links, audited: the row as it was. */
export async function deleteSlackWorkspace(
  db: Database,
  tenantId: string,
  actor: SlackActor,
): Promise<{ row: SlackWorkspaceRow; linksRemoved: number } | undefined> {
  const result = await db.execute(sql`
    WITH gone AS (
      DELETE FROM ${slackWorkspaces} WHERE tenant_id = ${tenantId} RETURNING *
    ), links AS (
      DELETE FROM ${slackUserLinks} WHERE team_id IN (SELECT team_id FROM gone) RETURNING 1
    ), audited AS (
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
      SELECT ${actor.principalId}::text, ${actor.keyId}::text, 'slack.workspace.disconnect', 'slack_workspace', g.tenant_id,
             ${workspaceAudit("g")}, jsonb_build_object('tenant_id', g.tenant_id,
               'links_removed', (SELECT count(*) FROM links)),
             ${actor.requestId ?? null}::text
        FROM gone g
    )
    SELECT row_to_json(g) AS row, (SELECT count(*) FROM links)::int AS links_removed FROM gone g`);
  const answer = result.rows[0] as { row: Record<string, unknown>; links_removed: number } | undefined;
  if (!answer) return undefined;
  return {
    row: rowFromRaw<SlackWorkspaceRow>(slackWorkspaces, answer.row),
    linksRemoved: Number(answer.links_removed),
  };
}

/** Workspaces by tenant id; tenantScope confines a scoped key to its own. */
export async function listSlackWorkspaceRows(
  db: Database,
  tenantScope: string | null,
  page: { limit: number; offset: number },
): Promise<SlackWorkspaceRow[]> {
  return db
    .select()
    .from(slackWorkspaces)
    .where(tenantScope === null ? undefined : eq(slackWorkspaces.tenantId, tenantScope))
    .orderBy(asc(slackWorkspaces.tenantId))
    .limit(page.limit)
    .offset(page.offset);
}

/** A new link: the team is the tenant's (checked in the statement), the method how it was proven. */
export interface SlackLinkWrite {
  tenantId: string;
  teamId: string;
  slackUserId: string;
  principalId: string;
  method: "admin" | "console";
  /** The link code's jti (method console): the code links once, recorded in the audit event. */
  codeJti?: string | undefined;
}

export type LinkWriteOutcome =
  | { outcome: "linked"; row: SlackUserLinkRow }
  | { outcome: "exists"; row: SlackUserLinkRow }
  | { outcome: "no_workspace" }
  | { outcome: "code_used" };

/**
 * Links a Slack user to a principal unless it is linked already (the existing link answers), audited
 * in the same statement: slack.link.create on the link (an admin's), or slack.link.redeem on the code
 * (target slack_link_code, its jti) for a code, whose earlier redeem refuses this one. A code's
 * statement runs under a lock on its jti, so two redeems of one code at once link once.
 */
export async function insertSlackLink(
  db: Database,
  link: SlackLinkWrite,
  actor: SlackActor,
): Promise<LinkWriteOutcome> {
  const jti = link.codeJti ?? null;
  const audit =
    jti === null
      ? sql`'slack.link.create', 'slack_user_link', i.team_id || '/' || i.slack_user_id`
      : sql`'slack.link.redeem', 'slack_link_code', ${jti}::text`;
  const statement = sql`
    WITH workspace AS (
      SELECT 1 FROM ${slackWorkspaces} WHERE tenant_id = ${link.tenantId} AND team_id = ${link.teamId}
    ), used AS (
      SELECT 1 FROM ${auditEvents}
       WHERE ${jti}::text IS NOT NULL AND target_type = 'slack_link_code' AND target_id = ${jti}::text LIMIT 1
    ), existing AS (
      SELECT * FROM ${slackUserLinks} WHERE team_id = ${link.teamId} AND slack_user_id = ${link.slackUserId}
    ), inserted AS (
      INSERT INTO ${slackUserLinks} (team_id, slack_user_id, principal_id, method, linked_by)
      SELECT ${link.teamId}::text, ${link.slackUserId}::text, ${link.principalId}::text, ${link.method}::text,
             ${actor.principalId}::text
        FROM workspace
       WHERE NOT EXISTS (SELECT 1 FROM used) AND NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT DO NOTHING
      RETURNING *
    ), audited AS (
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, after, request_id)
      SELECT ${actor.principalId}::text, ${actor.keyId}::text, ${audit},
             jsonb_build_object('tenant_id', ${link.tenantId}::text, 'team_id', i.team_id,
               'slack_user_id', i.slack_user_id, 'principal_id', i.principal_id, 'method', i.method),
             ${actor.requestId ?? null}::text
        FROM inserted i
    )
    SELECT (SELECT row_to_json(i) FROM inserted i) AS row, (SELECT row_to_json(e) FROM existing e) AS existing,
           EXISTS (SELECT 1 FROM workspace) AS workspace, EXISTS (SELECT 1 FROM used) AS used`;
  const result =
    jti === null
      ? await db.execute(statement)
      : (
          await db.batch([
            db.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`slack.link-code:${jti}`}, 0))`),
            db.execute(statement),
          ])
        )[1];
  const answer = result.rows[0] as
    | {
        row: Record<string, unknown> | null;
        existing: Record<string, unknown> | null;
        workspace: boolean;
        used: boolean;
      }
    | undefined;
  if (answer?.row) return { outcome: "linked", row: rowFromRaw(slackUserLinks, answer.row) };
  if (!answer?.workspace) return { outcome: "no_workspace" };
  if (answer.used) return { outcome: "code_used" };
  if (answer.existing) return { outcome: "exists", row: rowFromRaw(slackUserLinks, answer.existing) };
  // Lost a race with a concurrent link of the same user: read as linked already.
  const [row] = await db
    .select()
    .from(slackUserLinks)
    .where(and(eq(slackUserLinks.teamId, link.teamId), eq(slackUserLinks.slackUserId, link.slackUserId)));
  return row ? { outcome: "exists", row } : { outcome: "no_workspace" };
}

/**
 * Removes a link of the team (only `principalId`'s when given: a principal unlinking its own) and
 * audits it (slack.link.delete) in one statement; the link as it was, or undefined.
 */
export async function deleteSlackLink(
  db: Database,
  target: { tenantId: string; teamId: string; slackUserId: string; principalId?: string | undefined },
  actor: SlackActor,
): Promise<SlackUserLinkRow | undefined> {
  const owner = target.principalId === undefined ? sql`TRUE` : sql`principal_id = ${target.principalId}`;
  const result = await db.execute(sql`
    WITH gone AS (
      DELETE FROM ${slackUserLinks}
       WHERE team_id = ${target.teamId} AND slack_user_id = ${target.slackUserId} AND ${owner}
      RETURNING *
    ), audited AS (
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, request_id)
      SELECT ${actor.principalId}::text, ${actor.keyId}::text, 'slack.link.delete', 'slack_user_link',
             g.team_id || '/' || g.slack_user_id,
             jsonb_build_object('tenant_id', ${target.tenantId}::text, 'team_id', g.team_id,
               'slack_user_id', g.slack_user_id, 'principal_id', g.principal_id, 'method', g.method),
             ${actor.requestId ?? null}::text
        FROM gone g
    )
    SELECT row_to_json(g) AS row FROM gone g`);
  const answer = result.rows[0] as { row: Record<string, unknown> } | undefined;
  return answer ? rowFromRaw<SlackUserLinkRow>(slackUserLinks, answer.row) : undefined;
}

/** A team's links, newest first; only `principalId`'s when given. */
export async function listSlackLinkRows(
  db: Database,
  teamId: string,
  filter: { principalId?: string | undefined },
  page: { limit: number; offset: number },
): Promise<SlackUserLinkRow[]> {
  return db
    .select()
    .from(slackUserLinks)
    .where(
      and(
        eq(slackUserLinks.teamId, teamId),
        filter.principalId ? eq(slackUserLinks.principalId, filter.principalId) : undefined,
      ),
    )
    .orderBy(desc(slackUserLinks.createdAt), asc(slackUserLinks.slackUserId))
    .limit(page.limit)
    .offset(page.offset);
}

/**
 * The highest level at which `principalId` may decide `tenantId`'s requests: the top max_level of its
 * live keys of a deciding role covering the tenant; undefined when it holds none.
 */
export async function decidingLevelOver(
  db: Database,
  principalId: string,
  tenantId: string,
  decidingRoles: readonly Role[],
): Promise<number | undefined> {
  const tenantCovered: SQL | undefined = or(isNull(apiKeys.tenantId), eq(apiKeys.tenantId, tenantId));
  const [row] = await db
    .select({ level: sql<number | null>`max(${apiKeys.maxLevel})` })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.principalId, principalId),
        isNull(apiKeys.revokedAt),
        inArray(apiKeys.role, [...decidingRoles]),
        tenantCovered,
      ),
    );
  return row?.level === null || row?.level === undefined ? undefined : Number(row.level);
}
