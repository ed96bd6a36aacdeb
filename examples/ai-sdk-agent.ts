// An AI SDK (`ai`) agent whose tool is guarded by the Policy API through the SDK's adapter
// (sdk/typescript/src/adapters/ai-sdk.ts, docs/SDK.md). The model is the AI SDK's own scripted mock
// (MockLanguageModelV3 from ai/test): no model calls, no network but the local API. It asks to pay a
// supplier; the tool runs only once a person approves (with the approved payload); on a refusal the
// model sees only "not allowed: <reason_code>".
//
//   npm run dev                                   # in another terminal: the API on http://127.0.0.1:8000
//   npx node examples/ai-sdk-agent.ts             # then approve or reject the request it prints
//
// The API is $POLICY_API_URL (default http://127.0.0.1:8000); the agent key is $POLICY_AGENT_KEY, else
// the one in .data/dev-keys.json (written by npm run dev). Set POLICY_WAIT_SECONDS to wait less than 600.
// Exit status: 0 the tool ran, 2 it was not allowed, 1 error.
import { generateText, jsonSchema, stepCountIs, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { isPolicyRefusal, policyTool } from "../sdk/typescript/src/adapters/ai-sdk.ts";
import { PolicyClient } from "../sdk/typescript/src/index.ts";
import { agentKey, baseUrl } from "./lib/local-api.ts";

const policy = new PolicyClient({ baseUrl, apiKey: agentKey() });

interface Transfer extends Record<string, unknown> {
  amount_cents: number;
  to: string;
}

// The AI SDK's own tool, as the app would write it without the Policy API.
const payTool = tool({
  description: "Pay a supplier",
  inputSchema: jsonSchema<Transfer>({
    type: "object",
    properties: { amount_cents: { type: "integer", minimum: 1 }, to: { type: "string" } },
    required: ["amount_cents", "to"],
    additionalProperties: false,
  }),
  execute: async (input: Transfer) => {
    console.log(`[ai-sdk] act      transferring ${JSON.stringify(input)} (simulated)`);
    return { transfer_id: `transfer-${crypto.randomUUID()}`, amount_cents: input.amount_cents };
  },
});

const agentId = "bot-1";
const guard = {
  justification: "Pay the supplier's open invoice before the due date",
  timeoutMs: Number(process.env.POLICY_WAIT_SECONDS ?? 600) * 1000,
  onPending: (request: { request_id: string }) =>
    console.log(
      `[ai-sdk] waiting  for a human: approve or reject ${request.request_id} (console, or POST ${baseUrl}/api/v1/policy/requests/${request.request_id}/approve with an approver key)`,
    ),
};

// The README shows these lines (test/node/sdk-typescript.test.ts checks that they are here).
const guarded = { client: policy, skillId: "payments.transfer", tenantId: "demo", agentId, guard };
const transfer = policyTool(payTool, guarded);

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 10, text: 10, reasoning: 0 },
};

// The scripted model: first it calls the tool; then it answers with what the tool result said.
const model = new MockLanguageModelV3({
  doGenerate: async ({ prompt }) => {
    const results = prompt.flatMap((m) => (m.role === "tool" ? m.content : []));
    const last = results.at(-1);
    if (last?.type !== "tool-result") {
      return {
        content: [
          {
            type: "tool-call",
            toolCallId: `call-${crypto.randomUUID()}`,
            toolName: "transfer",
            input: JSON.stringify({ amount_cents: 25000, to: "acme-supplies" }),
          },
        ],
        finishReason: { unified: "tool-calls", raw: undefined },
        usage,
        warnings: [],
      };
    }
    const seen = last.output.type === "json" ? last.output.value : null;
    const text = isPolicyRefusal(seen) ? `I did not pay: ${seen.message}.` : `Paid: ${JSON.stringify(seen)}.`;
    return {
      content: [{ type: "text", text }],
      finishReason: { unified: "stop", raw: undefined },
      usage,
      warnings: [],
    };
  },
});

try {
  const prompt = "Pay acme-supplies' open invoice of 250.00";
  const result = await generateText({ model, tools: { transfer }, prompt, stopWhen: stepCountIs(3) });
  console.log(`[ai-sdk] model    ${result.text}`);
  const outputs = result.steps.flatMap((step) => step.toolResults.map((r) => r.output));
  process.exitCode = outputs.some(isPolicyRefusal) ? 2 : 0;
} catch (error) {
  console.log(`[ai-sdk] error    ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
