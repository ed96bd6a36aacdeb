// What the edge asks of a request before choosing which checks apply to it: does it carry a body, and
// is it for the API (JSON, never cached), the approver console (HTML forms, its own headers) or Slack
// (signed forms, no key).
import type { Context } from "hono";

export function hasBody(c: Context): boolean {
  if (c.req.method === "GET" || c.req.method === "HEAD") return false;
  const length = c.req.header("Content-Length");
  return length !== undefined ? length !== "0" : c.req.raw.body !== null;
}

export function isConsolePath(path: string): boolean {
  return path === "/console" || path.startsWith("/console/");
}

/** Slack's posts to the integration (issue 26): signed form bodies, checked by src/routes/slack.ts. */
export function isSlackPath(path: string): boolean {
  return path.startsWith("/integrations/slack/");
}

export function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}
