// /api/v1/admin/policies/candidates...: candidate policy bundles (issue 29) and shadow mode. Admin keys
// only (policies:manage). Thin: services/policy-candidates.ts stores, switches and audits them.
import { type RouteConfig, z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute, type RouteErrors } from "../middleware/require-permission.ts";
import { bundleFromWire } from "../schemas/policy-bundles.ts";
import {
  CandidateIdParam,
  CandidateListQuery,
  CandidateSchema,
  CreateCandidateBody,
  candidateToApi,
  DisagreementsQuery,
  DisagreementsSchema,
  disagreementsToApi,
  ShadowPatchBody,
} from "../schemas/policy-candidates.ts";
import {
  candidateDisagreements,
  changeCandidateShadow,
  createCandidate,
  getCandidate,
  removeCandidate,
  searchCandidates,
} from "../services/policy-candidates.ts";

const BASE = "/api/v1/admin/policies/candidates";
const ITEM = `${BASE}/{id}`;
const route = <const R extends RouteConfig>(config: R, errors: RouteErrors = {}) =>
  protectedRoute("policies:manage", { ...config, tags: ["admin: policy candidates"] }, errors);

const create = route({
  method: "post",
  path: BASE,
  summary: "Store a candidate policy bundle (not live; shadow off)",
  request: { body: { required: true, content: { "application/json": { schema: CreateCandidateBody } } } },
  responses: { 201: jsonResponse(CandidateSchema, "The stored candidate") },
});

const list = route({
  method: "get",
  path: BASE,
  summary: "List candidate policy bundles, newest first",
  request: { query: CandidateListQuery },
  responses: { 200: jsonResponse(z.array(CandidateSchema), "The candidates") },
});

const read = route(
  {
    method: "get",
    path: ITEM,
    summary: "Read one candidate policy bundle",
    request: { params: CandidateIdParam },
    responses: { 200: jsonResponse(CandidateSchema, "The candidate") },
  },
  { 404: "No such candidate" },
);

const patch = route(
  {
    method: "patch",
    path: ITEM,
    summary: "Turn a candidate's shadow mode on or off",
    request: {
      params: CandidateIdParam,
      body: { required: true, content: { "application/json": { schema: ShadowPatchBody } } },
    },
    responses: { 200: jsonResponse(CandidateSchema, "The candidate after the change") },
  },
  { 404: "No such candidate", 409: "Another candidate already shadows this scope (named in the details)" },
);

const remove = route(
  {
    method: "delete",
    path: ITEM,
    summary: "Delete a candidate (its shadow answers stay in the decision log)",
    request: { params: CandidateIdParam },
    responses: { 200: jsonResponse(CandidateSchema, "The deleted candidate") },
  },
  { 404: "No such candidate" },
);

const disagreements = route(
  {
    method: "get",
    path: `${ITEM}/disagreements`,
    summary: "How a candidate's shadow answers differed from the live ones",
    request: { params: CandidateIdParam, query: DisagreementsQuery },
    responses: { 200: jsonResponse(DisagreementsSchema, "Counts and the latest disagreeing decisions") },
  },
  { 404: "No such candidate" },
);

export const policyCandidateRoutes = createRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const row = await createCandidate(c.var.services, c.var.principal, {
      bundle: bundleFromWire(body.bundle),
      description: body.description ?? null,
    });
    return c.json(candidateToApi(row), 201);
  })
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    return c.json((await searchCandidates(c.var.services, query)).map(candidateToApi), 200);
  })
  .openapi(read, async (c) =>
    c.json(candidateToApi(await getCandidate(c.var.services, c.req.valid("param").id)), 200),
  )
  .openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    const row = await changeCandidateShadow(c.var.services, c.var.principal, id, c.req.valid("json").shadow);
    return c.json(candidateToApi(row), 200);
  })
  .openapi(remove, async (c) =>
    c.json(
      candidateToApi(await removeCandidate(c.var.services, c.var.principal, c.req.valid("param").id)),
      200,
    ),
  )
  .openapi(disagreements, async (c) => {
    const { id } = c.req.valid("param");
    const found = await candidateDisagreements(c.var.services, id, c.req.valid("query").limit);
    return c.json(disagreementsToApi(id, found), 200);
  });
