// An OpenAI Agents SDK (`@openai/agents`) agent whose tool approval is decided by the Policy API through
// the SDK's adapter (sdk/typescript/src/adapters/openai-agents.ts, docs/SDK.md). The model is a scripted
// `Model` (no model calls; tracing off: no network but the local API). It asks to pay a supplier; the
// tool's needsApproval asks the API, the run stops on the interruption, and AgentPolicy.resolve files
// the approval request, waits for a person, approves or rejects the call in the run state, and resumes.
//
//   npm run dev                                   # in another terminal: the API on http://127.0.0.1:8000
//   npx node examples/openai-agents-agent.ts      # then approve or reject the request it prints
//
// The API is $POLICY_API_URL (default http://127.0.0.1:8000); the agent key is $POLICY_AGENT_KEY, else
// the one in .data/dev-keys.json (written by npm run dev). Set POLICY_WAIT_SECONDS to wait less than 600.
// Exit status: 0 the tool ran, 2 it was not allowed, 1 error.
import {
  Agent,
  type Model,
  type ModelRequest,
  type ModelResponse,
  run,
  setTracingDisabled,
  Usage,
} from "@openai/agents";
import { z } from "zod";
import { AgentPolicy, type PolicyRefusal } from "../sdk/typescript/src/adapters/openai-agents.ts";
import { PolicyClient } from "../sdk/typescript/src/index.ts";
import { agentKey, baseUrl } from "./lib/local-api.ts";

setTracingDisabled(true);
let refused = false;
const policy = new PolicyClient({ baseUrl, apiKey: agentKey() });
const guard = {
  justification: "Pay the supplier's open invoice before the due date",
  timeoutMs: Number(process.env.POLICY_WAIT_SECONDS ?? 600) * 1000,
  onPending: (request: { request_id: string }) =>
    console.log(
      `[agents] waiting  for a human: approve or reject ${request.request_id} (console, or POST ${baseUrl}/api/v1/policy/requests/${request.request_id}/approve with an approver key)`,
    ),
};
const onRefused = (_callId: string, refusal: PolicyRefusal) => {
  refused = true;
  console.log(`[agents] refused  ${refusal.message}`);
};

// The Agents SDK's tool options, as the app would write them without the Policy API.
const description = "Pay a supplier";
const parameters = z.object({ amount_cents: z.number().int().min(1), to: z.string() });
const execute = async (input: z.infer<typeof parameters>) => {
  console.log(`[agents] act      transferring ${JSON.stringify(input)} (simulated)`);
  return JSON.stringify({ transfer_id: `transfer-${crypto.randomUUID()}`, amount_cents: input.amount_cents });
};

// The README shows these lines (test/node/sdk-typescript.test.ts checks that they are here).
const payments = new AgentPolicy({ client: policy, tenantId: "demo", agentId: "bot-1", guard, onRefused });
const transfer = payments.tool("payments.transfer", { name: "transfer", description, parameters, execute });

/** The scripted model: first it calls the tool; then it answers with what the tool result said. */
class ScriptedModel implements Model {
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const items = typeof request.input === "string" ? [] : request.input;
    const result = items.findLast((item) => item.type === "function_call_result");
    if (!result) {
      return {
        usage: new Usage(),
        output: [
          {
            type: "function_call",
            callId: `call_${crypto.randomUUID()}`,
            name: "transfer",
            status: "completed",
            arguments: JSON.stringify({ amount_cents: 25000, to: "acme-supplies" }),
          },
        ],
      };
    }
    const said = toolOutputText(result.output);
    return {
      usage: new Usage(),
      output: [
        {
          type: "message",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: `The tool said: ${said}` }],
        },
      ],
    };
  }

  // biome-ignore lint/correctness/useYield: the run here never streams
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("the scripted model does not stream");
  }
}

const agent = new Agent({
  name: "payments",
  instructions: "Pay suppliers' open invoices.",
  model: new ScriptedModel(),
  tools: [transfer],
});

try {
  const input = "Pay acme-supplies' open invoice of 250.00";
  const result = await payments.resolve(agent, await run(agent, input));
  console.log(`[agents] model    ${result.finalOutput}`);
  process.exitCode = refused ? 2 : 0;
} catch (error) {
  console.log(`[agents] error    ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

/** A function call result's text: the tool's string, or the text item the Agents SDK wraps it in. */
function toolOutputText(output: unknown): string {
  if (typeof output === "string") return output;
  const text = (output as { type?: unknown; text?: unknown } | null)?.text;
  return typeof text === "string" ? text : JSON.stringify(output);
}
