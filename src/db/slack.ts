// Statements of the Slack integration shared by its parts (issue 26): a tenant's workspace row.
import { eq } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type SlackWorkspaceRow, slackWorkspaces } from "./schema.ts";

export async function findSlackWorkspace(
  db: Database,
  tenantId: string,
): Promise<SlackWorkspaceRow | undefined> {
  const [row] = await db.select().from(slackWorkspaces).where(eq(slackWorkspaces.tenantId, tenantId));
  return row;
}
