// API keys on the wire: /api/v1/admin/keys bodies, queries and answers (a key's public view; the
// secret only in the create answer), and the mappers to the service's command and search.
import { z } from "@hono/zod-openapi";
import type { KeySummary } from "../db/api-keys.ts";
import { KEY_ID_PATTERN } from "../domain/ids.ts";
import { ROLES } from "../domain/vocabulary.ts";
import type { NewKeyCommand, searchKeys } from "../services/keys.ts";
import { Identifier, LevelValue, pageQuery, type WireMatches } from "./common.ts";

const identifier = (description: string) => Identifier.openapi({ description });

const LevelInput = LevelValue.openapi({
  description: "1–5 or a level name (auto_approve … owner_override)",
  example: "manual_approve",
});

export const KeySummarySchema = z
  .object({
    key_id: z.string(),
    name: z.string().nullable(),
    principal_id: z.string(),
    role: z.enum(ROLES),
    max_level: z.number().int(),
    max_level_name: z.string().nullable(),
    tenant_id: z.string().nullable(),
    agent_ids: z.array(z.string()).nullable(),
    created_by: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
    revoked_by: z.string().nullable(),
    last_used_at: z.string().nullable(),
  })
  .openapi("ApiKey");

/** db/api-keys.ts's KeySummary (shared with the keys CLI) is exactly this schema's shape. */
export const KEY_SUMMARY_IS_THE_WIRE: WireMatches<z.infer<typeof KeySummarySchema>, KeySummary> = true;

export const CreatedKeySchema = KeySummarySchema.extend({
  api_key: z.string().openapi({ description: "The key itself. Shown only in this response: store it now." }),
}).openapi("CreatedApiKey");

export const CreateKeyBody = z
  .object({
    principal_id: identifier("Who the key acts as: recorded as the approver, requester or actor"),
    role: z.enum(ROLES),
    max_level: LevelInput.optional().openapi({
      description:
        "Highest approval level the key may act at. Required for approvers; agents default to 1, admins to 5.",
    }),
    tenant_id: identifier(
      "Confine the key to one tenant; omit or null for all tenants (not allowed for admins)",
    )
      .nullable()
      .optional(),
    agent_ids: z.array(z.string().min(1).max(200)).min(1).max(100).nullable().optional().openapi({
      description:
        'Agent keys only: the agents the key may act for, as exact ids or prefixes ending in * (e.g. "billing-*"), folded like every id; ["*"] for a platform key acting for any agent. Omit it and the key acts only as its own principal.',
    }),
    name: z.string().max(200).optional().openapi({ description: "A label for people, e.g. 'ci-agent prod'" }),
  })
  .strict()
  .openapi("CreateApiKey");

export const KeyIdParam = z.object({
  key_id: z
    .string()
    .regex(KEY_ID_PATTERN, "a key id is 16 hex characters")
    .openapi({ param: { name: "key_id", in: "path" } }),
});

export const KeyListQuery = z.object({
  role: z.enum(ROLES).optional(),
  tenant_id: Identifier.optional(),
  principal_id: Identifier.optional(),
  include_revoked: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 1_000_000 }),
});

export function toNewKeyCommand(body: z.infer<typeof CreateKeyBody>): NewKeyCommand {
  return {
    principalId: body.principal_id,
    role: body.role,
    maxLevel: body.max_level,
    tenantId: body.tenant_id ?? null,
    agentIds: body.agent_ids ?? null,
    name: body.name ?? null,
  };
}

/** The service's filter for a list query (its page is the query's limit and offset). */
export function toKeyFilter(query: z.infer<typeof KeyListQuery>): Parameters<typeof searchKeys>[1] {
  return {
    role: query.role,
    tenantId: query.tenant_id,
    principalId: query.principal_id,
    includeRevoked: query.include_revoked,
  };
}
