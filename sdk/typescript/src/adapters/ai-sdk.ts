// Vercel AI SDK adapter (`ai`): wraps a tool so its `execute` runs through PolicyClient.guard. Allowed
// calls run; calls that require approval are filed and wait for people, then run with the approved
// payload (re-checked against the tool's input schema, since an approver may have edited it). Every
// other outcome (deny, reject, expiry, cancel, timeout, network failure, a bad receipt) never runs the
// tool: the model gets a typed refusal, "not allowed: <reason_code>", with a person's text only as data.
import { asSchema, type Tool, type ToolExecutionOptions } from "ai";
import type { GuardOptions, PolicyCall, PolicyClient } from "../client.ts";
import { PolicyError } from "../errors.ts";
import { type PolicyRefusal, refusal } from "./refusal.ts";

export { isPolicyRefusal, type PolicyRefusal, refusal } from "./refusal.ts";

export interface PolicyToolOptions {
  client: PolicyClient;
  /** The skill this tool is, as the policy names it (e.g. "payments.transfer"). */
  skillId: string;
  tenantId: string;
  agentId?: string;
  policyType?: PolicyCall["policy_type"];
  /** Waiting, justification, receipts, onPending…: passed to guard. Idempotency is per call. */
  guard?: Omit<GuardOptions, "idempotencyKey" | "signal">;
}

/**
 * The tool, with `execute` guarded by the Policy API: the tool's input is the payload. The output is
 * the tool's own, or a PolicyRefusal. Errors of the tool itself propagate as the AI SDK would see them.
 */
export function policyTool<INPUT extends Record<string, unknown>, OUTPUT, CONTEXT>(
  base: Tool<INPUT, OUTPUT, CONTEXT>,
  options: PolicyToolOptions,
): Tool<INPUT, OUTPUT | PolicyRefusal, CONTEXT> {
  const run = base.execute;
  // Nothing to guard: a tool without execute is run by the app, which must guard it itself.
  if (!run) throw new TypeError("policyTool: the tool has no execute to guard");
  const schema = asSchema(base.inputSchema);
  const execute = async (
    input: INPUT,
    execution: ToolExecutionOptions<CONTEXT>,
  ): Promise<OUTPUT | PolicyRefusal> => {
    let ran = false;
    try {
      return await options.client.guard(
        {
          skill_id: options.skillId,
          tenant_id: options.tenantId,
          agent_id: options.agentId ?? null,
          ...(options.policyType ? { policy_type: options.policyType } : {}),
          payload: input,
        },
        async (approved) => {
          // An approver's edit must still be an input this tool accepts; else it does not run.
          const checked = schema.validate
            ? await schema.validate(approved)
            : { success: true, value: approved };
          if (!checked.success)
            throw new PolicyError({
              kind: "denied",
              code: "approved_payload_invalid",
              message: "the approved payload does not fit the tool's input schema: not acting",
            });
          ran = true;
          const output = await run(checked.value as INPUT, execution);
          // A streaming tool: its final output is its last value, as the AI SDK takes it.
          return isAsyncIterable<OUTPUT>(output) ? lastOf(output) : output;
        },
        { ...options.guard, ...(execution.abortSignal ? { signal: execution.abortSignal } : {}) },
      );
    } catch (error) {
      // The tool's own failure is not a refusal; a policy failure before it ran is.
      if (ran || !(error instanceof PolicyError)) throw error;
      return refusal(error);
    }
  };
  return { ...base, execute } as Tool<INPUT, OUTPUT | PolicyRefusal, CONTEXT>;
}

function isAsyncIterable<T>(value: unknown): value is AsyncIterable<T> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

async function lastOf<T>(values: AsyncIterable<T>): Promise<T> {
  let last: { value: T } | undefined;
  for await (const value of values) last = { value };
  if (!last) throw new TypeError("policyTool: the tool streamed no output");
  return last.value;
}
