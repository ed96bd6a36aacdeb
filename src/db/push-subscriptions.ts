// Push subscription rows (issue 31): a principal's browsers that take Web Push notifications. Every
// read and removal made for a principal is scoped to that principal, so nobody lists or removes
// another's; the sender removes a subscription the push service says is gone, and stamps the outcome.
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type PushSubscriptionRow, pushSubscriptions } from "./schema.ts";

/** Subscriptions one principal may hold; a further one is refused. */
export const MAX_PUSH_SUBSCRIPTIONS_PER_PRINCIPAL = 20;

export type SavedSubscription =
  | { outcome: "saved"; row: PushSubscriptionRow }
  | { outcome: "taken" }
  | { outcome: "too_many" };

/**
 * Saves a subscription for `principalId`: new, or the same endpoint's keys refreshed. An endpoint held
 * by another principal is not taken over ("taken": that browser profile belongs to someone else's
 * session until they turn push off there).
 */
export async function saveSubscription(
  db: Database,
  subscription: { principalId: string; endpoint: string; p256dh: string; auth: string },
): Promise<SavedSubscription> {
  const [[holder], [count]] = await db.batch([
    db
      .select({ principalId: pushSubscriptions.principalId })
      .from(pushSubscriptions)
      .where(eq(pushSubscriptions.endpoint, subscription.endpoint)),
    db
      .select({ n: sql<number>`count(*)`.mapWith(Number) })
      .from(pushSubscriptions)
      .where(eq(pushSubscriptions.principalId, subscription.principalId)),
  ]);
  if (holder && holder.principalId !== subscription.principalId) return { outcome: "taken" };
  if (!holder && (count?.n ?? 0) >= MAX_PUSH_SUBSCRIPTIONS_PER_PRINCIPAL) return { outcome: "too_many" };
  const [row] = await db
    .insert(pushSubscriptions)
    .values(subscription)
    .onConflictDoUpdate({
      target: pushSubscriptions.endpoint,
      set: { p256dh: subscription.p256dh, auth: subscription.auth },
      // Another principal's row (saved between the read and here) is left alone: no row comes back.
      setWhere: eq(pushSubscriptions.principalId, subscription.principalId),
    })
    .returning();
  return row ? { outcome: "saved", row } : { outcome: "taken" };
}

export function subscriptionsOf(db: Database, principalId: string): Promise<PushSubscriptionRow[]> {
  return db
    .select()
    .from(pushSubscriptions)
    .where(eq(pushSubscriptions.principalId, principalId))
    .orderBy(pushSubscriptions.id);
}

/** The subscriptions of any of `principalIds`, for planning: id and principal only. */
export async function subscriptionsOfPrincipals(
  db: Database,
  principalIds: readonly string[],
): Promise<{ id: number; principalId: string }[]> {
  if (principalIds.length === 0) return [];
  return db
    .select({ id: pushSubscriptions.id, principalId: pushSubscriptions.principalId })
    .from(pushSubscriptions)
    .where(inArray(pushSubscriptions.principalId, [...principalIds]))
    .orderBy(pushSubscriptions.id);
}

/** Removes one of `principalId`'s subscriptions; false when it has none with that id. */
export async function removeOwnSubscription(db: Database, principalId: string, id: number): Promise<boolean> {
  const removed = await db
    .delete(pushSubscriptions)
    .where(and(eq(pushSubscriptions.id, id), eq(pushSubscriptions.principalId, principalId)))
    .returning({ id: pushSubscriptions.id });
  return removed.length > 0;
}

export async function loadSubscription(db: Database, id: number): Promise<PushSubscriptionRow | undefined> {
  const [row] = await db.select().from(pushSubscriptions).where(eq(pushSubscriptions.id, id));
  return row;
}

/** The push service said the subscription is gone (404, 410): it never comes back. */
export async function removeGoneSubscription(db: Database, id: number): Promise<void> {
  await db.delete(pushSubscriptions).where(eq(pushSubscriptions.id, id));
}

export async function stampSubscription(
  db: Database,
  id: number,
  outcome: "success" | "failure",
): Promise<void> {
  const column = outcome === "success" ? { lastSuccessAt: new Date() } : { lastFailureAt: new Date() };
  await db.update(pushSubscriptions).set(column).where(eq(pushSubscriptions.id, id));
}
