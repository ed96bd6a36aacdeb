// A recording stand-in for the Analytics Engine binding (a service we do not run locally), so tests
// can assert what the worker counted.
export function recordingDataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  const writtenAt: number[] = [];
  return {
    points,
    writeDataPoint(point?: AnalyticsEngineDataPoint) {
      if (!point) return;
      points.push(point);
      writtenAt.push(Date.now());
    },
    /**
     * Hands every point written so far to the Analytics Engine SQL stand-in (test/setup), as the
     * binding would hand them to Analytics Engine, under `dataset`; /metrics then reads them back.
     */
    async publish(receiverUrl: string, dataset: string): Promise<void> {
      const body = points.map((point, index) => ({
        timestamp: writtenAt[index],
        blobs: point.blobs?.map(String),
        doubles: point.doubles,
      }));
      const res = await fetch(`${receiverUrl}/_ae-write?dataset=${encodeURIComponent(dataset)}`, {
        method: "POST",
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`the Analytics Engine stand-in refused the points: ${res.status}`);
    },
    /**
     * Sum of double1 per "name{labels}" series. The traffic series every request and attempt writes
     * (request counts, latencies) are left out unless asked for, so tests assert what they caused.
     */
    totals(options: { traffic?: boolean } = {}): Record<string, number> {
      const totals: Record<string, number> = {};
      for (const point of points) {
        const name = String(point.blobs?.[0]);
        if (!options.traffic && (name.startsWith("nova_http_") || name.endsWith("_duration_seconds_total")))
          continue;
        const key = `${name}{${point.blobs?.[1]}}`;
        totals[key] = (totals[key] ?? 0) + Number(point.doubles?.[0] ?? 0);
      }
      return totals;
    },
  };
}
