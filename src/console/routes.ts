// The approver console at /console: server-rendered pages on the same services as the API, so the
// same roles, tenant scope, levels and self-approval rule apply, and every action is recorded with the
// signed-in key's identity.
//
// Sign-in exchanges a pasted API key for an opaque session cookie (HttpOnly, SameSite=Strict, Secure
// and __Host- prefixed outside http://localhost; the key never reaches a page script). Every POST must
// come from this origin (Origin / Sec-Fetch-Site) and, once signed in, carry the session's CSRF token.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { agentIdsFromText, can } from "../domain/access.ts";
import { type ActionEffect, actionEffect } from "../domain/approvals.ts";
import { CANDIDATE_ID_PATTERN, REQUEST_ID_PATTERN } from "../domain/ids.ts";
import { canonicalId, jsonInputProblem } from "../domain/limits.ts";
import { parseTimestamp } from "../domain/timestamps.ts";
import { CONTACT_CHANNELS } from "../domain/vocabulary.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../lib/errors.ts";
import { requirePrincipal } from "../lib/permissions.ts";
import { spendRateLimit, spendSignInLimit } from "../lib/rate-limit.ts";
import { hasBody } from "../middleware/request-shape.ts";
import { bundleFromWire, PolicyBundleSchema } from "../schemas/policy-bundles.ts";
import { deliveryToApi } from "../schemas/webhooks.ts";
import { decideRequest, getRequest } from "../services/approval-requests.ts";
import { approverInbox, decideMany, INBOX_SORTS } from "../services/approver-inbox.ts";
import { searchAudit } from "../services/audit.ts";
import {
  CONSOLE_SESSION_TTL_MS,
  checkSignIn,
  csrfTokenFor,
  openSession,
  resolveSession,
  signOut,
} from "../services/console-sessions.ts";
import { createContact, removeContact, searchContacts } from "../services/contacts.ts";
import { createDelegation, revokeDelegation, searchDelegations } from "../services/delegations.ts";
import { escalationStatus, setEscalationPaused } from "../services/escalation.ts";
import { createKey, revokeKey, searchKeys } from "../services/keys.ts";
import { validateBundle } from "../services/policy-bundles.ts";
import {
  candidateDisagreements,
  changeCandidateShadow,
  getCandidate,
  searchCandidates,
} from "../services/policy-candidates.ts";
import { PLAN_LIMITS, planBundle } from "../services/policy-plans.ts";
import {
  listOwnPushSubscriptions,
  removeOwnPushSubscription,
  subscribeToPush,
  vapidPublicKey,
} from "../services/push-subscriptions.ts";
import {
  connectSlackWorkspace,
  disconnectSlackWorkspace,
  getSlackWorkspace,
  linkSlackUser,
  listSlackLinks,
  listSlackWorkspaces,
  unlinkSlackUser,
} from "../services/slack/admin.ts";
import { issueSlackLinkCode, ownSlackLinks, unlinkOwnSlackUser } from "../services/slack/link-codes.ts";
import { checkViewLink, openViewLink, ViewLinkRefused } from "../services/view-links.ts";
import { requestDeliveries, setWebhooksPaused, webhookStatus } from "../services/webhooks/admin.ts";
import { type ContactsView, contactsPage } from "./contacts-view.ts";
import {
  type BulkLine,
  bulkResultPage,
  type InboxFilters,
  inboxHref,
  inboxPage,
  inboxRegion,
} from "./inbox-view.ts";
import { type CandidateView, candidatePage, policyListPage } from "./policy-view.ts";
import { type PushView, pushPage } from "./push-view.ts";
import {
  slackFormValues,
  slackLinkCommand,
  slackLinkFormValues,
  slackRefusalText,
  slackWorkspaceCommand,
} from "./slack-admin-form.ts";
import {
  type SlackAdminView,
  type SlackLinksShown,
  slackAdminPage,
  slackWorkspaceValues,
} from "./slack-admin-view.ts";
import { type SlackView, slackPage } from "./slack-view.ts";
import {
  type AdminView,
  adminPage,
  type DelegationsView,
  delegationsPage,
  loginPage,
  messagePage,
  type PageContext,
  requestPage,
  viewLinkPage,
} from "./views.ts";

/** The session cookie's name; `__Host-` + it wherever the cookie is Secure (sessionCookie). */
export const SESSION_COOKIE = "policy_console";

interface ConsoleVariables {
  sessionToken: string;
  page: PageContext;
}
type ConsoleEnv = { Bindings: AppEnv["Bindings"]; Variables: AppEnv["Variables"] & ConsoleVariables };
type ConsoleContext = Context<ConsoleEnv>;

/**
 * How this origin's session cookie is named and scoped. Wherever it is Secure (https, and every host but
 * loopback) it is `__Host-policy_console`: the browser then takes it only from this exact origin over
 * https, with Path=/ and no Domain, so a sibling subdomain or a plain-http answer cannot plant or shadow
 * it (cookie tossing); the unprefixed name is never read there. The API reads no cookies, so Path=/
 * gives it nothing. `npm run dev` serves http://127.0.0.1 and http://localhost, where a browser keeps
 * no Secure cookie: there it is the plain name, scoped to /console.
 */
function sessionCookie(c: Context) {
  const url = new URL(c.req.url);
  const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
  return url.protocol === "https:" || !loopback
    ? ({ prefix: "host", path: "/", secure: true } as const)
    : ({ prefix: undefined, path: "/console", secure: false } as const);
}

function readSessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE, sessionCookie(c).prefix);
}

/** A POST from another site (a forged form) never reaches an action, signed in or not. */
function isCrossSite(c: Context): boolean {
  // Browsers that send Sec-Fetch-Site say exactly where a request comes from; older ones send Origin.
  const site = c.req.header("Sec-Fetch-Site");
  if (site) return site !== "same-origin" && site !== "none";
  const origin = c.req.header("Origin");
  return origin !== undefined && origin !== new URL(c.req.url).origin;
}

/** A console page refusing what was asked (signed out, cross-site, not allowed, not found), with its status. */
function refusalPage(
  c: ConsoleContext,
  status: 400 | 401 | 403 | 404 | 409 | 410 | 429,
  title: string,
  text: string,
) {
  c.status(status);
  return c.html(messagePage(title, text, c.var.page ?? {}));
}

