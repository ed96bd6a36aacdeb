-- Rollback of 0005_usage_reference_per_tenant: back to one reference per source across tenants.
-- Fails (and changes nothing) if two tenants have since recorded the same reference.
DROP INDEX IF EXISTS "spend_ledger_tenant_reference_key";
--> statement-breakpoint
CREATE UNIQUE INDEX "spend_ledger_reference_key" ON "spend_ledger" USING btree ("source","reference");
