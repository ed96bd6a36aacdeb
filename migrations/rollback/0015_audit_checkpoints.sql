-- Rollback of 0015_audit_checkpoints (the signed checkpoints are dropped; the chain itself stays).
DROP TABLE IF EXISTS "audit_checkpoints";
DROP INDEX IF EXISTS "audit_chain_created_idx";
