// Usage reports in the spend ledger, idempotent per tenant and usage id.
import { and, eq } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type SpendLedgerRow, spendLedger } from "./schema.ts";

/**
 * One round trip: inserts the entry unless that tenant already recorded this usage id, then reads
 * whichever row stands. `created` says whether this call inserted it.
 */
export async function recordUsage(
  db: Database,
  entry: Omit<typeof spendLedger.$inferInsert, "source">,
): Promise<{ row: SpendLedgerRow; created: boolean }> {
  const [inserted, [row]] = await db.batch([
    db
      .insert(spendLedger)
      .values({ ...entry, source: "usage" })
      .onConflictDoNothing()
      .returning({ id: spendLedger.id }),
    db
      .select()
      .from(spendLedger)
      .where(
        and(
          eq(spendLedger.tenantId, entry.tenantId),
          eq(spendLedger.source, "usage"),
          eq(spendLedger.reference, entry.reference),
        ),
      ),
  ]);
  if (!row) throw new Error("usage row missing after insert");
  return { row, created: inserted.length > 0 };
}
