// The approver console as a browser drives it, for worker tests: form posts from the console's own
// origin, signing in for a session cookie and the page's CSRF token, and calls on any origin (https,
// loopback) where the session cookie's name and scope depend on it.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import type { Bindings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { testEnv } from "./database.ts";
import { BASE_URL, call } from "./http.ts";
import type { TestKey } from "./keys.ts";

/** A form post from `origin` (the console's own by default), with the session cookie when given. */
export function form(fields: Record<string, string>, cookie?: string, origin = BASE_URL) {
  const headers: Record<string, string> = {
    "Content-Type": "application/x-www-form-urlencoded",
    Origin: origin,
  };
  if (cookie) headers.Cookie = cookie;
  return {
    method: "POST",
    headers,
    body: new URLSearchParams(fields).toString(),
    redirect: "manual" as const,
  };
}

/** The worker's fetch for a URL on any origin (call() always uses BASE_URL). */
export async function callAt(url: string, init: RequestInit = {}, envOverrides: Partial<Bindings> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(url, init), testEnv(envOverrides), ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** The `name=value` part of a Set-Cookie header: what the browser sends back. */
export function cookieOf(res: Response): string {
  return (res.headers.get("Set-Cookie") ?? "").split(";")[0] ?? "";
}

/** Signs in with `key` and returns the session cookie and the page's CSRF token. */
export async function signIn(key: TestKey): Promise<{ cookie: string; csrf: string }> {
  const res = await call("/console/login", form({ api_key: key.token }));
  expect(res.status).toBe(303);
  const setCookie = res.headers.get("Set-Cookie") ?? "";
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  const cookie = cookieOf(res);
  const inbox = await call("/console", { headers: { Cookie: cookie } });
  expect(inbox.status).toBe(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await inbox.text())?.[1] ?? "";
  expect(csrf).not.toBe("");
  return { cookie, csrf };
}
