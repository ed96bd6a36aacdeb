// npm run keys -- create --principal <id> --role <agent|approver|admin> [--level <1-5|name>] [--tenant <id>] [--agents <id,prefix*,...>] [--name <label>]
// npm run keys -- list
// npm run keys -- revoke <key_id>
//
// For operators with database access only (no API key yet, or the API is down). Acts on DATABASE_URL
// when set, otherwise on the embedded database of `npm run dev`. Prints a new key once.
import { parseArgs } from "node:util";
import { checkNewKey } from "../src/domain/access.ts";
import { ROLES, type Role, toLevel } from "../src/domain/vocabulary.ts";
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

const db = await openDatabase();
try {
  if (command === "create") {
    const role = values.role as Role | undefined;
    if (!values.principal) fail("--principal is required");
    if (!role || !ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(", ")}`);
    const level =
      values.level === undefined
        ? undefined
        : (toLevel(/^\d+$/.test(values.level) ? Number(values.level) : values.level) ??
          fail("--level must be 1-5 or a level name"));
    // The same rules as the admin API (ids folded to their canonical form); an operator with database
    // access has no level bound.
    const agentIds =
      values.agents === undefined ? null : values.agents.split(",").map((agent) => agent.trim());
    const check = checkNewKey(null, {
      principalId: values.principal,
      role,
      maxLevel: level,
      tenantId: values.tenant ?? null,
      agentIds,
    });
    const flags = {
      principal_id: "--principal",
      tenant_id: "--tenant",
      agent_ids: "--agents",
      max_level: "--level",
    } as const;
    if (!check.ok) fail(`${check.field ? flags[check.field] : "--level"}: ${check.reason}`);
    const key = await createKey(db.url, {
      principalId: check.principalId,
      role,
      maxLevel: check.maxLevel,
      tenantId: check.tenantId,
      agentIds: check.agentIds,
      name: values.name ?? null,
    });
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
