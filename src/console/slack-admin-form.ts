// The Slack workspaces page's connect form read into the admin API's command (issue 26): the same wire
// schema as PUT /api/v1/admin/slack/workspaces/{tenant_id} checks every field, so the console takes
// exactly what the API takes. Routes are typed one a line, `skill_pattern|level|channel`; a refusal names
// the field or the line, and never repeats a token or secret. The link form likewise goes through the
// schema of POST …/{tenant_id}/links.
import { ApiError, type InputIssue } from "../lib/errors.ts";
import { SlackLinkBody, SlackWorkspaceBody } from "../schemas/slack.ts";
import type { SlackWorkspaceCommand } from "../services/slack/admin.ts";
import type { SlackLinkFormValues, SlackWorkspaceFormValues } from "./slack-admin-view.ts";

/** The form's fields to show again on a refusal: what was typed, without the secrets. */
export function slackFormValues(form: Record<string, string>): SlackWorkspaceFormValues {
  return {
    tenantId: form.tenant_id ?? "",
    teamId: form.team_id ?? "",
    defaultChannel: form.default_channel ?? "",
    maxDecideLevel: form.max_decide_level ?? "",
    routes: form.routes ?? "",
  };
}

/** A refusal naming what is wrong (`where`: a field, or a routes line). */
function refused(where: string, message: string): ApiError {
  return new ApiError("validation_failed", `${where}: ${message}`);
}

const LEVEL_TEXT = /^[0-9]{1,2}$/;

/** A level typed into the form: blank is none; anything but a small whole number is refused by name. */
function levelOf(where: string, raw: string): number | undefined {
  const text = raw.trim();
  if (text === "") return undefined;
  if (!LEVEL_TEXT.test(text)) throw refused(where, "a whole number from 1 to 5");
  return Number(text);
}

interface RouteLines {
  routes: Array<{ skill_pattern?: string; level?: number; channel: string }>;
  /** The 1-based line each route came from, for naming it in a refusal. */
  lines: number[];
}

/** The routes textarea: one route a line, blank lines skipped. */
function routeLines(text: string): RouteLines {
  const parsed: RouteLines = { routes: [], lines: [] };
  text.split(/\r\n|\r|\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `routes line ${index + 1}`;
    const fields = line.split("|").map((field) => field.trim());
    if (fields.length !== 3) throw refused(where, "write skill_pattern|level|channel");
    const [skillPattern = "", levelText = "", channel = ""] = fields;
    const level = levelOf(`${where}: level`, levelText);
    parsed.routes.push({
      ...(skillPattern === "" ? {} : { skill_pattern: skillPattern }),
      ...(level === undefined ? {} : { level }),
      channel,
    });
    parsed.lines.push(index + 1);
  });
  return parsed;
}

/** Where a schema issue is, in the form's words: routes by their line, other fields by name. */
function issueWhere(issue: InputIssue, lines: readonly number[]): string {
  const [field, index, ...rest] = issue.path.map(String);
  if (field === "routes" && index !== undefined) {
    const line = lines[Number(index)];
    return [`routes line ${line ?? Number(index) + 1}`, ...rest].join(": ");
  }
  return issue.path.map(String).join(".") || "form";
}

/**
 * The connect form as the API's command, checked by its schema (the service checks the rest). A blank
 * token or secret is omitted: kept on a replace, refused by the service on a first connection.
 */
export function slackWorkspaceCommand(form: Record<string, string>): SlackWorkspaceCommand {
  const { routes, lines } = routeLines(form.routes ?? "");
  const botToken = form.bot_token?.trim() ?? "";
  const signingSecret = form.signing_secret?.trim() ?? "";
  const maxDecideLevel = levelOf("max_decide_level", form.max_decide_level ?? "");
  const body = SlackWorkspaceBody.safeParse({
    team_id: form.team_id ?? "",
    default_channel: form.default_channel ?? "",
    routes,
    ...(botToken === "" ? {} : { bot_token: botToken }),
    ...(signingSecret === "" ? {} : { signing_secret: signingSecret }),
    ...(maxDecideLevel === undefined ? {} : { max_decide_level: maxDecideLevel }),
  });
  if (!body.success) {
    const issue = body.error.issues[0];
    throw issue ? refused(issueWhere(issue, lines), issue.message) : refused("form", "not valid");
  }
  return {
    teamId: body.data.team_id,
    botToken: body.data.bot_token,
    signingSecret: body.data.signing_secret,
    defaultChannel: body.data.default_channel,
    routes: body.data.routes,
    maxDecideLevel: body.data.max_decide_level,
  };
}

/** The link form's fields to show again on a refusal, as typed. */
export function slackLinkFormValues(form: Record<string, string>): SlackLinkFormValues {
  return { slackUserId: form.slack_user_id ?? "", principalId: form.principal_id ?? "" };
}

/** The link form as the API's body, checked by its schema (the service checks the rest); a refusal names the field. */
export function slackLinkCommand(form: Record<string, string>): { slackUserId: string; principalId: string } {
  const body = SlackLinkBody.safeParse({
    slack_user_id: form.slack_user_id ?? "",
    principal_id: form.principal_id ?? "",
  });
  if (!body.success) {
    const issue = body.error.issues[0];
    throw issue ? refused(issueWhere(issue, []), issue.message) : refused("form", "not valid");
  }
  return { slackUserId: body.data.slack_user_id, principalId: body.data.principal_id };
}

/** A service's refusal as the page says it: a field's complaint named (the API puts it in details). */
export function slackRefusalText(error: ApiError): string {
  const details = error.details;
  if (details && typeof details === "object" && "issues" in details && Array.isArray(details.issues)) {
    const first: unknown = details.issues[0];
    if (first && typeof first === "object" && "path" in first && "message" in first) {
      return `${String(first.path) || "form"}: ${String(first.message)}`;
    }
  }
  return error.message;
}
