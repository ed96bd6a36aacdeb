// OpenAI Agents SDK adapter (`@openai/agents`): tools whose approval is decided by the Policy API and
// the people behind it, not by the app. A tool's `needsApproval` asks `evaluate` (allow: no approval;
// requires_approval: an interruption; deny or an unreachable API: the tool refuses). `resolve` takes a
// run's interruptions, files one approval request per call (idempotency key from the call id), waits,
// and approves or rejects each in the run state, then resumes the run. The tool then runs with the
// approved payload (an approver's edit included, the receipt checked), and only then: an approval the
// app gave itself (state.approve without this API) does not run it. A run state serialized and restored
// in another process is resolved the same way: its interruptions of this policy's tools are evaluated
// again and filed under the same idempotency key, so the request filed before the restart is found.
import {
  type FunctionTool,
  type RunResult,
  RunState,
  type RunToolApprovalItem,
  run,
  type ToolInputParameters,
  type ToolOptions,
  tool,
  type UnknownContext,
} from "@openai/agents";
import type { GuardOptions, PolicyCall, PolicyClient } from "../client.ts";
import { PolicyError } from "../errors.ts";
import { type PolicyRefusal, refusal } from "./refusal.ts";

export { isPolicyRefusal, type PolicyRefusal, refusal } from "./refusal.ts";

export interface AgentPolicyOptions {
  client: PolicyClient;
  tenantId: string;
  agentId?: string;
  policyType?: PolicyCall["policy_type"];
  /** Waiting, justification, receipts, onPending…: passed to the wait for each approval. */
  guard?: Omit<GuardOptions, "idempotencyKey" | "signal">;
  /** Told each refusal (the model sees only its `message`). */
  onRefused?: (callId: string, refusal: PolicyRefusal) => void;
}

/** Where one tool call stands with the API. */
type CallState =
  | { state: "allowed" }
  | { state: "approval_required"; action: PolicyCall }
  | { state: "approved"; payload: Record<string, unknown> }
  | { state: "refused"; refusal: PolicyRefusal };

const MAX_ROUNDS = 20;

/** Any agent `run` accepts (its own constraint, spelled without `any`). */
type AnyAgent = Parameters<typeof run>[0];
type Approve = (item: RunToolApprovalItem) => void;
type Reject = (item: RunToolApprovalItem, options: { message: string }) => void;

export class AgentPolicy {
  readonly #options: AgentPolicyOptions;
  readonly #calls = new Map<string, CallState>();
  /** The skill of each tool this policy made, by tool name (to decide a restored run's interruptions). */
  readonly #skills = new Map<string, string>();

  constructor(options: AgentPolicyOptions) {
    this.#options = options;
  }

