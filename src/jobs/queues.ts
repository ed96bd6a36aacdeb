// The queues this worker consumes, as wrangler.toml's [[queues.consumers]] name them (a node test
// checks the two agree). src/index.ts dispatches on these names; a batch from any other queue is
// refused there, never guessed at.
export const QUEUES = {
  /** Webhook deliveries, one message per delivery (jobs/webhook-consumer.ts). */
  webhooks: "policy-webhooks",
  /** Deliveries that exhausted their retries: marked dead. */
  webhookDeadLetters: "policy-webhooks-dlq",
  /** Decision-log rows, written a batch per statement (jobs/decision-log-consumer.ts). */
  decisionLog: "policy-decisions",
  /** Decision-log batches that kept failing: the same consumer keeps trying. */
  decisionLogDeadLetters: "policy-decisions-dlq",
} as const;
