// Where a tenant's Slack workspace hears of a request (issue 26): the first route whose skill pattern
// (exact, `*`, or a prefix ending in `*`, as capability rules match) and level both match, else the
// workspace's default channel.
import { skillPatternMatches } from "./evaluation.ts";

/**
 * A routing rule (slack_workspaces.routes): requests whose skill matches `skill_pattern` and/or whose
 * required level is `level` go to `channel`; the first rule that matches wins.
 */
export interface SlackRoute {
  skill_pattern?: string | undefined;
  level?: number | undefined;
  channel: string;
}

export function slackChannelFor(
  workspace: { routes: readonly SlackRoute[]; defaultChannel: string },
  request: { skillId: string; requiredLevel: number },
): string {
  const route = workspace.routes.find(
    (candidate) =>
      (candidate.skill_pattern === undefined ||
        skillPatternMatches(candidate.skill_pattern, request.skillId)) &&
      (candidate.level === undefined || candidate.level === request.requiredLevel),
  );
  return route?.channel ?? workspace.defaultChannel;
}
