// npm run keys -- create --principal <id> --role <agent|approver|admin> [--level <1-5|name>] [--tenant <id>] [--agents <id,prefix*,...>] [--name <label>]
// npm run keys -- list
// npm run keys -- revoke <key_id>
//
// For operators with database access only (no API key yet, or the API is down). Acts on DATABASE_URL
// when set, otherwise on the embedded database of `npm run dev`. Prints a new key once.
import { agentIdsFromText, checkNewKey, type NewKeyField } from "../src/domain/access.ts";
import { ROLES } from "../src/domain/vocabulary.ts";
import { parseCli, runCli, UsageError } from "./lib/cli.ts";
import { createKey, listKeys, revokeKey } from "./lib/keys.ts";
import { openDatabase } from "./lib/local-stack.ts";

const USAGE = `usage:
  npm run keys -- create --principal <id> --role <${ROLES.join("|")}> [--level <1-5|name>] [--tenant <id>] [--agents <id,prefix*,...>] [--name <label>]
  npm run keys -- list
  npm run keys -- revoke <key_id>

  For operators with database access: acts on DATABASE_URL when set, else on the embedded database of
  \`npm run dev\` (port EMBEDDED_PG_PORT, default 5433, or the running stack's, from .data/dev-stack.json).`;

await runCli({ name: "npm run keys", usage: USAGE }, process.argv.slice(2), async (argv) => {
  const { positionals, values } = parseCli(
    argv,
    {
      principal: { type: "string" },
      role: { type: "string" },
      level: { type: "string" },
      tenant: { type: "string" },
      agents: { type: "string" },
      name: { type: "string" },
    },
    true,
  );
  const [command, ...rest] = positionals;

  /** The flag each field of a new key is given with, as a refusal names it. */
  const FLAGS: Record<NewKeyField, string> = {
    principal_id: "--principal",
    role: "--role",
    max_level: "--level",
    tenant_id: "--tenant",
    agent_ids: "--agents",
    name: "--name",
  };

  // Checked before the database is opened, by the same rules as the admin API and the console; an
  // operator with database access has no level bound.
  const newKey = (() => {
    if (command !== "create") return undefined;
    const check = checkNewKey(null, {
      principalId: values.principal ?? "",
      role: values.role ?? "",
      maxLevel: values.level,
      tenantId: values.tenant ?? null,
      agentIds: values.agents === undefined ? null : (agentIdsFromText(values.agents) ?? []),
      name: values.name ?? null,
    });
    if (check.ok) return check.key;
    throw new UsageError(`${check.field ? FLAGS[check.field] : "--level"}: ${check.reason}`);
  })();
  if (command !== "create" && command !== "list" && command !== "revoke")
    throw new UsageError(
      command ? `unknown command: ${command}` : "a command is required (create, list, revoke)",
    );
  const keyId = rest[0];
  if (command === "revoke" && !keyId) throw new UsageError("revoke needs a key id");

  const db = await openDatabase();
  try {
    if (command === "create" && newKey) {
      const key = await createKey(db.url, newKey);
      console.log(JSON.stringify(key, null, 2));
      console.error("Store api_key now: it is not shown again.");
    } else if (command === "list") {
      console.log(JSON.stringify(await listKeys(db.url), null, 2));
    } else if (command === "revoke" && keyId) {
      const key = await revokeKey(db.url, keyId);
      if (!key) throw new Error(`no API key ${keyId}: \`npm run keys -- list\` lists them`);
      console.log(JSON.stringify(key, null, 2));
    }
    return 0;
  } finally {
    await db.close();
  }
});
