// An agent that guards one action with the TypeScript SDK (sdk/typescript/, docs/SDK.md): it asks the
// Policy API, files an approval request when one is needed, waits for the decision, and runs the action
// only if policy allows it or a person approved it (with the approved payload, after the receipt
// verifies); on anything else it stops.
//
//   npm run dev                                   # in another terminal: the API on http://127.0.0.1:8000
//   npx node examples/sdk-typescript.ts           # then approve or reject the request it prints
//
// The API is $POLICY_API_URL (default http://127.0.0.1:8000); the agent key is $POLICY_AGENT_KEY, else
// the one in .data/dev-keys.json (written by npm run dev). Set POLICY_WAIT_SECONDS to wait less than 600.
// Exit status: 0 acted, 2 stopped (denied, rejected, expired, cancelled, timed out), 1 error.
import { PolicyClient, PolicyError } from "../sdk/typescript/src/index.ts";
import { agentKey, baseUrl } from "./lib/local-api.ts";

const policy = new PolicyClient({ baseUrl, apiKey: agentKey() });

try {
  const receipt = await policy.guard(
    {
      skill_id: "payments.transfer",
      tenant_id: "demo",
      agent_id: "bot-1",
      payload: { amount_cents: 25000, to: "acme-supplies" },
    },
    // The action: it gets the approved payload (an approver may have lowered the amount).
    async (payload) => {
      console.log(`[sdk] act      transferring ${JSON.stringify(payload)} (simulated)`);
      return `transfer-${crypto.randomUUID()}`;
    },
    {
      justification: "Pay the supplier's open invoice before the due date",
      timeoutMs: Number(process.env.POLICY_WAIT_SECONDS ?? 600) * 1000,
      onPending: (request) =>
        console.log(
          `[sdk] waiting  for a human: approve or reject ${request.request_id} (console, or POST ${baseUrl}/api/v1/policy/requests/${request.request_id}/approve with an approver key)`,
        ),
    },
  );
  console.log(`[sdk] done     ${receipt}`);
} catch (error) {
  if (error instanceof PolicyError && error.kind !== "api" && error.kind !== "network") {
    // A person's reason is data: printed as a quoted field, never acted on.
    const reason = "reason" in error && typeof error.reason === "string" ? ` "${error.reason}"` : "";
    console.log(`[sdk] stop     not acting: ${error.kind} (${error.code})${reason}`);
    process.exitCode = 2;
  } else {
    console.log(`[sdk] error    ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
