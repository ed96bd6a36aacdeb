// npm run keys -- create --principal <id> --role <agent|approver|admin> [--level <1-5|name>] [--tenant <id>] [--agents <id,prefix*,...>] [--name <label>]
// npm run keys -- list
// npm run keys -- revoke <key_id>
//
// For operators with database access only (no API key yet, or the API is down). Acts on DATABASE_URL
// when set, otherwise on the embedded database of `npm run dev`. Prints a new key once.
import { parseArgs } from "node:util";
import { agentIdsFromText, checkNewKey, type NewKeyField } from "../src/domain/access.ts";
import { ROLES } from "../src/domain/vocabulary.ts";
import { createKey, listKeys, revokeKey } from "./lib/keys.ts";
import { openDatabase } from "./lib/local-stack.ts";

const USAGE = `usage:
  npm run keys -- create --principal <id> --role <${ROLES.join("|")}> [--level <1-5|name>] [--tenant <id>] [--agents <id,prefix*,...>] [--name <label>]
  npm run keys -- list
  npm run keys -- revoke <key_id>`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    principal: { type: "string" },
    role: { type: "string" },
    level: { type: "string" },
    tenant: { type: "string" },
    agents: { type: "string" },
    name: { type: "string" },
  },
});
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
  return check.ok ? check.key : fail(`${check.field ? FLAGS[check.field] : "--level"}: ${check.reason}`);
})();

const db = await openDatabase();
try {
  if (command === "create" && newKey) {
    const key = await createKey(db.url, newKey);
    console.log(JSON.stringify(key, null, 2));
    console.error("Store api_key now: it is not shown again.");
  } else if (command === "list") {
    console.log(JSON.stringify(await listKeys(db.url), null, 2));
  } else if (command === "revoke") {
    const keyId = rest[0] ?? fail("revoke needs a key id");
    const key = await revokeKey(db.url, keyId);
    if (!key) fail(`no API key ${keyId}`);
    console.log(JSON.stringify(key, null, 2));
  } else {
    fail(command ? `unknown command: ${command}` : "no command");
  }
} catch (error) {
  console.error(`keys ${command} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await db.close();
}