/** What the console's forms post: URL-encoded (its own forms), or multipart as browsers may. */
const FORM_MEDIA_TYPES: readonly string[] = ["application/x-www-form-urlencoded", "multipart/form-data"];

/**
 * The posted form as strings. A body in another media type is a 415 and one that does not parse as its
 * type (multipart that is not) a 400, both as pages; NUL, lone surrogates and the like are refused as
 * on the API.
 */
async function formOf(c: ConsoleContext): Promise<Record<string, string>> {
  const mediaType = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType === undefined ? hasBody(c) : !FORM_MEDIA_TYPES.includes(mediaType)) {
    throw new ApiError(
      "unsupported_media_type",
      "Post the console's forms as forms (application/x-www-form-urlencoded or multipart/form-data)",
    );
  }
  let body: Awaited<ReturnType<typeof c.req.parseBody>>;
  try {
    body = await c.req.parseBody();
  } catch {
    // The runtime's form parser throws on a body that is not what its Content-Type says.
    throw new ApiError("bad_request", "The form could not be read: its body does not match its Content-Type");
  }
  const form: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) if (typeof value === "string") form[name] = value;
  const problem = jsonInputProblem(form);
  if (problem) throw new ApiError("validation_failed", `${problem.path}: ${problem.message}`);
  return form;
}

/**
 * Where a sign-in may return to: a request's page, and nothing else (no open redirect: the path is
 * rebuilt from a checked id, never echoed).
 */
function returnPath(path: string | undefined): string | undefined {
  const id = /^\/console\/requests\/([^/?#]+)$/.exec(path ?? "")?.[1];
  return id && REQUEST_ID_PATTERN.test(id) ? `/console/requests/${id}` : undefined;
}

/** Signed-in pages: the session's principal (same key rules as the API), its rate limit, its CSRF token. */
const requireSession: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  const token = readSessionCookie(c) ?? "";
  const principal = token ? await resolveSession(c.var.services, token) : undefined;
  if (!principal) {
    if (c.req.method === "GET" && !c.req.path.endsWith("/inbox")) {
      const next = returnPath(c.req.path);
      return c.redirect(next ? `/console/login?next=${encodeURIComponent(next)}` : "/console/login", 303);
    }
    return refusalPage(c, 401, "Signed out", "Your session has ended: sign in again.");
  }
  c.set("principal", principal);
  c.set("sessionToken", token);
  c.set("page", { principal, csrf: await csrfTokenFor(token) });
  await spendRateLimit(c, principal.role, principal);
  if (c.req.method === "POST") {
    const form = await formOf(c);
    if (form._csrf !== c.var.page.csrf) {
      c.var.log.warn("console_csrf_refused", { key_id: principal.keyId, path: c.req.path });
      return refusalPage(
        c,
        403,
        "Refused",
        "This form is out of date or did not come from the console: reload and try again.",
      );
    }
  }
  await next();
};

const requireAdmin: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  if (!can(requirePrincipal(c), "keys:manage")) {
    return refusalPage(c, 403, "Admins only", "The admin pages need an admin key.");
  }
  await next();
};

/** The inbox's filters, search and sort from the query; an unknown sort or status is a 400 naming it. */
function inboxFilters(c: ConsoleContext): InboxFilters {
  const text = (name: string) => c.req.query(name)?.trim() || undefined;
  const status = text("status");
  if (status !== undefined && status !== "pending" && status !== "escalated") {
    throw new ApiError("validation_failed", "status: pending or escalated");
  }
  const sort = text("sort");
  const known = INBOX_SORTS.find((name) => name === sort);
  if (sort !== undefined && !known)
    throw new ApiError("validation_failed", `sort: one of ${INBOX_SORTS.join(", ")}`);
  return { tenant: text("tenant"), skill: text("skill"), status, sort: known, q: text("q") };
}

async function renderInboxRegion(c: ConsoleContext) {
  const filters = inboxFilters(c);
  const inbox = await approverInbox(c.var.services, requirePrincipal(c), {
    tenantId: filters.tenant,
    skillId: filters.skill,
    status: filters.status === "pending" || filters.status === "escalated" ? filters.status : undefined,
    sort: filters.sort,
    search: filters.q,
    after: c.req.query("after"),
    before: c.req.query("before"),
  });
  return { filters, region: inboxRegion(inbox, filters, new Date()) };
}

async function renderRequest(
  c: ConsoleContext,
  id: string,
  notice?: { kind: "error" | "notice"; text: string },
  status: 200 | 400 | 403 | 409 = 200,
) {
  const row = await getRequest(c.var.services, requirePrincipal(c), id);
  const deliveries = (await requestDeliveries(c.var.services, requirePrincipal(c), id)).map(deliveryToApi);
  c.status(status);
  return c.html(requestPage(c.var.page, row, deliveries, notice));
}

async function renderAdmin(c: ConsoleContext, extra: Partial<AdminView> = {}, status: 200 | 400 | 403 = 200) {
  const ctx = c.var.services;
  const auditFilter = {
    actor: c.req.query("actor")?.trim() || undefined,
    action: c.req.query("action")?.trim() || undefined,
    target: c.req.query("target")?.trim() || undefined,
  };
  const [escalation, deliveries, keys, audit] = await Promise.all([
    escalationStatus(ctx),
    webhookStatus(ctx),
    searchKeys(ctx, { includeRevoked: true }, { limit: 200, offset: 0 }),
    searchAudit(ctx, requirePrincipal(c), {
      actor: auditFilter.actor,
      actionPrefix: auditFilter.action,
      targetId: auditFilter.target,
    }),
  ]);
  c.status(status);
  return c.html(
    adminPage(c.var.page, {
      escalationPaused: escalation.paused,
      deliveriesPaused: deliveries.paused,
      keys,
      audit,
      auditFilter,
      ...extra,
    }),
  );
}

/** A refusal from a service, shown on the page it came from rather than as an error page. */
function asNotice(error: unknown): { kind: "error"; text: string } {
  if (error instanceof ApiError && error.status < 500) return { kind: "error", text: error.message };
  throw error;
}

