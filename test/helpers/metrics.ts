// A recording stand-in for the Analytics Engine binding (a service we do not run locally), so tests
// can assert what the worker counted.
export function recordingDataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  return {
    points,
    writeDataPoint(point?: AnalyticsEngineDataPoint) {
      if (point) points.push(point);
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
