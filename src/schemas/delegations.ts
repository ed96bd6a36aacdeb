// Delegations on the wire: /api/v1/delegations bodies, queries and answers, and the mappers to the
// service's command and search (issue 25).
import { z } from "@hono/zod-openapi";
import type { DelegationSummary } from "../db/delegations.ts";
import { DELEGATION_REASON_MAX_LENGTH, MAX_DELEGATION_DAYS } from "../domain/delegation.ts";
import type { DelegationQuery, NewDelegationCommand } from "../services/delegations.ts";
import { Identifier, IsoDateTime, optionalDate, pageQuery, type WireMatches } from "./common.ts";

const identifier = (description: string) => Identifier.openapi({ description });

export const DelegationSchema = z
  .object({
    id: z.number().int(),
    principal_id: z.string(),
    delegate_id: z.string(),
    tenant_id: z.string().nullable(),
    starts_at: z.string(),
    ends_at: z.string(),
    reason: z.string().nullable().openapi({ description: "Text a person wrote: data, shown quoted" }),
    created_by: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
    revoked_by: z.string().nullable(),
  })
  .openapi("Delegation");

/** db/delegations.ts's DelegationSummary is exactly this schema's shape. */
export const DELEGATION_IS_THE_WIRE: WireMatches<z.infer<typeof DelegationSchema>, DelegationSummary> = true;

export const CreateDelegationBody = z
  .object({
    delegate_id: identifier(
      "Who stands in: told of what the principal would be told, decides at its own level",
    ),
    starts_at: IsoDateTime.optional().openapi({ description: "Default now; at most a minute in the past" }),
    ends_at: IsoDateTime.openapi({
      description: `After starts_at, at most ${MAX_DELEGATION_DAYS} days after it`,
    }),
    principal_id: identifier(
      "Admins only: whose delegation it is; omit for the caller's own principal",
    ).optional(),
    tenant_id: identifier(
      "Confine it to one tenant; omit for the key's tenant, or every tenant for an unscoped key",
    )
      .nullable()
      .optional(),
    reason: z
      .string()
      .max(DELEGATION_REASON_MAX_LENGTH)
      .nullable()
      .optional()
      .openapi({ description: "Why, for people (e.g. 'on leave'): one line, shown quoted as data" }),
  })
  .strict()
  .openapi("CreateDelegation");

export const DelegationIdParam = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, "a delegation id is a positive integer")
    .transform(Number)
    .openapi({ param: { name: "id", in: "path" }, example: "1" }),
});

export const DelegationListQuery = z.object({
  active: z
    .enum(["true", "false"])
    .optional()
    .transform((value) => value === "true")
    .openapi({ description: "true: only those in force now" }),
  principal_id: Identifier.optional(),
  delegate_id: Identifier.optional(),
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 100_000 }),
});

export function toNewDelegationCommand(body: z.infer<typeof CreateDelegationBody>): NewDelegationCommand {
  return {
    principalId: body.principal_id,
    delegateId: body.delegate_id,
    startsAt: optionalDate(body.starts_at),
    // Required by the schema, so always a date; an invalid one would be refused as before starts_at.
    endsAt: optionalDate(body.ends_at) ?? new Date(Number.NaN),
    tenantId: body.tenant_id,
    reason: body.reason,
  };
}

export function toDelegationQuery(query: z.infer<typeof DelegationListQuery>): DelegationQuery {
  return {
    active: query.active,
    principalId: query.principal_id,
    delegateId: query.delegate_id,
    limit: query.limit,
    offset: query.offset,
  };
}