export const consoleRoutes = new Hono<ConsoleEnv>();

// Pages carry their headers (CSP, X-Frame-Options, no-store) from src/middleware/security-headers.ts,
// which covers every HTML answer, error pages raised before these routes included. The stylesheet and
// script are static assets (public/console/assets/, headers in public/_headers), not routes here.

// Every POST, signed in or not: same origin only.
consoleRoutes.on("POST", ["/console", "/console/*"], async (c, next) => {
  if (isCrossSite(c)) {
    c.var.log.warn("console_cross_site_refused", { path: c.req.path, origin: c.req.header("Origin") });
    return refusalPage(c, 403, "Refused", "Cross-site form posts are refused.");
  }
  await next();
});

consoleRoutes.get("/console/login", async (c) => {
  const token = readSessionCookie(c);
  const next = returnPath(c.req.query("next"));
  if (token && (await resolveSession(c.var.services, token))) return c.redirect(next ?? "/console", 303);
  return c.html(
    loginPage(undefined, c.req.query("signed_out") !== undefined ? "You are signed out." : undefined, next),
  );
});

// Sign-in is limited per client address (every attempt, before the body is read; Cloudflare sets
// CF-Connecting-IP, and without it, under npm run dev, only the key's limit applies) and per key (once
// its secret matched); a key's live sessions are capped by openSession.
consoleRoutes.post("/console/login", async (c) => {
  const address = c.req.header("CF-Connecting-IP");
  if (address) await spendSignInLimit(c, { address });
  const form = await formOf(c);
  const checked = await checkSignIn(c.var.services, form.api_key ?? "");
  const next = returnPath(form.next);
  if ("refused" in checked) {
    c.status(401);
    return c.html(loginPage(checked.refused, undefined, next));
  }
  await spendSignInLimit(c, { principal: checked.principal });
  const session = await openSession(c.var.services, checked.principal);
  setCookie(c, SESSION_COOKIE, session.token, {
    ...sessionCookie(c),
    httpOnly: true,
    sameSite: "Strict",
    maxAge: Math.floor(CONSOLE_SESSION_TTL_MS / 1000),
  });
  return c.redirect(next ?? "/console", 303);
});

consoleRoutes.post("/console/logout", requireSession, async (c) => {
  await signOut(c.var.services, c.var.sessionToken);
  deleteCookie(c, SESSION_COOKIE, sessionCookie(c));
  return c.redirect("/console/login?signed_out", 303);
});

consoleRoutes.get("/console", requireSession, async (c) => {
  const { filters, region } = await renderInboxRegion(c);
  const query = new URL(c.req.url).searchParams;
  const cursor = query.get("after")
    ? { after: query.get("after") ?? "" }
    : query.get("before")
      ? { before: query.get("before") ?? "" }
      : undefined;
  return c.html(inboxPage(c.var.page, filters, region, inboxHref("/console/inbox", filters, cursor)));
});

// Bulk decisions: the selected requests (at most BULK_DECISION_MAX), one decision and one reason, each
// decided through decideRequest like a single decision, each with its own result.
consoleRoutes.post("/console/bulk", requireSession, async (c) => {
  const form = await formOf(c);
  const decision = form.decision;
  const notes = form.notes?.trim() || null;
  if (decision !== "approve" && decision !== "reject") {
    return refusalPage(c, 400, "Choose a decision", "Choose Approve selected or Reject selected.");
  }
  if (decision === "reject" && !notes) {
    return refusalPage(c, 400, "Give a reason", "Give a reason to reject the selected requests.");
  }
  // The body is parsed once (formOf); all: true reads every checked box's value from the same parse.
  const all = await c.req.parseBody({ all: true });
  const raw = all["ids[]"];
  const ids = (Array.isArray(raw) ? raw : [raw]).filter((id): id is string => typeof id === "string");
  try {
    const principal = requirePrincipal(c);
    const results = await decideMany(
      c.var.services,
      principal,
      ids,
      decision,
      { notes, via: "console" },
      () => spendRateLimit(c, principal.role, principal),
    );
    const what = decision === "approve" ? "approval" : "rejection";
    const lines: BulkLine[] = results.map((result) =>
      result.ok
        ? {
            id: result.id,
            ok: true,
            text: effectText(
              actionEffect({ ...result.row, approvals: result.row.approvalsJson }, principal.principalId),
              what,
            ),
          }
        : { id: result.id, ok: false, text: result.message },
    );
    return c.html(bulkResultPage(c.var.page, decision, lines));
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      return refusalPage(c, 400, "Nothing decided", error.message);
    }
    throw error;
  }
});

// The inbox's self-refreshing part (console.js polls it).
consoleRoutes.get("/console/inbox", requireSession, async (c) => c.html((await renderInboxRegion(c)).region));

const VIEW_LINK_REFUSALS = {
  invalid: [403, "This link is not valid: it was altered, is for another request, or no longer applies."],
  expired: [410, "This link has expired with its request."],
  used: [410, "This link has been used already: a notification link opens its request once."],
  other_principal: [
    403,
    "This link was sent to someone else: sign out, or open the request from your inbox.",
  ],
} as const;

/** Resolves an optional session for a view link's pages: they are reachable signed out. */
async function optionalSession(c: ConsoleContext) {
  const sessionToken = readSessionCookie(c) ?? "";
  const principal = sessionToken ? await resolveSession(c.var.services, sessionToken) : undefined;
  if (principal) {
    c.set("principal", principal);
    c.set("sessionToken", sessionToken);
    c.set("page", { principal, csrf: await csrfTokenFor(sessionToken) });
    await spendRateLimit(c, principal.role, principal);
  }
  return principal;
}

function viewLinkRefusal(c: ConsoleContext, error: unknown) {
  if (!(error instanceof ViewLinkRefused)) throw error;
  const [status, text] = VIEW_LINK_REFUSALS[error.reason];
  return refusalPage(c, status, "Link refused", text);
}

/**
 * A notification link (`?view=<token>`, services/view-links.ts). Mail scanners fetch every link in a
 * message before the person clicks, so a GET (or HEAD) only checks the link, spending nothing, and shows
 * a click-through: the request's id and a button posting the token to /view, which opens it. A refused
 * link shows a page that says why and nothing of the request.
 */
