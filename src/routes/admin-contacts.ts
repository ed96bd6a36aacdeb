// /api/v1/admin/contacts: the principal directory's contact points (admin only; a tenant-scoped admin
// key sees and manages its tenant's only). A URL is never returned, a webhook secret only by create.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  ContactIdParam,
  ContactListQuery,
  ContactSchema,
  CreateContactBody,
  CreatedContactSchema,
  toContactFilter,
  toNewContactCommand,
} from "../schemas/contacts.ts";
import { createContact, getContact, removeContact, searchContacts } from "../services/contacts.ts";

const createContactRoute = protectedRoute(
  "directory:manage",
  {
    method: "post",
    path: "/api/v1/admin/contacts",
    tags: ["admin: directory"],
    summary: "Add a contact point (email, Teams, Google Chat or approver webhook)",
    request: { body: { required: true, content: { "application/json": { schema: CreateContactBody } } } },
    responses: { 201: jsonResponse(CreatedContactSchema, "The new contact point") },
  },
  { 409: "The owner already has this channel and target" },
);

const listContactsRoute = protectedRoute("directory:manage", {
  method: "get",
  path: "/api/v1/admin/contacts",
  tags: ["admin: directory"],
  summary: "List contact points, newest first",
  request: { query: ContactListQuery },
  responses: { 200: jsonResponse(z.array(ContactSchema), "Contact points (never their URLs or secrets)") },
});

const getContactRoute = protectedRoute(
  "directory:manage",
  {
    method: "get",
    path: "/api/v1/admin/contacts/{contact_id}",
    tags: ["admin: directory"],
    summary: "Read one contact point",
    request: { params: ContactIdParam },
    responses: { 200: jsonResponse(ContactSchema, "The contact point") },
  },
  { 404: "No such contact point (or another tenant's)" },
);

const deleteContactRoute = protectedRoute(
  "directory:manage",
  {
    method: "delete",
    path: "/api/v1/admin/contacts/{contact_id}",
    tags: ["admin: directory"],
    summary: "Remove a contact point",
    request: { params: ContactIdParam },
    responses: { 200: jsonResponse(ContactSchema, "The removed contact point") },
  },
  { 404: "No such contact point (or another tenant's)" },
);

export const adminContactRoutes = createRouter()
  .openapi(createContactRoute, async (c) => {
    const created = await createContact(
      c.var.services,
      c.var.principal,
      toNewContactCommand(c.req.valid("json")),
    );
    return c.json(created, 201);
  })
  .openapi(listContactsRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(await searchContacts(c.var.services, c.var.principal, toContactFilter(query), query), 200);
  })
  .openapi(getContactRoute, async (c) =>
    c.json(await getContact(c.var.services, c.var.principal, c.req.valid("param").contact_id), 200),
  )
  .openapi(deleteContactRoute, async (c) =>
    c.json(await removeContact(c.var.services, c.var.principal, c.req.valid("param").contact_id), 200),
  );
