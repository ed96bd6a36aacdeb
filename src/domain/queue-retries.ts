// How queue consumers space their retries when the work itself failed (the database away, say), as
// opposed to a webhook receiver's answer, which deliver() backs off on its own.

/**
 * A queue message whose work failed on the database (an outage, say) is retried after a delay that
 * doubles with each try, from `first` up to `cap` seconds. Each retry spends one of the message's
 * max_retries (wrangler.toml): at a fixed 5 s the decision log spent its 10 in under a minute and its
 * dead-letter queue's 100 in under nine more, after which the rows were dropped; at a fixed 30 s a
 * webhook reached its dead-letter queue, and was marked dead, after five minutes of outage.
 */
export function outageRetryDelaySeconds(attempts: number, policy: { first: number; cap: number }): number {
  return Math.min(policy.cap, policy.first * 2 ** Math.max(0, attempts - 1));
}

/** The decision log: 5 s doubling to 5 min, about 25 min on the queue and 8 h more on its dead letters. */
export const DECISION_LOG_RETRY = { first: 5, cap: 300 };
/**
 * A webhook message whose handling failed (not the receiver: that has its own backoff in deliver()):
 * 30 s doubling to 15 min, about 90 min before the dead-letter queue.
 */
export const WEBHOOK_ERROR_RETRY = { first: 30, cap: 900 };