consoleRoutes.get("/console/requests/:id", async (c, next) => {
  const token = c.req.query("view");
  if (token === undefined) return next();
  const id = c.req.param("id");
  const principal = await optionalSession(c);
  if (!REQUEST_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such request.");
  try {
    await checkViewLink(c.var.services, id, token, principal);
    return c.html(viewLinkPage(id, token, c.var.page ?? {}));
  } catch (error) {
    return viewLinkRefusal(c, error);
  }
});

/**
 * The click-through: opens the link once. Like sign-in it needs no session (the same-origin check above
 * applies; the token is the credential: unguessable, bound to the request and its principal). Signed in
 * as the link's principal, the usual page (deciding as ever); signed in as anyone else, refused; signed
 * out, the page read-only with a sign-in that comes back to it.
 */
consoleRoutes.post("/console/requests/:id/view", async (c) => {
  const id = c.req.param("id");
  const principal = await optionalSession(c);
  if (!REQUEST_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such request.");
  const form = await formOf(c);
  try {
    const opened = await openViewLink(c.var.services, id, form.view ?? "", principal);
    if (principal) return await renderRequest(c, id);
    return c.html(requestPage({}, opened.row, [], undefined, { principalId: opened.principalId }));
  } catch (error) {
    return viewLinkRefusal(c, error);
  }
});

consoleRoutes.get("/console/requests/:id", requireSession, async (c) => {
  const id = c.req.param("id");
  if (!REQUEST_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such request.");
  try {
    return await renderRequest(c, id);
  } catch (error) {
    if (error instanceof ApiError && (error.code === "not_found" || error.code === "forbidden")) {
      return refusalPage(c, 404, "Not found", "No such request, or not one this key may see.");
    }
    throw error;
  }
});

consoleRoutes.post("/console/requests/:id/decide", requireSession, async (c) => {
  const id = c.req.param("id");
  if (!REQUEST_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such request.");
  const form = await formOf(c);
  const decision = form.decision;
  const notes = form.notes?.trim() || null;
  if (decision !== "approve" && decision !== "reject") {
    return renderRequest(c, id, { kind: "error", text: "Choose Approve or Reject." }, 400);
  }
  if (decision === "reject" && !notes) {
    return renderRequest(c, id, { kind: "error", text: "Give a reason to reject." }, 400);
  }
  const edited = decision === "approve" ? editedPayload(form.payload) : { payload: undefined };
  if ("error" in edited) return renderRequest(c, id, { kind: "error", text: edited.error }, 400);
  try {
    const principal = requirePrincipal(c);
    const row = await decideRequest(c.var.services, principal, id, decision, {
      notes,
      via: "console",
      payload: edited.payload,
      // What the approver saw guards an approve; a reject is safe whatever the payload became.
      expectedPayloadSha256: decision === "approve" ? form.expected_payload_sha256 || undefined : undefined,
    });
    const text = effectText(
      actionEffect({ ...row, approvals: row.approvalsJson }, principal.principalId),
      decision === "approve" ? "approval" : "rejection",
    );
    return renderRequest(c, id, { kind: "notice", text });
  } catch (error) {
    if (error instanceof ApiError && error.code === "conflict") {
      // A lost race: someone else decided first (or it expired). Show what happened instead.
      return renderRequest(c, id, { kind: "error", text: `Not recorded: ${error.message}.` }, 409);
    }
    if (error instanceof ApiError && (error.code === "forbidden" || error.code === "policy_denied")) {
      return renderRequest(c, id, asNotice(error), 403);
    }
    if (error instanceof ApiError && error.status === 400) return renderRequest(c, id, asNotice(error), 400);
    if (error instanceof ApiError && error.code === "payload_too_large") {
      return renderRequest(c, id, asNotice(error), 400);
    }
    throw error;
  }
});

/**
 * The "approve with changes" form's payload (issue 27): absent or blank is a plain approve; otherwise a
 * JSON object within the API's nesting and text rules (checked as the body's `payload` field would be).
 * The service applies the size and token limits and re-evaluates it.
 */
function editedPayload(
  raw: string | undefined,
): { payload: Record<string, unknown> | undefined } | { error: string } {
  if (raw === undefined || raw.trim() === "") return { payload: undefined };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { error: "Not approved: the changed payload is not valid JSON." };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: "Not approved: the changed payload must be a JSON object, as a filed payload is." };
  }
  const problem = jsonInputProblem({ payload: value });
  if (problem) return { error: `Not approved: ${problem.path} ${problem.message}.` };
  return { payload: value as Record<string, unknown> };
}

/** What the approver's action did, said plainly: a note below the level is not an approval. */
function effectText(effect: ActionEffect, what: "approval" | "rejection"): string {
  switch (effect.effect) {
    case "decided":
      return `Done: the request is ${effect.status}.`;
    case "counted":
      return `Your approval counts: ${effect.approvals} of ${effect.needed} approvals needed. The request is still ${effect.status}.`;
    case "noted":
      return `Not counted: your level (${effect.level}) is below the level this request needs (${effect.requiredLevel}), so your ${what} was kept as a note only. The request is still ${effect.status}.`;
  }
}

consoleRoutes.get("/console/admin", requireSession, requireAdmin, (c) => renderAdmin(c));

consoleRoutes.post("/console/admin/switches", requireSession, requireAdmin, async (c) => {
  const form = await formOf(c);
  const paused = form.paused === "true";
  const reason = form.reason?.trim() ?? "";
  if (!can(requirePrincipal(c), "emergency"))
    return refusalPage(c, 403, "Refused", "This key may not flip switches.");
  if (!reason) return renderAdmin(c, { notice: { kind: "error", text: "Give a reason." } }, 400);
  const set = form.job === "deliveries" ? setWebhooksPaused : setEscalationPaused;
  await set(c.var.services, requirePrincipal(c), paused, reason);
  return renderAdmin(c, {
    notice: {
      kind: "notice",
      text: `${form.job === "deliveries" ? "Deliveries" : "Escalation"} ${paused ? "paused" : "resumed"}.`,
    },
  });
});

consoleRoutes.post("/console/admin/keys", requireSession, requireAdmin, async (c) => {
  await spendRateLimit(c, "key_management", requirePrincipal(c));
  const form = await formOf(c);
  // The form's text as asked for: the keys service checks every field, as for the API and the CLI.
  try {
    const created = await createKey(c.var.services, requirePrincipal(c), {
      principalId: form.principal_id?.trim() ?? "",
      role: form.role ?? "",
      maxLevel: form.max_level?.trim() || undefined,
      tenantId: form.tenant_id?.trim() || null,
      agentIds: agentIdsFromText(form.agent_ids),
      name: form.name?.trim() || null,
    });
    return renderAdmin(c, { createdKey: { keyId: created.key_id, secret: created.api_key } });
  } catch (error) {
    return renderAdmin(c, { notice: asNotice(error) }, 400);
  }
});

consoleRoutes.post("/console/admin/keys/:id/revoke", requireSession, requireAdmin, async (c) => {
  await spendRateLimit(c, "key_management", requirePrincipal(c));
  try {
    await revokeKey(c.var.services, requirePrincipal(c), c.req.param("id"));
    return renderAdmin(c, { notice: { kind: "notice", text: `Key ${c.req.param("id")} revoked.` } });
  } catch (error) {
    return renderAdmin(c, { notice: asNotice(error) }, 400);
  }
});

async function renderContacts(c: ConsoleContext, extra: Partial<ContactsView> = {}, status: 200 | 400 = 200) {
  const contacts = await searchContacts(c.var.services, requirePrincipal(c), {}, { limit: 500, offset: 0 });
  c.status(status);
  return c.html(contactsPage(c.var.page, { contacts, ...extra }));
}

const requireDirectory: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  if (!can(requirePrincipal(c), "directory:manage")) {
    return refusalPage(c, 403, "Admins only", "The directory needs a key that manages it.");
  }
  await next();
};

consoleRoutes.get("/console/admin/contacts", requireSession, requireDirectory, (c) => renderContacts(c));

consoleRoutes.post("/console/admin/contacts", requireSession, requireDirectory, async (c) => {
  const form = await formOf(c);
  const channel = CONTACT_CHANNELS.find((known) => known === form.channel);
  if (!channel) return renderContacts(c, { notice: { kind: "error", text: "Choose a channel." } }, 400);
  const target = form.target?.trim() ?? "";
  // The form's text as asked for: the service checks every field, as for the API and the CLI.
  try {
    const created = await createContact(c.var.services, requirePrincipal(c), {
      principalId: form.principal_id?.trim() || null,
      tenantId: form.tenant_id?.trim() || null,
      channel,
      email: channel === "email" ? target : undefined,
      url: channel === "email" ? undefined : target,
      secret: form.secret?.trim() || undefined,
    });
    return renderContacts(c, {
      notice: { kind: "notice", text: `Contact point ${created.contact_id} added: ${created.address}` },
      createdSecret: created.secret ? { contactId: created.contact_id, secret: created.secret } : undefined,
    });
  } catch (error) {
    return renderContacts(c, { notice: asNotice(error) }, 400);
  }
});

consoleRoutes.post("/console/admin/contacts/:id/remove", requireSession, requireDirectory, async (c) => {
  const id = c.req.param("id");
  if (!/^[1-9][0-9]{0,14}$/.test(id)) {
    return renderContacts(c, { notice: { kind: "error", text: "No such contact point." } }, 400);
  }
  try {
    const removed = await removeContact(c.var.services, requirePrincipal(c), Number(id));
    return renderContacts(c, {
      notice: { kind: "notice", text: `Contact point ${removed.contact_id} removed.` },
    });
  } catch (error) {
    return renderContacts(c, { notice: asNotice(error) }, 400);
  }
});

/** Candidates listed on the policy page, and disagreements shown on a candidate's page. */
const POLICY_CANDIDATES_SHOWN = 100;
const DISAGREEMENTS_SHOWN = 20;

consoleRoutes.get("/console/admin/policy", requireSession, requireAdmin, async (c) => {
  const ctx = c.var.services;
  const rows = await searchCandidates(ctx, { limit: POLICY_CANDIDATES_SHOWN, offset: 0 });
  const candidates = await Promise.all(
    rows.map(async (row) => ({ row, shadow: await candidateDisagreements(ctx, row.id, 0) })),
  );
  return c.html(policyListPage(c.var.page, { candidates }));
});

/**
 * A candidate's page: its difference from the live policy through validateBundle (with the refusals this
 * key would meet applying it), its shadow disagreements, and what a form post added (a plan, a notice).
 * A stored bundle that no longer parses (written into the table by hand) shows no difference, never a 500.
 */
async function renderCandidate(
  c: ConsoleContext,
  id: string,
  extra: Partial<CandidateView> = {},
  status: 200 | 400 | 409 = 200,
) {
  if (!CANDIDATE_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such policy candidate.");
  const ctx = c.var.services;
  let row: Awaited<ReturnType<typeof getCandidate>>;
  try {
    row = await getCandidate(ctx, id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return refusalPage(c, 404, "Not found", "No such policy candidate.");
    }
    throw error;
  }
  const parsed = PolicyBundleSchema.safeParse(row.bundle);
  const [validation, shadow] = await Promise.all([
    parsed.success ? validateBundle(ctx, requirePrincipal(c), bundleFromWire(parsed.data)) : undefined,
    candidateDisagreements(ctx, id, DISAGREEMENTS_SHOWN),
  ]);
  c.status(status);
  return c.html(
    candidatePage(c.var.page, {
      row,
      diff: validation?.diff,
      refusals: validation?.refusals ?? [],
      shadow,
      ...extra,
    }),
  );
}

consoleRoutes.get("/console/admin/policy/candidates/:id", requireSession, requireAdmin, (c) =>
  renderCandidate(c, c.req.param("id")),
);

// The plan is the API's plan (planBundle) over the last 7 days with its default bounds.
consoleRoutes.post("/console/admin/policy/candidates/:id/plan", requireSession, requireAdmin, async (c) => {
  const id = c.req.param("id");
  if (!CANDIDATE_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such policy candidate.");
  const ctx = c.var.services;
  let bundle: ReturnType<typeof bundleFromWire> | undefined;
  try {
    const parsed = PolicyBundleSchema.safeParse((await getCandidate(ctx, id)).bundle);
    bundle = parsed.success ? bundleFromWire(parsed.data) : undefined;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return refusalPage(c, 404, "Not found", "No such policy candidate.");
    }
    throw error;
  }
  if (!bundle) {
    return renderCandidate(c, id, { notice: { kind: "error", text: "The stored bundle does not parse." } });
  }
  const until = new Date();
  const plan = await planBundle(ctx, {
    bundle,
    since: new Date(until.getTime() - PLAN_LIMITS.defaultWindowMs),
    until,
    sample: PLAN_LIMITS.sample.default,
    examplesPerGroup: 1,
    timeLimitMs: PLAN_LIMITS.timeLimitMs.default,
  });
  return renderCandidate(c, id, { plan });
});

// Another candidate shadowing the scope is the service's 409: shown on the page, the switch left as it was.
consoleRoutes.post("/console/admin/policy/candidates/:id/shadow", requireSession, requireAdmin, async (c) => {
  const id = c.req.param("id");
  if (!CANDIDATE_ID_PATTERN.test(id)) return refusalPage(c, 404, "Not found", "No such policy candidate.");
  const wanted = (await formOf(c)).shadow;
  if (wanted !== "on" && wanted !== "off") {
    return renderCandidate(c, id, { notice: { kind: "error", text: "Choose shadow on or off." } }, 400);
  }
  try {
    const row = await changeCandidateShadow(c.var.services, requirePrincipal(c), id, wanted === "on");
    return renderCandidate(c, id, {
      notice: { kind: "notice", text: `Shadow ${row.shadow ? "on" : "off"}.` },
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return refusalPage(c, 404, "Not found", "No such policy candidate.");
    }
    if (error instanceof ApiError && error.status === 409) {
      return renderCandidate(c, id, { notice: { kind: "error", text: error.message } }, 409);
    }
    throw error;
  }
});

/** Links shown a page at a time on the Slack admin page (Newer / Older page through the rest). */
const SLACK_LINKS_PAGE = 50;
/** The furthest page, as far as the API's own `offset` goes (SlackLinkListQuery). */
const SLACK_LINKS_MAX_OFFSET = 1_000_000;

/** Which workspace's links the page shows, and from which link on. */
interface SlackLinksWanted {
  tenant: string;
  offset: number;
}

/** A page of one workspace's links, through the API's service functions (so its tenant scope and 404s). */
async function slackLinksShown(c: ConsoleContext, wanted: SlackLinksWanted): Promise<SlackLinksShown> {
  const principal = requirePrincipal(c);
  const workspace = await getSlackWorkspace(c.var.services, principal, wanted.tenant);
  // One more than shown says whether there is an older page.
  const links = await listSlackLinks(
    c.var.services,
    principal,
    workspace.tenant_id,
    {},
    { limit: SLACK_LINKS_PAGE + 1, offset: wanted.offset },
  );
  return {
    tenantId: workspace.tenant_id,
    teamId: workspace.team_id,
    links: links.slice(0, SLACK_LINKS_PAGE),
    offset: wanted.offset,
    limit: SLACK_LINKS_PAGE,
    more: links.length > SLACK_LINKS_PAGE,
  };
}

/** The `?links_offset=` asked for: a whole number up to the API's bound, else a 400 naming it. */
function slackLinksOffset(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  const offset = /^[0-9]{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(offset <= SLACK_LINKS_MAX_OFFSET)) {
    throw new ApiError(
      "validation_failed",
      `links_offset: a whole number from 0 to ${SLACK_LINKS_MAX_OFFSET}`,
    );
  }
  return offset;
}

type SlackAdminStatus = 200 | 400 | 403 | 404 | 409 | 503;

/** A refusal's status on the Slack admin page: the API's 403, 404 and 409, else 400. */
function slackAdminStatus(error: ApiError): SlackAdminStatus {
  return error.status === 403 || error.status === 404 || error.status === 409 ? error.status : 400;
}

/**
 * The Slack admin page. The links shown are `linksFor`'s, else (nothing asked) those of the only
 * workspace listed or a scoped admin's own; a refusal reading them is the page's notice unless one is set.
 */
async function renderSlackAdmin(
  c: ConsoleContext,
  extra: Partial<SlackAdminView> = {},
  status: SlackAdminStatus = 200,
  linksFor?: SlackLinksWanted,
) {
  const principal = requirePrincipal(c);
  const workspaces = await listSlackWorkspaces(c.var.services, principal, {
    limit: 500,
    offset: 0,
  });
  const only = workspaces.length === 1 ? workspaces[0]?.tenant_id : undefined;
  const own = workspaces.find((workspace) => workspace.tenant_id === principal.tenantId)?.tenant_id;
  const defaultTenant = own ?? only;
  const wanted = linksFor ?? (defaultTenant === undefined ? undefined : { tenant: defaultTenant, offset: 0 });
  let view: SlackAdminView = { workspaces, ...extra };
  if (wanted) {
    try {
      view = { ...view, links: await slackLinksShown(c, wanted) };
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error;
      if (!view.notice) {
        view = { ...view, notice: { kind: "error", text: slackRefusalText(error) } };
        status = slackAdminStatus(error);
      }
    }
  }
  c.status(status);
  return c.html(slackAdminPage(c.var.page, view));
}

/**
 * A refusal from the Slack admin service on its page, with the API's status and the field it names.
 * Slack unreachable for the token check (503 upstream_unavailable) is said on the form too, so the
 * admin keeps what was typed and tries again; any other 5xx is the console's error page.
 */
function slackAdminRefusal(
  c: ConsoleContext,
  error: unknown,
  extra: Partial<SlackAdminView> = {},
  linksFor?: SlackLinksWanted,
) {
  if (!(error instanceof ApiError)) throw error;
  if (error.code === "upstream_unavailable") {
    return renderSlackAdmin(c, { notice: { kind: "error", text: error.message }, ...extra }, 503, linksFor);
  }
  if (error.status >= 500) throw error;
  return renderSlackAdmin(
    c,
    { notice: { kind: "error", text: slackRefusalText(error) }, ...extra },
    slackAdminStatus(error),
    linksFor,
  );
}

// The same permission as /api/v1/admin/slack (directory:manage), and the same service functions, so the
// rules, the audit rows, the 409s and a scoped key's confinement to its tenant are the API's.
consoleRoutes.get("/console/admin/slack", requireSession, requireDirectory, async (c) => {
  const edit = c.req.query("edit");
  const linksTenant = c.req.query("links");
  try {
    const linksFor =
      linksTenant === undefined
        ? undefined
        : { tenant: linksTenant, offset: slackLinksOffset(c.req.query("links_offset")) };
    // Replace: the form filled in with the workspace's settings (never its secrets).
    const values =
      edit === undefined
        ? undefined
        : slackWorkspaceValues(await getSlackWorkspace(c.var.services, requirePrincipal(c), edit));
    return await renderSlackAdmin(c, { values }, 200, linksFor);
  } catch (error) {
    return slackAdminRefusal(c, error);
  }
});

consoleRoutes.post("/console/admin/slack", requireSession, requireDirectory, async (c) => {
  const form = await formOf(c);
  const values = slackFormValues(form);
  try {
    const { workspace, created, tokenCheck } = await connectSlackWorkspace(
      c.var.services,
      requirePrincipal(c),
      form.tenant_id ?? "",
      slackWorkspaceCommand(form),
    );
    // Slack's word on a new token (auth.test): the workspace's name, text from Slack, escaped by html``.
    const checked = tokenCheck
      ? ` Slack confirmed the bot token: team ${tokenCheck.team_name ?? "(no name)"}, bot user ${tokenCheck.bot_user_id ?? "(unknown)"}.`
      : "";
    return await renderSlackAdmin(c, {
      notice: {
        kind: "notice",
        text: `Slack workspace ${workspace.team_id} ${created ? "connected to" : "replaced for"} tenant ${workspace.tenant_id}.${checked}`,
      },
    });
  } catch (error) {
    return slackAdminRefusal(c, error, { values });
  }
});

consoleRoutes.post("/console/admin/slack/disconnect", requireSession, requireDirectory, async (c) => {
  const form = await formOf(c);
  try {
    const gone = await disconnectSlackWorkspace(c.var.services, requirePrincipal(c), form.tenant_id ?? "");
    return await renderSlackAdmin(c, {
      notice: {
        kind: "notice",
        text: `Slack workspace ${gone.team_id} disconnected from tenant ${gone.tenant_id} (${gone.links_removed} links removed).`,
      },
    });
  } catch (error) {
    return slackAdminRefusal(c, error);
  }
});

// Links (admin mapping) through linkSlackUser / unlinkSlackUser, as POST and DELETE …/{tenant_id}/links:
// the tenant is the form's, so a scoped admin forging another is refused by the service (403).
consoleRoutes.post("/console/admin/slack/links", requireSession, requireDirectory, async (c) => {
  const form = await formOf(c);
  const tenant = form.tenant_id ?? "";
  try {
    const { link, created } = await linkSlackUser(
      c.var.services,
      requirePrincipal(c),
      tenant,
      slackLinkCommand(form),
    );
    const text = created
      ? `Slack user ${link.slack_user_id} linked to principal ${link.principal_id} in tenant ${link.tenant_id}.`
      : `Slack user ${link.slack_user_id} is already linked to principal ${link.principal_id} in tenant ${link.tenant_id}.`;
    return await renderSlackAdmin(c, { notice: { kind: "notice", text } }, 200, {
      tenant: link.tenant_id,
      offset: 0,
    });
  } catch (error) {
    return slackAdminRefusal(c, error, { linkValues: slackLinkFormValues(form) }, { tenant, offset: 0 });
  }
});

consoleRoutes.post("/console/admin/slack/unlink", requireSession, requireDirectory, async (c) => {
  const form = await formOf(c);
  const tenant = form.tenant_id ?? "";
  try {
    const gone = await unlinkSlackUser(c.var.services, requirePrincipal(c), tenant, form.slack_user_id ?? "");
    const text = `Slack user ${gone.slack_user_id} unlinked from principal ${gone.principal_id} in tenant ${gone.tenant_id}.`;
    return await renderSlackAdmin(c, { notice: { kind: "notice", text } }, 200, {
      tenant: gone.tenant_id,
      offset: 0,
    });
  } catch (error) {
    return slackAdminRefusal(c, error, {}, { tenant, offset: 0 });
  }
});

async function renderDelegations(
  c: ConsoleContext,
  notice?: DelegationsView["notice"],
  status: 200 | 400 | 403 | 404 | 409 = 200,
) {
  const delegations = await searchDelegations(c.var.services, requirePrincipal(c), { limit: 200, offset: 0 });
  c.status(status);
  return c.html(delegationsPage(c.var.page, { delegations, notice }));
}

/** A refusal from the delegations service as a notice on the page, with the API's status. */
function delegationRefusal(c: ConsoleContext, error: unknown) {
  const notice = asNotice(error);
  const status = error instanceof ApiError ? error.status : 400;
  return renderDelegations(c, notice, status === 403 || status === 404 || status === 409 ? status : 400);
}

/**
 * A time from the form: an ISO time with its offset, or the browser's datetime-local (no zone),
 * taken as UTC as the form says. Blank: undefined.
 */
function formTime(field: string, raw: string | undefined): Date | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text);
  const date = parseTimestamp(local ? `${text.length === 16 ? `${text}:00` : text}Z` : text);
  if (!date)
    throw new ApiError("validation_failed", `${field}: a date and time (UTC), e.g. 2026-12-24T18:00`);
  return date;
}

consoleRoutes.get("/console/delegations", requireSession, (c) => renderDelegations(c));

consoleRoutes.post("/console/delegations", requireSession, async (c) => {
  const form = await formOf(c);
  try {
    const endsAt = formTime("ends_at", form.ends_at);
    if (!endsAt) throw new ApiError("validation_failed", "ends_at: say until when");
    const created = await createDelegation(c.var.services, requirePrincipal(c), {
      delegateId: canonicalFormId("delegate_id", form.delegate_id),
      startsAt: formTime("starts_at", form.starts_at),
      endsAt,
      reason: form.reason?.trim() || null,
    });
    return renderDelegations(c, {
      kind: "notice",
      text: `${created.delegate_id} stands in for ${created.principal_id} until ${created.ends_at}.`,
    });
  } catch (error) {
    return delegationRefusal(c, error);
  }
});

consoleRoutes.post("/console/delegations/:id/revoke", requireSession, async (c) => {
  const id = c.req.param("id");
  if (!/^[1-9][0-9]{0,14}$/.test(id)) return refusalPage(c, 404, "Not found", "No such delegation.");
  try {
    await revokeDelegation(c.var.services, requirePrincipal(c), Number(id));
    return renderDelegations(c, { kind: "notice", text: `Delegation ${id} revoked.` });
  } catch (error) {
    return delegationRefusal(c, error);
  }
});

/**
 * The Slack page for a tenant (the scoped key's own, else `?tenant=` or the form's): the principal's own
 * links there when the tenant has a workspace. A refusal shows as a notice with the API's status.
 */
async function renderSlack(
  c: ConsoleContext,
  tenant: string,
  extra: Partial<SlackView> = {},
  status: 200 | 400 | 403 | 404 = 200,
) {
  const principal = requirePrincipal(c);
  let view: SlackView = { tenantId: principal.tenantId ?? tenant.trim(), links: [], ...extra };
  if (view.tenantId) {
    try {
      const own = await ownSlackLinks(c.var.services, principal, view.tenantId);
      view = { ...view, tenantId: own.tenantId, teamId: own.teamId, links: own.links };
    } catch (error) {
      // The first refusal is the one to show (the form's), else this one.
      if (!view.notice) {
        view = { ...view, notice: asNotice(error) };
        status = pageStatus(error);
      }
    }
  }
  c.status(status);
  return c.html(slackPage(c.var.page, view));
}

/** A service refusal's status as the Slack page answers it. */
function pageStatus(error: unknown): 400 | 403 | 404 {
  const status = error instanceof ApiError ? error.status : 400;
  return status === 403 || status === 404 ? status : 400;
}

/** Linking a Slack account lets it decide: only keys that decide may. */
const requireDeciding: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  if (!can(requirePrincipal(c), "requests:decide")) {
    return refusalPage(c, 403, "Refused", "Only a key that decides requests can link a Slack account.");
  }
  await next();
};

