-- Rollback of 0012_spend_totals (budget checks then read the ledger's sums again).
DROP TRIGGER IF EXISTS spend_ledger_totals ON spend_ledger;
DROP FUNCTION IF EXISTS spend_ledger_totals();
DROP FUNCTION IF EXISTS spend_totals_apply(text, text, timestamptz, bigint);
DROP TABLE IF EXISTS "spend_totals";
