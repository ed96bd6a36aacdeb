// Filing and deciding approval requests through the API, for tests whose subject is something else
// (the console, the audit chain): one place for the body a request needs.
import { expect } from "vitest";
import { postJson } from "./http.ts";
import type { TestKey } from "./keys.ts";

/** Files a cost request for payments.transfer as `agent` (requested by its principal); returns its id. */
export async function fileRequest(agent: TestKey, overrides: Record<string, unknown> = {}): Promise<string> {
  const res = await postJson(
    "/api/v1/policy/requests",
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: "acme",
      payload: { amount: 120 },
      requested_by: agent.principalId,
      ...overrides,
    },
    agent.headers,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

/** Approves request `id` with `approver`'s key. */
export async function approveRequest(approver: TestKey, id: string, notes = "ok"): Promise<void> {
  const res = await postJson(`/api/v1/policy/requests/${id}/approve`, { notes }, approver.headers);
  expect(res.status, await res.clone().text()).toBe(200);
}