consoleRoutes.get("/console/slack", requireSession, requireDeciding, (c) =>
  renderSlack(c, c.req.query("tenant") ?? ""),
);

// The code is minted for the signed-in principal only, behind the session's CSRF token: another site
// cannot make a principal's browser mint one (and would never see it), so a link always proves both sides.
consoleRoutes.post("/console/slack/code", requireSession, requireDeciding, async (c) => {
  const form = await formOf(c);
  const tenant = form.tenant_id ?? "";
  try {
    const issued = await issueSlackLinkCode(c.var.services, requirePrincipal(c), tenant);
    return await renderSlack(c, issued.tenant_id, { issued });
  } catch (error) {
    return renderSlack(c, tenant, { notice: asNotice(error) }, pageStatus(error));
  }
});

consoleRoutes.post("/console/slack/unlink", requireSession, requireDeciding, async (c) => {
  const form = await formOf(c);
  const tenant = form.tenant_id ?? "";
  try {
    const gone = await unlinkOwnSlackUser(
      c.var.services,
      requirePrincipal(c),
      tenant,
      form.slack_user_id ?? "",
    );
    return await renderSlack(c, gone.tenant_id, {
      notice: { kind: "notice", text: `Slack user ${gone.slack_user_id} unlinked.` },
    });
  } catch (error) {
    return renderSlack(c, tenant, { notice: asNotice(error) }, pageStatus(error));
  }
});

