// /api/v1/admin/policies/bundle...: a scope's whole policy as one bundle (issue 29): export it,
// validate a bundle against the live set (diff and refusals), apply one in one transaction guarded by
// the scope's content hash. Thin: services/policy-bundles.ts does the work.
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  ApplyAnswer,
  ApplyBody,
  ExportAnswer,
  ExportQuery,
  ValidateAnswer,
  ValidateBody,
} from "../schemas/policy-bundle-api.ts";
import { bundleFromWire } from "../schemas/policy-bundles.ts";
import { applyBundle, exportBundle, validateBundle } from "../services/policy-bundles.ts";

const BASE = "/api/v1/admin/policies/bundle";
const tags = ["admin: policy bundles"];

const exportRoute = protectedRoute("policies:manage", {
  method: "get",
  path: BASE,
  tags,
  summary: "Export a scope's live policy as a bundle",
  request: { query: ExportQuery },
  responses: { 200: jsonResponse(ExportAnswer, "The bundle, its base_sha256 and the policy-set version") },
});

const validateRoute = protectedRoute("policies:manage", {
  method: "post",
  path: `${BASE}/validate`,
  tags,
  summary: "Validate a bundle: its problems (400), or its diff against the live policy and its refusals",
  request: { body: { required: true, content: { "application/json": { schema: ValidateBody } } } },
  responses: { 200: jsonResponse(ValidateAnswer, "The bundle is valid: what applying it would change") },
});

const applyRoute = protectedRoute(
  "policies:manage",
  {
    method: "post",
    path: `${BASE}/apply`,
    tags,
    summary: "Apply a bundle in one transaction, if the live scope still has the expected base",
    request: { body: { required: true, content: { "application/json": { schema: ApplyBody } } } },
    responses: {
      200: jsonResponse(ApplyAnswer, "Applied (a bundle equal to the live policy changes nothing)"),
    },
  },
  {
    403: "A change governs an approval level above the key's own (details: refusals)",
    409: "The live scope's base_sha256 is not expected_base_sha256 (details: the current one)",
  },
);

export const policyBundleRoutes = createRouter()
  .openapi(exportRoute, async (c) =>
    c.json(await exportBundle(c.var.services, c.req.valid("query").scope), 200),
  )
  .openapi(validateRoute, async (c) => {
    const { bundle } = c.req.valid("json");
    return c.json(await validateBundle(c.var.services, c.var.principal, bundleFromWire(bundle)), 200);
  })
  .openapi(applyRoute, async (c) => {
    const body = c.req.valid("json");
    const applied = await applyBundle(
      c.var.services,
      c.var.principal,
      bundleFromWire(body.bundle),
      body.expected_base_sha256,
    );
    return c.json(applied, 200);
  });
