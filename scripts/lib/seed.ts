// Demo data for local development. Idempotent: running it twice changes nothing.
// (The global default policies are not seed data: migration 0001 creates them everywhere.)
import pg from "pg";

export async function seedDevelopmentData(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
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
  } finally {
    await client.end();
  }
}