/** An id typed into a form, folded like every id (domain/limits.ts); refused as the API refuses it. */
function canonicalFormId(field: string, raw: string | undefined): string {
  const id = canonicalId(raw ?? "");
  if (!id.ok) throw new ApiError("validation_failed", `${field}: ${id.reason}`);
  return id.value;
}

/** For the app's error handler: errors under /console are pages, not JSON envelopes. */
export function consoleErrorPage(c: Context<AppEnv>, error: ApiError) {
  c.status(error.status);
  if (error.headers["Retry-After"]) c.header("Retry-After", error.headers["Retry-After"]);
  const page = { principal: c.var.principal };
  return c.html(messagePage(error.status === 503 ? "Unavailable" : "Refused", error.message, page));
}

// Web Push (issue 31): the signed-in principal's own browsers only; the principal is the session's,
// never a form field, and the posts carry the session's CSRF token like every console form.
async function renderPush(
  c: ConsoleContext,
  extra: Partial<PushView> = {},
  status: 200 | 400 | 403 | 404 = 200,
) {
  const subscriptions = await listOwnPushSubscriptions(c.var.services, requirePrincipal(c));
  return c.html(
    pushPage(c.var.page, { publicKey: vapidPublicKey(c.var.services), subscriptions, ...extra }),
    status,
  );
}

