// Demo data for local development. Idempotent: running it twice changes nothing.
// (The global default policies are not seed data: migration 0001 creates them everywhere.)
import pg from "pg";

// Seeding is not a policy change anyone made: the audit trigger records it under this actor.
const SEED_ACTOR = "seed:npm run dev";

export async function seedDevelopmentData(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SELECT set_config('policy.actor', $1, false)", [SEED_ACTOR]);
    await client.query(
      `INSERT INTO policy_approval_levels
         (policy_type, tenant_id, agent_id, skill_id, approval_level, auto_approve_max_cost_cents,
          auto_approve_max_tokens, escalate_to, escalation_timeout_seconds)
       VALUES
         ('cost', 'demo', NULL, 'search.web', 'pre_approved', 200, 4000, NULL, 300),
         ('cost', 'demo', NULL, 'payments.transfer', 'manual_approve', 0, 0, 'finance-oncall', 600),
         ('capability', 'demo', NULL, 'shell.exec', 'owner_override', 0, 0, 'security-oncall', 300)
       ON CONFLICT ON CONSTRAINT policy_approval_levels_scope_key DO NOTHING`,
    );
    await client.query(
      `INSERT INTO capability_rules (tenant_id, agent_id, skill_pattern, effect, approval_level, description)
       VALUES
         ('demo', NULL, 'shell.*', 'deny', NULL, 'no shell access for demo agents'),
         ('demo', NULL, 'payments.*', 'require_approval', 'manual_approve', 'money moves need a human')
       ON CONFLICT ON CONSTRAINT capability_rules_scope_key DO NOTHING`,
    );
    await client.query(
      `INSERT INTO budgets (tenant_id, agent_id, period, limit_cents, enforcement)
       VALUES ('demo', NULL, 'day', 5000, 'hard'), ('demo', NULL, 'month', 50000, 'soft')
       ON CONFLICT ON CONSTRAINT budgets_scope_key DO NOTHING`,
    );
    await client.query(
      `INSERT INTO skill_costs (skill_id, base_cents, cents_per_1k_tokens, description)
       VALUES ('search.web', 1, 0, 'one search call'), ('llm.chat', 0, 2, 'two cents per 1k tokens')
       ON CONFLICT (skill_id) DO NOTHING`,
    );
  } finally {
    await client.end();
  }
}
