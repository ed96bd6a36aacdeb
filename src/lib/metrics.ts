// Metric counters on Workers Analytics Engine. Analytics Engine takes at most 25 data points per
// invocation, so events are summed in memory during a request or job and written once at the end:
// one data point per metric and label set, never one per event.
//
// Data point layout (query with the Analytics Engine SQL API):
//   index1  = metric name, e.g. nova_policy_decisions_total
//   blob1   = metric name
//   blob2   = labels as "key=value" pairs joined by "," in key order ("" when none)
//   double1 = the count (multiply by _sample_interval when summing)
import type { Logger } from "./log.ts";

export const MAX_DATA_POINTS_PER_INVOCATION = 25;

export type Labels = Record<string, string>;

/** Where data points go: the Analytics Engine binding (structurally, so Node scripts can pass none). */
export interface MetricsSink {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

export function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(",");
}

export class MetricsBuffer {
  private readonly series = new Map<string, { name: string; labels: string; value: number }>();

  count(name: string, labels: Labels = {}, by = 1): void {
    const labelText = labelKey(labels);
    const key = `${name}{${labelText}}`;
    const entry = this.series.get(key);
    if (entry) entry.value += by;
    else this.series.set(key, { name, labels: labelText, value: by });
  }

  get size(): number {
    return this.series.size;
  }

  /** Writes one data point per series and empties the buffer. */
  flush(dataset: MetricsSink | undefined, log?: Logger): void {
    const entries = [...this.series.values()];
    this.series.clear();
    if (!dataset || entries.length === 0) return;
    if (entries.length > MAX_DATA_POINTS_PER_INVOCATION) {
      log?.error("metrics_dropped", {
        reason: "more series than Analytics Engine accepts per invocation",
        dropped: entries
          .slice(MAX_DATA_POINTS_PER_INVOCATION)
          .map((entry) => `${entry.name}{${entry.labels}}`),
      });
    }
    for (const entry of entries.slice(0, MAX_DATA_POINTS_PER_INVOCATION)) {
      dataset.writeDataPoint({
        indexes: [entry.name],
        blobs: [entry.name, entry.labels],
        doubles: [entry.value],
      });
    }
  }
}
