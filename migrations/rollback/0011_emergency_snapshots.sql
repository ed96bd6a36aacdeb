-- Rollback of 0011_emergency_snapshots.
DROP TABLE IF EXISTS "emergency_snapshots";
