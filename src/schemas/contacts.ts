// The principal directory on the wire: /api/v1/admin/contacts bodies, queries and answers (a contact
// point's public view: the display address, never the sealed URL or secret; a generated webhook secret
// only in the create answer), and the mappers to the service's command and filter.
import { z } from "@hono/zod-openapi";
import type { ContactFilter } from "../db/contacts.ts";
import { CONTACT_SECRET_RULE, MAX_EMAIL_LENGTH } from "../domain/contacts.ts";
import { CONTACT_CHANNELS } from "../domain/vocabulary.ts";
import type { ContactSummary, NewContactCommand } from "../services/contacts.ts";
import { Identifier, pageQuery, type WireMatches } from "./common.ts";

export const ContactSchema = z
  .object({
    contact_id: z.number().int(),
    principal_id: z.string().nullable(),
    tenant_id: z.string().nullable(),
    channel: z.enum(CONTACT_CHANNELS),
    address: z.string().openapi({
      description:
        "The email address, or for a URL its scheme and host only (https://host/…): the URL itself is never shown",
    }),
    has_secret: z
      .boolean()
      .openapi({ description: "A webhook contact point signs its deliveries with a secret" }),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("ContactPoint");

/** services/contacts.ts's ContactSummary is exactly this schema's shape. */
export const CONTACT_SUMMARY_IS_THE_WIRE: WireMatches<z.infer<typeof ContactSchema>, ContactSummary> = true;

export const CreatedContactSchema = ContactSchema.extend({
  secret: z.string().nullable().openapi({
    description:
      "The webhook channel's generated signing secret (Standard Webhooks, whsec_…): shown only in this response, store it now. null when you sent one, or for other channels.",
  }),
}).openapi("CreatedContactPoint");

export const CreateContactBody = z
  .object({
    principal_id: Identifier.nullable()
      .optional()
      .openapi({ description: "The principal reached (omit for a tenant-wide recipient)" }),
    tenant_id: Identifier.nullable().optional().openapi({
      description:
        "For a principal: only for this tenant's requests (omit: every tenant). Alone: a recipient for the whole tenant. A tenant-scoped key must send its own tenant.",
    }),
    channel: z.enum(CONTACT_CHANNELS),
    email: z
      .string()
      .max(1024)
      .optional()
      .openapi({ description: `The email channel's address (at most ${MAX_EMAIL_LENGTH} characters)` }),
    url: z.string().max(8192).optional().openapi({
      description:
        "teams: an incoming webhook or Power Automate workflow URL; google_chat: https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…; webhook: an https URL of a public host. Stored sealed, never shown again.",
    }),
    secret: z
      .string()
      .max(1024)
      .optional()
      .openapi({ description: `webhook channel only: ${CONTACT_SECRET_RULE}` }),
  })
  .strict()
  .openapi("CreateContactPoint");

export const ContactIdParam = z.object({
  contact_id: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, "a contact id is a positive integer")
    .transform(Number)
    .openapi({ param: { name: "contact_id", in: "path" }, type: "string", example: "1" }),
});

export const ContactListQuery = z.object({
  principal_id: Identifier.optional(),
  tenant_id: Identifier.optional(),
  channel: z.enum(CONTACT_CHANNELS).optional(),
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 1_000_000 }),
});

export function toNewContactCommand(body: z.infer<typeof CreateContactBody>): NewContactCommand {
  return {
    principalId: body.principal_id ?? null,
    tenantId: body.tenant_id ?? null,
    channel: body.channel,
    email: body.email,
    url: body.url,
    secret: body.secret,
  };
}

export function toContactFilter(query: z.infer<typeof ContactListQuery>): ContactFilter {
  return { principalId: query.principal_id, tenantId: query.tenant_id, channel: query.channel };
}
