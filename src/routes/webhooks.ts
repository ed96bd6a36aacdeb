// Webhook deliveries: a request's deliveries and attempts (its webhook's; its notifications', admins
// only), redelivery of failed and dead ones (admin),
// the global pause switch (admin, audited), consistent with the escalation switch, and a tenant's
// signing keys for its receivers. Thin: services/webhooks/admin.ts does the work.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { RequestIdParam } from "../schemas/common.ts";
import { JobStatusSchema, ReasonBody } from "../schemas/operations.ts";
import {
  DeliverySchema,
  deliveryToApi,
  NotificationDeliverySchema,
  notificationDeliveryToApi,
  RedeliveredSchema,
  SigningKeyQuery,
  TenantSigningKeysSchema,
} from "../schemas/webhooks.ts";
import {
  redeliver,
  requestDeliveries,
  setWebhooksPaused,
  tenantWebhookKeys,
  webhookStatus,
} from "../services/webhooks/admin.ts";

const listRoute = protectedRoute(
  "requests:read",
  {
    method: "get",
    path: "/api/v1/policy/requests/{request_id}/webhooks",
    tags: ["webhooks"],
    summary: "A request's webhook deliveries, each with its attempts",
    request: { params: RequestIdParam },
    responses: { 200: jsonResponse(z.array(DeliverySchema), "Deliveries, oldest first") },
  },
  { 404: "No such request (or not in your tenant)" },
);

const redeliverRoute = protectedRoute(
  "emergency",
  {
    method: "post",
    path: "/api/v1/policy/requests/{request_id}/webhooks/redeliver",
    tags: ["webhooks"],
    summary: "Send a request's failed and dead deliveries again",
    request: { params: RequestIdParam },
    responses: {
      200: jsonResponse(RedeliveredSchema, "The deliveries queued again (none when nothing had failed)"),
    },
  },
  { 404: "No such request" },
);

const notificationsRoute = protectedRoute(
  "directory:manage",
  {
    method: "get",
    path: "/api/v1/policy/requests/{request_id}/notifications",
    tags: ["notifications"],
    summary: "Who was told about a request, how, and whether it arrived: its notification deliveries",
    description:
      "One delivery per contact point and notification (approval_needed, escalated, reminder, decided), with its attempts. Admins only (it names the principals told); contact point targets are never shown.",
    request: { params: RequestIdParam },
    responses: { 200: jsonResponse(z.array(NotificationDeliverySchema), "Deliveries, oldest first") },
  },
  { 404: "No such request (or not in your tenant)" },
);

const redeliverNotificationsRoute = protectedRoute(
  "emergency",
  {
    method: "post",
    path: "/api/v1/policy/requests/{request_id}/notifications/redeliver",
    tags: ["notifications"],
    summary: "Send a request's failed and dead notifications again",
    request: { params: RequestIdParam },
    responses: {
      200: jsonResponse(RedeliveredSchema, "The deliveries queued again (none when nothing had failed)"),
    },
  },
  { 404: "No such request" },
);

const signingKeyRoute = protectedRoute(
  "keys:manage",
  {
    method: "get",
    path: "/api/v1/admin/webhooks/signing-key",
    tags: ["webhooks"],
    summary: "A tenant's webhook signing keys (for requests filed without their own webhook_secret)",
    description:
      "Webhooks of requests filed without a webhook_secret are signed with their tenant's key, derived from the service key: one key per X-Webhook-Key-Version, current first, then keys in their grace period. Admins only, naming the tenant with tenant_id: an agent or approver key holding it could forge an approval event to any receiver of its tenant. The operator hands each receiver its tenant's key.",
    request: { query: SigningKeyQuery },
    responses: { 200: jsonResponse(TenantSigningKeysSchema, "The tenant's keys, current first") },
  },
  { 404: "No service signing key is configured" },
);

const statusRoute = protectedRoute("emergency", {
  method: "get",
  path: "/api/v1/admin/webhooks",
  tags: ["webhooks"],
  summary: "Whether webhook deliveries are paused",
  responses: { 200: jsonResponse(JobStatusSchema, "The switch") },
});

const switchRoute = (action: "pause" | "resume") =>
  protectedRoute("emergency", {
    method: "post",
    path: `/api/v1/admin/webhooks/${action}`,
    tags: ["webhooks"],
    summary:
      action === "pause"
        ? "Pause every webhook delivery (nothing is sent, nothing is lost; audited)"
        : "Resume webhook deliveries (the cron sends what waited; audited)",
    request: { body: { required: true, content: { "application/json": { schema: ReasonBody } } } },
    responses: { 200: jsonResponse(JobStatusSchema, "The switch as it stands") },
  });

export const webhookRoutes = createRouter()
  .openapi(listRoute, async (c) =>
    c.json(
      (await requestDeliveries(c.var.services, c.var.principal, c.req.valid("param").request_id)).map(
        deliveryToApi,
      ),
      200,
    ),
  )
  .openapi(redeliverRoute, async (c) =>
    c.json(await redeliver(c.var.services, c.var.principal, c.req.valid("param").request_id), 200),
  )
  .openapi(notificationsRoute, async (c) =>
    c.json(
      (
        await requestDeliveries(
          c.var.services,
          c.var.principal,
          c.req.valid("param").request_id,
          "notification",
        )
      ).map(notificationDeliveryToApi),
      200,
    ),
  )
  .openapi(redeliverNotificationsRoute, async (c) =>
    c.json(
      await redeliver(c.var.services, c.var.principal, c.req.valid("param").request_id, "notification"),
      200,
    ),
  )
  .openapi(signingKeyRoute, async (c) =>
    c.json(await tenantWebhookKeys(c.var.services, c.var.principal, c.req.valid("query").tenant_id), 200),
  )
  .openapi(statusRoute, async (c) => c.json(await webhookStatus(c.var.services), 200))
  .openapi(switchRoute("pause"), async (c) =>
    c.json(await setWebhooksPaused(c.var.services, c.var.principal, true, c.req.valid("json").reason), 200),
  )
  .openapi(switchRoute("resume"), async (c) =>
    c.json(await setWebhooksPaused(c.var.services, c.var.principal, false, c.req.valid("json").reason), 200),
  );
