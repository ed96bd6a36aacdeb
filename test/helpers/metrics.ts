// A recording stand-in for the Analytics Engine binding (a service we do not run locally), so tests
// can assert what the worker counted.
export function recordingDataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  return {
    points,
    writeDataPoint(point?: AnalyticsEngineDataPoint) {
      if (point) points.push(point);
    },
    /** Sum of double1 per "name{labels}" series. */
    totals(): Record<string, number> {
      const totals: Record<string, number> = {};
      for (const point of points) {
        const key = `${point.blobs?.[0]}{${point.blobs?.[1]}}`;
        totals[key] = (totals[key] ?? 0) + Number(point.doubles?.[0] ?? 0);
      }
      return totals;
    },
  };
}
