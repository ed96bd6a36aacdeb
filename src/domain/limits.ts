// Input rules shared by every entry point (REST, cron, console, MCP): identifier shape, payload size,
// and the text and nesting every JSON input must keep to (no NUL, no lone surrogates, bounded depth).
// Schemas at the edge use these; services re-check what a schema cannot see.

// Identifiers have one spelling, so a rule and a call can only ever compare like with like (docs/API.md,
// "Identifiers"): the canonical form is Unicode NFKC, lower case, no surrounding white space, and then
// only a-z 0-9 . _ @ : / -. Every id (skill, tenant, agent, principal, requester, approver, usage) is
// FOLDED to it at every entry point (REST, MCP, console, CLI, the services any caller reaches), so
// `Shell.exec`, `Acme` and `BOT-1` written by an M5 client mean shell.exec, acme and bot-1; only a value
// that still fails the pattern once folded (spaces inside, look-alikes NFKC leaves alone, zero-width
// characters, too long) is refused. Every comparison after that is exact on canonical values.

/** Tenant, agent, skill, principal and requester ids, in their canonical form. */
export const IDENTIFIER_PATTERN = /^[a-z0-9_.@:/-]+$/;
export const IDENTIFIER_MAX_LENGTH = 200;
export const IDENTIFIER_RULE = "use letters, digits and . _ @ : / - only (folded to lower case)";

/**
 * An id pattern: an exact canonical id, a prefix ending in `*`, or `*` alone. A capability rule's skill
 * pattern and an agent key's agent patterns both take this shape.
 */
export const ID_PATTERN_PATTERN = /^([a-z0-9_.@:/-]+\*?|\*)$/;
export const SKILL_PATTERN_RULE = "an exact skill id, a prefix ending in * (e.g. email.*), or *";

/** An identifier taken in: its canonical value, or why it is refused. */
export type CanonicalId = { ok: true; value: string } | { ok: false; reason: string };

/**
 * The fold every id goes through: Unicode NFKC (full-width and other compatibility forms become ASCII),
 * lower case, surrounding white space removed. Idempotent on every value the patterns accept.
 * Look-alikes NFKC does not fold (Cyrillic letters, zero-width characters) stay as they are and fail
 * the pattern: refused, never matched loosely.
 */
export function canonicalIdentifier(raw: string): string {
  return raw.normalize("NFKC").toLowerCase().trim();
}

function checked(value: string, pattern: RegExp, rule: string): CanonicalId {
  if (value.length === 0) return { ok: false, reason: "must not be empty" };
  if (value.length > IDENTIFIER_MAX_LENGTH) {
    return { ok: false, reason: `must be at most ${IDENTIFIER_MAX_LENGTH} characters` };
  }
  return pattern.test(value) ? { ok: true, value } : { ok: false, reason: rule };
}

/** Any id as every entry point takes it: folded to the canonical form, then checked. */
export function canonicalId(raw: string): CanonicalId {
  return checked(canonicalIdentifier(raw), IDENTIFIER_PATTERN, IDENTIFIER_RULE);
}

/**
 * An id pattern (a capability rule's skill pattern, an agent key's agent pattern), folded the same way
 * as the ids it is matched against; `rule` says what the field takes.
 */
export function canonicalIdPattern(raw: string, rule = SKILL_PATTERN_RULE): CanonicalId {
  return checked(canonicalIdentifier(raw), ID_PATTERN_PATTERN, rule);
}

/** Largest `payload` accepted, serialized: a skill call's arguments, not a document store. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

export function payloadTooLarge(payload: unknown): boolean {
  return new TextEncoder().encode(JSON.stringify(payload)).length > MAX_PAYLOAD_BYTES;
}

/**
 * How deeply objects and arrays may nest in a JSON body, counted below the body itself: the body's own
 * braces are level 0, so `payload` is level 1 and may hold containers down to level 32. A skill call's
 * arguments are a few levels deep at most; the bound keeps every recursive step after parsing
 * (canonical JSON, JSON.stringify, Postgres's jsonb parser) far from any stack limit.
 */
export const MAX_JSON_DEPTH = 32;

/** One problem with a parsed JSON value: where (dotted, as validation errors give it) and what. */
export interface JsonInputProblem {
  path: string;
  message: string;
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one. No `u` flag:
// with it, the regex would see code points and never a lone half.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");

/** What is wrong with a string the database could not store as text (NUL) or as UTF-8 (lone surrogates). */
export function textProblem(text: string): string | undefined {
  if (text.includes("\u0000")) return "must not contain the NUL character (\\u0000)";
  if (LONE_SURROGATE.test(text)) {
    return "must not contain an unpaired UTF-16 surrogate (such as \\ud800); send valid Unicode";
  }
  return undefined;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

function pathOf(frame: Frame): string {
  const keys: string[] = [];
  for (let at: Frame | undefined = frame; at?.key !== undefined; at = at.parent) {
    keys.push(typeof at.key === "number" ? String(at.key) : printableKey(at.key));
  }
  return keys.reverse().join(".");
}

/** A key as a path segment: NUL and lone surrogates shown as their \u escapes, so the path is printable. */
function printableKey(key: string): string {
  return key
    .replaceAll("\u0000", "\\u0000")
    .replace(LONE_SURROGATES, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}

/**
 * The first string value or object key in `value` that the service cannot store (a NUL character or a
 * lone surrogate), or the first object or array nested deeper than `maxDepth` (the top value is level
 * 0), in document order; null when there is none. Iterative, with an explicit stack, so no input can
 * exhaust the call stack here. `path` is the dotted field path ("payload.items.3"; "" for the top value);
 * a bad key is named by its path with the offending characters written as \u escapes.
 */
export function jsonInputProblem(
  value: unknown,
  options: { maxDepth?: number } = {},
): JsonInputProblem | null {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    if (typeof frame.key === "string") {
      const problem = textProblem(frame.key);
      if (problem) return { path: pathOf(frame), message: `is a key that ${problem}` };
    }
    const current = frame.value;
    if (typeof current === "string") {
      const problem = textProblem(current);
      if (problem) return { path: pathOf(frame), message: problem };
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (frame.depth > maxDepth) {
      return { path: pathOf(frame), message: `nests objects and arrays more than ${maxDepth} levels deep` };
    }
    const entries: [string | number, unknown][] = Array.isArray(current)
      ? current.map((item, index) => [index, item])
      : Object.entries(current);
    // Pushed last to first, so the stack hands them out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i] as [string | number, unknown];
      stack.push({ value: item, depth: frame.depth + 1, parent: frame, key });
    }
  }
  return null;
}

/** Largest token count a payload may state (tokens, max_tokens, input_tokens, ...). */
export const MAX_TOKENS = 100_000_000;

/**
 * Simulated costs saturate here (2^31 - 1 cents, the cost columns' range): budgets and ceilings are
 * at most 1,000,000,000 cents, so a saturated cost is still over every one of them.
 */
export const MAX_COST_CENTS = 2_147_483_647;
