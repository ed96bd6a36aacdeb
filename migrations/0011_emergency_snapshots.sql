CREATE TABLE "emergency_snapshots" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"operation" text NOT NULL,
	"reason" text NOT NULL,
	"taken_by" text NOT NULL,
	"taken_at" timestamp with time zone DEFAULT now() NOT NULL,
	"data" jsonb NOT NULL,
	"restored_by" text,
	"restored_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "emergency_snapshots_open_idx" ON "emergency_snapshots" USING btree ("operation","id") WHERE "emergency_snapshots"."restored_at" IS NULL;