// What Slack posts to /integrations/slack/{tenant_id}/… (issue 26), after its signature is checked:
// an interaction's `payload` JSON (block_actions: a button; view_submission: the reject modal) and a
// slash command's form fields. Only the fields the integration reads are declared; the rest is dropped.
// Anything else Slack may send (other interaction types) parses as `ignored` and is answered 200.
import { z } from "zod";

const SlackText = z.string().max(4000);
const Team = z.object({ id: SlackText }).nullish();
const User = z.object({ id: SlackText, team_id: SlackText.optional() });

const BlockActions = z.object({
  type: z.literal("block_actions"),
  team: Team,
  user: User,
  trigger_id: SlackText.optional(),
  response_url: SlackText.optional(),
  /** Messages in channels carry it; a button in a modal or the app home has none. */
  container: z.object({ type: SlackText.optional() }).optional(),
  actions: z
    .array(z.object({ action_id: SlackText, value: SlackText.optional() }))
    .min(1)
    .max(10),
});

const ViewSubmission = z.object({
  type: z.literal("view_submission"),
  team: Team,
  user: User,
  view: z.object({
    callback_id: SlackText.optional(),
    private_metadata: SlackText.optional(),
    state: z
      .object({
        values: z.record(
          z.string().max(255),
          z.record(z.string().max(255), z.object({ value: z.string().max(10_000).nullish() })),
        ),
      })
      .optional(),
  }),
});

export const SlackInteractionPayload = z.discriminatedUnion("type", [BlockActions, ViewSubmission]);
export type SlackInteractionPayload = z.infer<typeof SlackInteractionPayload>;

/** The reject modal's private_metadata: which request, and where the outcome goes (the click's response_url). */
export const RejectModalMetadata = z.object({ request_id: SlackText, response_url: SlackText });
export type RejectModalMetadata = z.infer<typeof RejectModalMetadata>;

export const SlackCommandForm = z.object({
  team_id: SlackText,
  user_id: SlackText,
  command: SlackText,
  text: SlackText.default(""),
  response_url: SlackText,
});
export type SlackCommandForm = z.infer<typeof SlackCommandForm>;

/** The team a payload came from: the team, or (org-wide apps) the user's team. */
export function payloadTeamId(payload: {
  team?: { id: string } | null;
  user: { team_id?: string | undefined };
}) {
  return payload.team?.id ?? payload.user.team_id;
}
