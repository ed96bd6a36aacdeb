// A tenant's Slack workspace as the integration uses it (issue 26): the row with its bot token and
// signing secret unsealed. Never log or return what this answers.
import { findSlackWorkspace } from "../../db/slack.ts";
import type { SlackRoute } from "../../domain/slack-routing.ts";
import { decryptSecret, importEncryptionKey } from "../../lib/secrets.ts";
import type { ServiceContext } from "../context.ts";

export interface OpenedSlackWorkspace {
  tenantId: string;
  teamId: string;
  botToken: string;
  signingSecret: string;
  defaultChannel: string;
  routes: SlackRoute[];
  maxDecideLevel: number;
}

/** The tenant's workspace, unsealed; undefined when the tenant has none. Throws when the key is missing. */
export async function loadSlackWorkspace(
  ctx: ServiceContext,
  tenantId: string,
): Promise<OpenedSlackWorkspace | undefined> {
  const row = await findSlackWorkspace(ctx.db, tenantId);
  if (!row) return undefined;
  const key = await importEncryptionKey(ctx.config.WEBHOOK_ENCRYPTION_KEY);
  if (!key) throw new Error("WEBHOOK_ENCRYPTION_KEY is not set: cannot read the Slack workspace's secrets");
  return {
    tenantId: row.tenantId,
    teamId: row.teamId,
    botToken: await decryptSecret(row.botTokenEncrypted, key),
    signingSecret: await decryptSecret(row.signingSecretEncrypted, key),
    defaultChannel: row.defaultChannel,
    routes: row.routes,
    maxDecideLevel: row.maxDecideLevel,
  };
}
