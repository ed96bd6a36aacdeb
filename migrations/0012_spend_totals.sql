CREATE TABLE "spend_totals" (
	"tenant_id" text NOT NULL,
	"agent_id" text DEFAULT '' NOT NULL,
	"period" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"amount_cents" bigint NOT NULL,
	CONSTRAINT "spend_totals_tenant_id_agent_id_period_period_start_pk" PRIMARY KEY("tenant_id","agent_id","period","period_start"),
	CONSTRAINT "spend_totals_period_valid" CHECK ("spend_totals"."period" IN ('day', 'month'))
);
--> statement-breakpoint
-- Keeps spend_totals equal to the ledger's sums, whoever writes the ledger (the API, the escalation
-- job, raw SQL): each row adds (or, deleted, subtracts) its amount to its tenant's and, with an agent,
-- its agent's UTC day and month. Concurrent writers meet on the total row, whose upsert is atomic.
CREATE FUNCTION spend_totals_apply(p_tenant text, p_agent text, p_at timestamptz, p_amount bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO spend_totals (tenant_id, agent_id, period, period_start, amount_cents)
  SELECT p_tenant, scope.agent, bucket.period, bucket.start, p_amount
  FROM (VALUES ('', true), (coalesce(p_agent, ''), false)) AS scope(agent, whole_tenant),
       (VALUES ('day', date_trunc('day', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
               ('month', date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')) AS bucket(period, start)
  WHERE scope.whole_tenant OR (p_agent IS NOT NULL AND p_agent <> '')
  ON CONFLICT (tenant_id, agent_id, period, period_start)
  DO UPDATE SET amount_cents = spend_totals.amount_cents + EXCLUDED.amount_cents;
$$;
--> statement-breakpoint
CREATE FUNCTION spend_ledger_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM spend_totals_apply(OLD.tenant_id, OLD.agent_id, OLD.occurred_at, -OLD.amount_cents);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM spend_totals_apply(NEW.tenant_id, NEW.agent_id, NEW.occurred_at, NEW.amount_cents);
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER spend_ledger_totals AFTER INSERT OR UPDATE OR DELETE ON spend_ledger
  FOR EACH ROW EXECUTE FUNCTION spend_ledger_totals();
--> statement-breakpoint
-- The ledger so far.
INSERT INTO spend_totals (tenant_id, agent_id, period, period_start, amount_cents)
SELECT tenant_id, scope.agent, bucket.period, bucket.start, sum(amount_cents)
FROM spend_ledger,
     LATERAL (VALUES ('', true), (coalesce(agent_id, ''), false)) AS scope(agent, whole_tenant),
     LATERAL (VALUES ('day', date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                     ('month', date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')) AS bucket(period, start)
WHERE scope.whole_tenant OR (agent_id IS NOT NULL AND agent_id <> '')
GROUP BY tenant_id, scope.agent, bucket.period, bucket.start;
