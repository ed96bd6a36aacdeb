// The decision log's consumer (the policy-decisions queue and its dead-letter queue): eval hands each
// decision row to the queue after answering, and this writes a whole batch in one statement.
import type { DecisionInsert } from "../db/decisions.ts";
import { DECISION_LOG_RETRY, outageRetryDelaySeconds } from "../domain/queue-retries.ts";
import type { Bindings } from "../env.ts";
import { decisionFromMessage, writeDecisionBatch } from "../services/evaluation.ts";
import { jobContext } from "./context.ts";

/**
 * The whole batch in one statement. If the database refuses, every message is retried (the write is
 * idempotent), so nothing is lost; a malformed message is logged and dropped.
 */
export async function consumeDecisionLog(
  batch: MessageBatch,
  env: Bindings,
  ctx: ExecutionContext,
): Promise<void> {
  const { services, log, metrics } = jobContext(env, ctx, "decision_log");
  const started = Date.now();
  const valid: { message: Message; row: DecisionInsert }[] = [];
  let malformed = 0;
  for (const message of batch.messages) {
    const row = decisionFromMessage(message.body);
    if (row) valid.push({ message, row });
    else {
      // Would fail the same way every time: logged and dropped.
      malformed += 1;
      log.error("decision_log_message_malformed", { queue: batch.queue, message_id: message.id });
      message.ack();
    }
  }
  try {
    await writeDecisionBatch(
      services,
      valid.map(({ row }) => row),
    );
    for (const { message } of valid) message.ack();
    log.info("decision_log_batch", {
      queue: batch.queue,
      messages: batch.messages.length,
      written: valid.length,
      malformed,
      duration_ms: Date.now() - started,
    });
  } catch {
    // Logged and counted by writeDecisionBatch; the write is idempotent, so all of them go again.
    for (const { message } of valid)
      message.retry({ delaySeconds: outageRetryDelaySeconds(message.attempts, DECISION_LOG_RETRY) });
  } finally {
    metrics.flush(env.METRICS, log);
  }
}
