// Calls the worker's real fetch handler (inside workerd) with this test file's bindings.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { Bindings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { testEnv } from "./database.ts";

export const BASE_URL = "http://policy.test";

export async function call(path: string, init: RequestInit = {}, envOverrides: Partial<Bindings> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE_URL}${path}`, init), testEnv(envOverrides), ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  envOverrides: Partial<Bindings> = {},
) {
  return call(
    path,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    },
    envOverrides,
  );
}

/** The one error envelope, typed for assertions. */
export interface ErrorEnvelope {
  error: { code: string; message: string; request_id: string; details?: unknown };
}
