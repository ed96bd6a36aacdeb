// Finds secrets in log text: API keys, webhook signing secrets, database connection strings, bearer
// and Slack tokens, secret-named JSON fields, and any exact value the caller knows to be secret. Used by the
// suite-wide scan of every log line (test/setup/secret-scan-reporter.ts) and by the Node tests that
// run the worker under `wrangler dev`. Findings show the line with the secret masked: the report
// of a leak must not leak it again.

export interface SecretFinding {
  kind: string;
  /** The log line (at most 300 characters around the match), the secret replaced by [SECRET]. */
  excerpt: string;
}

const PATTERNS: { kind: string; pattern: RegExp }[] = [
  { kind: "API key", pattern: /pak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g },
  { kind: "webhook signing secret", pattern: /whsec_[A-Za-z0-9+/]{16,}={0,2}/g },
  { kind: "database connection string", pattern: /postgres(?:ql)?:\/\/[^\s"'`]+/gi },
  // A notification link's view token (src/domain/view-token.ts): base64url JSON claims, a 43-character MAC.
  { kind: "view token", pattern: /eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{43}/g },
  { kind: "bearer token", pattern: /bearer\s+[A-Za-z0-9._~+/=-]{16,}/gi },
  // Slack tokens (bot xoxb-, user xoxp-, app xapp-…): the workspace's bot token is sealed, never logged.
  { kind: "Slack token", pattern: /\bxox[abposre]-[A-Za-z0-9-]{10,}/g },
  {
    kind: "secret-named field",
    pattern: /"[a-z_]*(?:secret|password|api_key|apikey|authorization|credentials?)"\s*:\s*"[^"]{4,}"/gi,
  },
];

function excerptAround(text: string, start: number, end: number): string {
  const from = Math.max(0, start - 150);
  const to = Math.min(text.length, end + 150);
  return `${from > 0 ? "…" : ""}${text.slice(from, start)}[SECRET]${text.slice(end, to)}${to < text.length ? "…" : ""}`;
}

export function findSecrets(text: string, knownSecrets: readonly string[] = []): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const { kind, pattern } of PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      findings.push({ kind, excerpt: excerptAround(text, match.index, match.index + match[0].length) });
    }
  }
  for (const secret of knownSecrets) {
    if (secret.length < 8) continue;
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + secret.length)) {
      findings.push({ kind: "known test secret", excerpt: excerptAround(text, at, at + secret.length) });
    }
  }
  return findings;
}

/**
 * For startStack's `log` option in Node tests: hands each of the worker's own log lines (JSON, one
 * per line) to console.log, where the suite-wide scan reads them (vitest shows them only when a test
 * fails). wrangler's banner is left out: it lists dev-only vars by design.
 */
export function echoWorkerLine(line: string): void {
  if (line.startsWith("{")) console.log(line);
}