  /**
   * An Agents SDK function tool guarded by the API as `skillId`: its `needsApproval` is the API's, and
   * its `execute` runs only when allowed or approved through the API (with the approved payload).
   */
  tool<TParameters extends ToolInputParameters = undefined, Context = UnknownContext, Result = string>(
    skillId: string,
    options: ToolOptions<TParameters, Context>,
  ): FunctionTool<Context, TParameters, Result | string> {
    // The options' own execute, called with what this API allows (the approved payload included).
    const execute = options.execute as (input: unknown, ...rest: unknown[]) => Result | Promise<Result>;
    const guarded = {
      ...options,
      needsApproval: async (_context: unknown, input: unknown, callId?: string) =>
        this.#needsApproval(skillId, input, callId),
      execute: async (input: unknown, context?: unknown, details?: { toolCall?: { callId?: string } }) => {
        const callId = details?.toolCall?.callId;
        const decided = callId === undefined ? undefined : this.#calls.get(callId);
        if (callId !== undefined) this.#calls.delete(callId);
        if (decided?.state === "allowed") return execute(input, context, details);
        if (decided?.state === "approved") {
          // An approver's edit must still fit the tool's parameters (checked where they are a zod-like
          // schema; a plain JSON schema is the model's contract only and is not re-checked here).
          const checked = parse(options.parameters, decided.payload);
          if (!checked.ok) {
            return this.#refuse(callId ?? "unknown", {
              allowed: false,
              message: "not allowed: approved_payload_invalid",
              reason_code: "approved_payload_invalid",
              kind: "denied",
              approval_request_id: null,
              quoted_reason: null,
            }).message;
          }
          return execute(checked.value, context, details);
        }
        if (decided?.state === "refused") return decided.refusal.message;
        // Approval required but not decided through this API (the app approved it itself), or a call
        // this object never evaluated: not run.
        const refused = this.#refuse(callId ?? "unknown", {
          allowed: false,
          message: "not allowed: approval_not_from_policy_api",
          reason_code: "approval_not_from_policy_api",
          kind: "denied",
          approval_request_id: null,
          quoted_reason: null,
        });
        return refused.message;
      },
    };
    const made = tool(guarded as unknown as ToolOptions<TParameters, Context>) as unknown as FunctionTool<
      Context,
      TParameters,
      Result | string
    >;
    this.#skills.set(made.name, skillId);
    return made;
  }

  /**
   * Decides every interruption of this policy's tools through the API (files, waits for people,
   * approves or rejects in the run state) and resumes the run, until it finishes or stops on an
   * interruption that is not this policy's (returned for the app to handle).
   */
  async resolve<TAgent extends AnyAgent, TContext = undefined>(
    agent: TAgent,
    from: RunResult<TContext, TAgent> | RunState<TContext, TAgent>,
  ): Promise<RunResult<TContext, TAgent>> {
    let current: RunResult<TContext, TAgent>;
    if (from instanceof RunState) {
      // A state restored with RunState.fromString (another process, after a restart): decide its
      // interruptions, then resume it.
      for (const item of from.getInterruptions()) {
        if (this.#pending(item) !== undefined) await this.#decide({ state: from }, item);
      }
      current = await run<TAgent, TContext>(agent, from);
    } else {
      current = from;
    }
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const mine = current.interruptions.filter((item) => this.#pending(item) !== undefined);
      if (mine.length === 0) return current;
      for (const item of mine) await this.#decide(current, item);
      current = await run<TAgent, TContext>(agent, current.state);
    }
    throw new Error(`AgentPolicy.resolve: still interrupted after ${MAX_ROUNDS} rounds`);
  }

  async #needsApproval(skillId: string, input: unknown, callId: string | undefined): Promise<boolean> {
    const known = callId === undefined ? undefined : this.#calls.get(callId);
    // Asked again when the run resumes: the decision already taken stands.
    if (known) return known.state === "approval_required";
    if (!isRecord(input)) {
      this.#set(callId, { state: "refused", refusal: this.#malformed(callId) });
      return false;
    }
    const action = this.#action(skillId, input);
    try {
      const evaluated = await this.#options.client.evaluate(action);
      if (evaluated.decision === "allow") {
        this.#set(callId, { state: "allowed" });
        return false;
      }
      if (evaluated.decision === "requires_approval") {
        this.#set(callId, { state: "approval_required", action });
        return true;
      }
      this.#set(callId, {
        state: "refused",
        refusal: this.#refuse(callId ?? "unknown", {
          allowed: false,
          message: "not allowed: policy_denied",
          reason_code: "policy_denied",
          kind: "denied",
          approval_request_id: null,
          quoted_reason: null,
        }),
      });
      return false;
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      // The API could not say: the tool refuses (no interruption a person could wave through).
      this.#set(callId, { state: "refused", refusal: this.#refuse(callId ?? "unknown", refusal(error)) });
      return false;
    }
  }

  /** Files the call's approval request, waits for people, and approves or rejects it in the state. */
  async #decide(result: { state: { approve: Approve; reject: Reject } }, item: RunToolApprovalItem) {
    const callId = callIdOf(item);
    const pending = this.#pending(item);
    if (callId === undefined || pending === undefined) return;
    try {
      // guard evaluates again, files with the call's idempotency key (a retry or a second resolve finds
      // the same request), waits, and checks the receipt; the payload it hands over is the approved one.
      const payload = await this.#options.client.guard(pending.action, (approved) => approved, {
        ...this.#options.guard,
        idempotencyKey: `openai-agents-${callId}`,
      });
      this.#calls.set(callId, { state: "approved", payload });
      result.state.approve(item);
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      const refused = this.#refuse(callId, refusal(error));
      this.#calls.set(callId, { state: "refused", refusal: refused });
      result.state.reject(item, { message: refused.message });
    }
  }

  #pending(item: RunToolApprovalItem): { action: PolicyCall } | undefined {
    const callId = callIdOf(item);
    if (callId === undefined) return undefined;
    const known = this.#calls.get(callId);
    if (known) return known.state === "approval_required" ? known : undefined;
    // A call this object did not evaluate (a restored state): one of its own tools is decided afresh,
    // from the call's own arguments; guard evaluates it again before filing.
    const raw = item.rawItem as { name?: unknown; arguments?: unknown };
    const skillId = typeof raw.name === "string" ? this.#skills.get(raw.name) : undefined;
    if (skillId === undefined || typeof raw.arguments !== "string") return undefined;
    let input: unknown;
    try {
      input = JSON.parse(raw.arguments);
    } catch {
      return undefined;
    }
    if (!isRecord(input)) return undefined;
    const pending = { state: "approval_required" as const, action: this.#action(skillId, input) };
    this.#calls.set(callId, pending);
    return pending;
  }

  #action(skillId: string, payload: Record<string, unknown>): PolicyCall {
    return {
      skill_id: skillId,
      tenant_id: this.#options.tenantId,
      agent_id: this.#options.agentId ?? null,
      ...(this.#options.policyType ? { policy_type: this.#options.policyType } : {}),
      payload,
    };
  }

  #set(callId: string | undefined, state: CallState): void {
    // Without a call id the decision cannot be tied to the call: execute finds nothing and refuses.
    if (callId !== undefined) this.#calls.set(callId, state);
  }

  #refuse(callId: string, refused: PolicyRefusal): PolicyRefusal {
    this.#options.onRefused?.(callId, refused);
    return refused;
  }

  #malformed(callId: string | undefined): PolicyRefusal {
    return this.#refuse(callId ?? "unknown", {
      allowed: false,
      message: "not allowed: payload_not_an_object",
      reason_code: "payload_not_an_object",
      kind: "denied",
      approval_request_id: null,
      quoted_reason: null,
    });
  }
}

function callIdOf(item: RunToolApprovalItem): string | undefined {
  const raw = item.rawItem as { callId?: unknown };
  return typeof raw.callId === "string" ? raw.callId : undefined;
}

/** The payload through the tool's schema when it can parse (zod and the like); else as it is. */
function parse(schema: unknown, value: unknown): { ok: true; value: unknown } | { ok: false } {
  const safeParse = (schema as { safeParse?: unknown } | null)?.safeParse;
  if (typeof safeParse !== "function") return { ok: true, value };
  const result = safeParse.call(schema, value) as { success: boolean; data?: unknown };
  return result.success ? { ok: true, value: result.data } : { ok: false };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
