DROP INDEX "spend_ledger_reference_key";--> statement-breakpoint
CREATE UNIQUE INDEX "spend_ledger_tenant_reference_key" ON "spend_ledger" USING btree ("tenant_id","source","reference");