// Who a Slack user decides as (issue 26): the principal the user is verified as (slack_user_links), and
// among that principal's live keys of a deciding role covering the tenant, the one with the highest
// level, as a Principal built like a presented token's (services/keys.ts). Slack never adds authority:
// what the user may do from Slack is exactly what that key may do through the API.
import { findSlackUserLink, liveKeysCoveringTenant } from "../../db/slack-interactions.ts";
import { can, type Principal, rolesWith } from "../../domain/access.ts";
import type { ServiceContext } from "../context.ts";
import { principalOf } from "../keys.ts";

export type SlackIdentityRefusal = "not_linked" | "no_deciding_key";

export type SlackIdentity = { principal: Principal } | { refused: SlackIdentityRefusal };

export async function slackPrincipal(
  ctx: ServiceContext,
  who: { tenantId: string; teamId: string; slackUserId: string },
): Promise<SlackIdentity> {
  const link = await findSlackUserLink(ctx.db, who.teamId, who.slackUserId);
  if (!link) return { refused: "not_linked" };
  const keys = await liveKeysCoveringTenant(
    ctx.db,
    link.principalId,
    who.tenantId,
    rolesWith("requests:decide"),
  );
  // Highest level first; the role check again here so the rule lives in access.ts, not in SQL alone.
  const principal = keys.map(principalOf).find((candidate) => can(candidate, "requests:decide"));
  return principal ? { principal } : { refused: "no_deciding_key" };
}
