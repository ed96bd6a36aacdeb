// Seeds many pending approval requests in one SQL statement, for tests of the console's inbox paging
// (worker tests and the Chromium test): ties in deadline and creation time on purpose, so the id
// tiebreak of the keyset order is exercised, and microsecond timestamps as SQL's now() writes them.

/** The statement and its parameters: `count` pending requests in `tenant`, filed by `requestedBy`. */
export function seedPendingSql(
  tenant: string,
  count: number,
  options: { requestedBy?: string; requiredLevel?: number; skill?: string; payloadNote?: string } = {},
): { text: string; params: unknown[] } {
  return {
    text: `INSERT INTO approval_requests (id, correlation_id, policy_type, skill_id, tenant_id, agent_id, payload,
        payload_hash, requested_by, required_level, expires_at, created_at, justification)
      SELECT 'apr_' || substr(md5(random()::text || clock_timestamp()::text || g), 1, 16),
        md5(random()::text || g), 'cost', $3, $1, 'seed-bot-' || (g % 5),
        jsonb_build_object('amount', g, 'note', $5::text), md5(g::text), $4, $6,
        now() + interval '1 hour' + (g % 37) * interval '1 minute',
        now() - (g % 11) * interval '1 second', 'seeded'
      FROM generate_series(1, $2) AS g
      RETURNING id`,
    params: [
      tenant,
      count,
      options.skill ?? "payments.transfer",
      options.requestedBy ?? "seed-bot",
      options.payloadNote ?? "",
      options.requiredLevel ?? 2,
    ],
  };
}
