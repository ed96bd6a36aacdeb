// Slack's request signature (issue 26): `X-Slack-Signature: v0=<hex HMAC-SHA256>` over
// `v0:{X-Slack-Request-Timestamp}:{raw body}` keyed with the workspace's signing secret. Pure Web Crypto.
// Timestamps more than five minutes off are refused in either direction: slack-edge refuses only old
// ones, and a future timestamp would let a captured request be replayed for longer than the window.
import { digestsEqual, toHex } from "./encoding.ts";

/** How far a request's timestamp may be from now, either way (Slack's own five minutes). */
export const SLACK_SIGNATURE_MAX_SKEW_SECONDS = 300;

const SIGNATURE_PATTERN = /^v0=[0-9a-f]{64}$/;
const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;

export type SlackSignatureRefusal = "missing" | "malformed" | "stale" | "mismatch";

export interface SlackSignedRequest {
  /** X-Slack-Signature, as sent. */
  signature: string | undefined;
  /** X-Slack-Request-Timestamp (Unix seconds), as sent. */
  timestamp: string | undefined;
  /** The body exactly as received: the signature covers its bytes, not a parse of them. */
  rawBody: string;
}

export async function slackSignature(
  signingSecret: string,
  timestamp: string,
  rawBody: string,
): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(signingSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestamp}:${rawBody}`));
  return `v0=${toHex(new Uint8Array(mac))}`;
}

/** Why a request is not Slack's, or null when its signature and timestamp hold. */
export async function slackSignatureRefusal(
  request: SlackSignedRequest,
  signingSecret: string,
  nowMs: number,
): Promise<SlackSignatureRefusal | null> {
  const { signature, timestamp } = request;
  if (signature === undefined || timestamp === undefined || signature === "" || timestamp === "") {
    return "missing";
  }
  if (!SIGNATURE_PATTERN.test(signature) || !TIMESTAMP_PATTERN.test(timestamp)) return "malformed";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_SIGNATURE_MAX_SKEW_SECONDS) return "stale";
  const expected = await slackSignature(signingSecret, timestamp, request.rawBody);
  return digestsEqual(expected, signature) ? null : "mismatch";
}
