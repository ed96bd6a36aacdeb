// Statements of the Slack integration shared by its parts (issue 26): a tenant's workspace row, and the
// messages posted about each request (to update them, and so a retry never posts twice).
import { eq } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type SlackMessageRow, type SlackWorkspaceRow, slackMessages, slackWorkspaces } from "./schema.ts";

/** Messages updated per request at most: one per notification that posts (needed, escalated, reminders). */
const SLACK_MESSAGES_PER_REQUEST = 20;

export async function findSlackWorkspace(
  db: Database,
  tenantId: string,
): Promise<SlackWorkspaceRow | undefined> {
  const [row] = await db.select().from(slackWorkspaces).where(eq(slackWorkspaces.tenantId, tenantId));
  return row;
}

/** The messages posted about a request, oldest first (each is updated when the request moves on). */
export async function slackMessagesOf(db: Database, requestId: string): Promise<SlackMessageRow[]> {
  return db
    .select()
    .from(slackMessages)
    .where(eq(slackMessages.requestId, requestId))
    .orderBy(slackMessages.id)
    .limit(SLACK_MESSAGES_PER_REQUEST);
}

/** The message a delivery posted, if it did (a retry after a successful post must not post again). */
export async function slackMessageOfDelivery(
  db: Database,
  deliveryId: number,
): Promise<SlackMessageRow | undefined> {
  const [row] = await db
    .select()
    .from(slackMessages)
    .where(eq(slackMessages.deliveryId, deliveryId))
    .limit(1);
  return row;
}

/** Records a posted message; the same (channel, ts) twice is one row. */
export async function recordSlackMessage(
  db: Database,
  message: { requestId: string; tenantId: string; channel: string; ts: string; deliveryId: number },
): Promise<void> {
  await db.insert(slackMessages).values(message).onConflictDoNothing();
}

export async function markSlackMessageUpdated(db: Database, id: number, at: Date): Promise<void> {
  await db.update(slackMessages).set({ updatedAt: at }).where(eq(slackMessages.id, id));
}
