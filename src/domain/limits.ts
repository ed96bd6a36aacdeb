// Input rules shared by every entry point (REST, cron, console, MCP): identifier shape and payload
// size. Schemas at the edge use these; services re-check what a schema cannot see.

/** Tenant, agent, skill, principal and requester ids. */
export const IDENTIFIER_PATTERN = /^[\w.@:/-]+$/;
export const IDENTIFIER_MAX_LENGTH = 200;
export const IDENTIFIER_RULE = "use letters, digits and . _ @ : / - only";

/** Largest `payload` accepted, serialized: a skill call's arguments, not a document store. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

export function payloadTooLarge(payload: unknown): boolean {
  return new TextEncoder().encode(JSON.stringify(payload)).length > MAX_PAYLOAD_BYTES;
}
