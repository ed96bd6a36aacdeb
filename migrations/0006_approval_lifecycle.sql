CREATE TABLE "webhook_outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"event" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text
);
--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "idempotency_body_hash" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "create_response" jsonb;--> statement-breakpoint
CREATE INDEX "webhook_outbox_undelivered_idx" ON "webhook_outbox" USING btree ("created_at") WHERE "webhook_outbox"."delivered_at" IS NULL;--> statement-breakpoint
CREATE INDEX "webhook_outbox_request_idx" ON "webhook_outbox" USING btree ("request_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "approval_requests_idempotency_key" ON "approval_requests" USING btree ("created_by_key_id","idempotency_key") WHERE "approval_requests"."idempotency_key" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "approval_requests_list_idx" ON "approval_requests" USING btree ("tenant_id","created_at","id");