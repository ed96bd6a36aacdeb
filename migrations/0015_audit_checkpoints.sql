CREATE TABLE "audit_checkpoints" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"chain_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"head_hash" text NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"key_id" text NOT NULL,
	"signature" text NOT NULL,
	CONSTRAINT "audit_checkpoints_seq_positive" CHECK ("audit_checkpoints"."seq" >= 1),
	CONSTRAINT "audit_checkpoints_hash_format" CHECK ("audit_checkpoints"."head_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_checkpoints_chain_seq_key_idx" ON "audit_checkpoints" USING btree ("chain_id","seq","key_id");--> statement-breakpoint
CREATE INDEX "audit_chain_created_idx" ON "audit_chain" USING btree ("chain_id","created_at");--> statement-breakpoint
-- Checkpoints are append-only like the chain (the same refusal as 0014): an UPDATE, DELETE or
-- TRUNCATE is refused. Against the table's owner, who can disable the trigger, what protects a
-- checkpoint is its signature, and an auditor keeping the last checkpoint of the previous export.
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();