/** Push notifications ask someone to decide: only keys that decide may take them. */
const requirePushing: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  if (!can(requirePrincipal(c), "requests:decide")) {
    return refusalPage(c, 403, "Refused", "Only a key that decides requests can take push notifications.");
  }
  await next();
};

consoleRoutes.get("/console/push", requireSession, requirePushing, (c) => renderPush(c));

consoleRoutes.post("/console/push/subscriptions", requireSession, requirePushing, async (c) => {
  const form = await formOf(c);
  try {
    await subscribeToPush(c.var.services, requirePrincipal(c), {
      endpoint: form.endpoint ?? "",
      p256dh: form.p256dh ?? "",
      auth: form.auth ?? "",
    });
    return c.redirect("/console/push", 303);
  } catch (error) {
    return renderPush(c, { notice: asNotice(error) }, pageStatus(error));
  }
});

consoleRoutes.post("/console/push/subscriptions/:id/remove", requireSession, requirePushing, async (c) => {
  try {
    await removeOwnPushSubscription(c.var.services, requirePrincipal(c), c.req.param("id"));
    return renderPush(c, { notice: { kind: "notice", text: "Push turned off on that device." } });
  } catch (error) {
    return renderPush(c, { notice: asNotice(error) }, pageStatus(error));
  }
});
