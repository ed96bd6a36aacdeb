// The one parser for every point in time the API takes: query parameters, body fields and the times
// inside its own cursors. One shape (ISO 8601 with a zone) and one range, so no value the API admits
// can be one Postgres refuses (year 0, or year 10000 once an offset is applied), which used to
// surface as a 500 from the database instead of a 400 naming the field.

/** The earliest instant admitted: the Unix epoch. Nothing the service stores is older. */
export const EARLIEST_TIMESTAMP_MS = Date.UTC(1970, 0, 1);
/** The latest instant admitted, in UTC after the offset: the last millisecond of year 9999. */
export const LATEST_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** What a refused time is told (the field is named by the caller). */
export const TIMESTAMP_RULE =
  "must be an ISO 8601 time with a zone (Z or ±hh:mm) from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, counted in UTC after the offset";

// Date and time with seconds, optional fraction, and a zone; the calendar check is Date's and the
// schema's (z.iso.datetime refuses 2023-02-29 as well).
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** The instant `text` names, or undefined when it is not an ISO 8601 time with a zone inside the range. */
export function parseTimestamp(text: string): Date | undefined {
  if (!ISO_TIMESTAMP.test(text)) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms) || ms < EARLIEST_TIMESTAMP_MS || ms > LATEST_TIMESTAMP_MS) return undefined;
  return new Date(ms);
}
