// Wire pieces every resource uses: identifiers (folded to their canonical form), approval levels and
// policy types, the request-id path parameter, ISO timestamps in queries, and list paging. One
// definition each, so a bound or a message cannot drift between the routes, MCP and the console.
import { z } from "@hono/zod-openapi";
import { REQUEST_ID_PATTERN } from "../domain/ids.ts";
import {
  canonicalIdentifier,
  ID_PATTERN_PATTERN,
  IDENTIFIER_MAX_LENGTH,
  IDENTIFIER_PATTERN,
  IDENTIFIER_RULE,
  SKILL_PATTERN_RULE,
} from "../domain/limits.ts";
import { parseTimestamp, TIMESTAMP_RULE } from "../domain/timestamps.ts";
import { LEVEL_NAMES, POLICY_TYPES } from "../domain/vocabulary.ts";

const FOLDED =
  "Folded to its canonical form (Unicode NFKC, lower case, no surrounding spaces), then a-z 0-9 . _ @ : / - only.";

/**
 * An id folded to its canonical form (domain/limits.ts), then held to `pattern`. The pattern is checked
 * by a refinement, not published as a JSON Schema `pattern`: the input may be written in any case, and
 * a published lower-case pattern would make validating clients refuse what the service accepts.
 */
function foldedId(pattern: RegExp, rule: string) {
  return z
    .string()
    .overwrite(canonicalIdentifier)
    .min(1)
    .max(IDENTIFIER_MAX_LENGTH)
    .refine((value) => pattern.test(value), rule);
}

/**
 * Tenant, agent, skill, principal, requester, approver and usage ids: `Acme` is acme, `Shell.exec` is
 * shell.exec; a 400 naming the field only when the folded value still breaks the rule.
 */
export const Identifier = foldedId(IDENTIFIER_PATTERN, IDENTIFIER_RULE).openapi({ description: FOLDED });

/** A capability rule's skill pattern, folded like the skill ids it matches. */
export const SkillPattern = foldedId(ID_PATTERN_PATTERN, SKILL_PATTERN_RULE).openapi({
  description: `${SKILL_PATTERN_RULE}. ${FOLDED}`,
});

export const LevelName = z.enum(LEVEL_NAMES);
export const PolicyType = z.enum(POLICY_TYPES);

/** An approval level as a caller may give it: 1–5, or its name (auto_approve … owner_override). */
export const LevelValue = z.union([z.number().int().min(1).max(5), LevelName]);

/** An approval request's id (domain/ids.ts holds the pattern). */
export const RequestId = z.string().regex(REQUEST_ID_PATTERN, "a request id is apr_ + 16 hex characters");

/** `{request_id}` in a path: every route under /api/v1/policy/requests/{request_id}. */
export const RequestIdParam = z.object({
  request_id: RequestId.openapi({ param: { name: "request_id", in: "path" } }),
});

/**
 * A point in time in a query or body: ISO 8601 with a zone (Z or an offset), inside the one range
 * domain/timestamps.ts admits (1970 to 9999 in UTC), so Postgres never sees a time it would refuse.
 */
export const IsoDateTime = z.iso
  .datetime({ offset: true, message: TIMESTAMP_RULE })
  .refine((text) => parseTimestamp(text) !== undefined, TIMESTAMP_RULE);

/** An optional IsoDateTime field as the services take it, read by the same parser that checked it. */
export function optionalDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = parseTimestamp(value);
  // Unreachable for a value IsoDateTime admitted; a caller that skipped it gets a loud error.
  if (!date) throw new Error("optionalDate: a time IsoDateTime did not check");
  return date;
}

/**
 * `limit` and `offset` of a list query (strings in the URL, hence coerced). Each list keeps its own
 * bounds: the runbook counts the request backlog with one big page, keys and decisions page smaller.
 */
export function pageQuery(bounds: { maxLimit: number; defaultLimit: number; maxOffset?: number }) {
  const offset = z.coerce.number().int().min(0);
  return {
    limit: z.coerce.number().int().min(1).max(bounds.maxLimit).default(bounds.defaultLimit),
    offset: (bounds.maxOffset === undefined ? offset : offset.max(bounds.maxOffset)).default(0),
  };
}

/**
 * Holds a wire schema and a type defined below zod (in domain/ or db/, which cannot import it) equal,
 * both ways: `WireMatches<z.infer<typeof Schema>, T>` compiles only when neither has a field, an
 * optionality or a value type the other lacks. One definition stays the truth; the compiler keeps the
 * other in step.
 */
export type WireMatches<Wire, Type> = [Wire] extends [Type]
  ? [Type] extends [Wire]
    ? true
    : { wire_lacks_or_narrows: Type }
  : { type_lacks_or_narrows: Wire };
