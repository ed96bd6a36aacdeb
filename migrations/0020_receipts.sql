-- Approval receipts (issue 27): the statement that finally approves a request also stores its signed
-- receipt (a JWS a tool checks before it acts; redeemed at most once) on the request, and the public
-- keys that signed receipts are registered, so a rotated key stays in /.well-known/jwks.json while any
-- receipt it signed may still be used.
CREATE TABLE "receipt_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_id" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_jws" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_kid" text;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_not_after" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_redeemed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD COLUMN "receipt_redeemed_by" text;--> statement-breakpoint
CREATE UNIQUE INDEX "approval_requests_receipt_id_key" ON "approval_requests" USING btree ("receipt_id") WHERE "approval_requests"."receipt_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "approval_requests_receipt_kid_idx" ON "approval_requests" USING btree ("receipt_kid","receipt_not_after") WHERE "approval_requests"."receipt_kid" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD CONSTRAINT "approval_requests_receipt_complete" CHECK (("approval_requests"."receipt_id" IS NULL) = ("approval_requests"."receipt_jws" IS NULL)
        AND ("approval_requests"."receipt_id" IS NULL) = ("approval_requests"."receipt_kid" IS NULL)
        AND ("approval_requests"."receipt_id" IS NULL) = ("approval_requests"."receipt_not_after" IS NULL)
        AND ("approval_requests"."receipt_redeemed_at" IS NULL) = ("approval_requests"."receipt_redeemed_by" IS NULL)
        AND ("approval_requests"."receipt_redeemed_at" IS NULL OR "approval_requests"."receipt_id" IS NOT NULL));