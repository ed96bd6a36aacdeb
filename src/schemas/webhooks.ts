// Webhook deliveries on the wire: a request's deliveries with their attempts (its own webhook's, and
// its notifications'), what a redelivery queued, and a tenant's signing keys. (The pause switch answers the shared JobStatus of
// schemas/operations.ts.)
import { z } from "@hono/zod-openapi";
import type { DeliveryWithAttempts } from "../db/webhooks.ts";
import { notificationEventId, webhookEventId } from "../domain/ids.ts";
import {
  ATTEMPT_OUTCOMES,
  CONTACT_CHANNELS,
  DELIVERY_STATUSES,
  NOTIFICATION_KINDS,
  WEBHOOK_EVENTS,
} from "../domain/vocabulary.ts";
import type { TenantSigningKeys } from "../services/webhooks/admin.ts";
import { Identifier, type WireMatches } from "./common.ts";

const AttemptLogSchema = z.array(
  z.object({
    attempt: z.number().int(),
    outcome: z.enum(ATTEMPT_OUTCOMES),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    response_excerpt: z.string().nullable(),
    duration_ms: z.number().int(),
    at: z.string(),
  }),
);

/** Where a delivery stands, for a request's webhook and a notification alike. */
const DELIVERY_STATE = {
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  created_at: z.string(),
  delivered_at: z.string().nullable(),
  last_error: z.string().nullable(),
  attempt_log: AttemptLogSchema,
};

export const DeliverySchema = z
  .object({
    delivery_id: z.number().int(),
    event_id: z
      .string()
      .openapi({ description: "webhook-id and the body's event_id; the same on every retry" }),
    sequence: z
      .number()
      .int()
      .openapi({ description: "The event's place among its request's events, from 1 (the body's sequence)" }),
    event: z.enum(Object.values(WEBHOOK_EVENTS) as [string, ...string[]]),
    ...DELIVERY_STATE,
  })
  .openapi("WebhookDelivery");

export const NotificationDeliverySchema = z
  .object({
    delivery_id: z.number().int(),
    event_id: z
      .string()
      .openapi({ description: "The approver webhook's webhook-id; the same on every retry" }),
    kind: z.enum(NOTIFICATION_KINDS),
    channel: z.enum([...CONTACT_CHANNELS, "slack", "push"]),
    contact_id: z.number().int().nullable(),
    recipient_id: z
      .string()
      .nullable()
      .openapi({ description: "The principal told; null for a tenant's own contact point" }),
    on_behalf_of: z
      .string()
      .nullable()
      .openapi({ description: "Set when the recipient was told as this principal's delegate" }),
    ...DELIVERY_STATE,
  })
  .openapi("NotificationDelivery");

export type NotificationDelivery = z.infer<typeof NotificationDeliverySchema>;

export type Delivery = z.infer<typeof DeliverySchema>;

/** A delivery and its attempts as the API and the console show them. */
export function deliveryToApi({ delivery, sequence, attempts }: DeliveryWithAttempts): Delivery {
  return {
    delivery_id: delivery.id,
    event_id: webhookEventId(delivery.requestId, sequence),
    sequence,
    event: delivery.event,
    ...deliveryState({ delivery, attempts }),
  };
}

/** Where a delivery stands, as DELIVERY_STATE says, with every attempt (oldest first). */
function deliveryState({ delivery, attempts }: Pick<DeliveryWithAttempts, "delivery" | "attempts">) {
  return {
    status: delivery.status,
    attempts: delivery.attempts,
    created_at: delivery.createdAt.toISOString(),
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
    last_error: delivery.lastError,
    attempt_log: attempts.map((attempt) => ({
      attempt: attempt.attempt,
      outcome: attempt.outcome,
      status_code: attempt.statusCode,
      error: attempt.error,
      response_excerpt: attempt.responseExcerpt,
      duration_ms: attempt.durationMs,
      at: attempt.createdAt.toISOString(),
    })),
  };
}

/** A notification delivery and its attempts as the API shows them (never the contact point's target). */
export function notificationDeliveryToApi({
  delivery,
  attempts,
}: DeliveryWithAttempts): NotificationDelivery {
  const channel = delivery.channel === "request_webhook" ? "webhook" : delivery.channel;
  return {
    delivery_id: delivery.id,
    event_id: notificationEventId(delivery.id),
    kind: delivery.notificationKind ?? "approval_needed",
    channel,
    contact_id: delivery.contactId,
    recipient_id: delivery.recipientId,
    on_behalf_of: delivery.onBehalfOf,
    ...deliveryState({ delivery, attempts }),
  };
}

export const RedeliveredSchema = z.object({ redelivered: z.array(z.number().int()) }).openapi("Redelivered");

export const SigningKeyQuery = z.object({
  tenant_id: Identifier.optional().openapi({
    description:
      "The tenant whose key to read: a tenant-scoped key may omit it (its own); others must name one",
  }),
});

export const TenantSigningKeysSchema = z
  .object({
    tenant_id: z.string(),
    keys: z.array(
      z.object({
        version: z
          .string()
          .openapi({ description: "What X-Webhook-Key-Version says for deliveries it signs" }),
        secret: z.string().openapi({
          description: "whsec_ + base64: verify with new Webhook(secret) (standardwebhooks)",
        }),
      }),
    ),
  })
  .openapi("TenantSigningKeys");

// The service defines the answer; the compiler holds the schema to it.
export const TENANT_KEYS_ARE_THE_WIRE: WireMatches<
  z.infer<typeof TenantSigningKeysSchema>,
  TenantSigningKeys
> = true;
