// Web Push's cryptography (src/domain/web-push.ts) checked by independent implementations: a payload
// the worker's code encrypts is decrypted by `http_ece` (RFC 8188/8291) with the subscription's private
// key, and the VAPID token verifies with jose against the server's public key, for the endpoint's origin.
import { createECDH, randomBytes } from "node:crypto";
// @ts-expect-error http_ece ships no types; only decrypt is used, on Buffers.
import ece from "http_ece";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import {
  base64UrlDecode,
  base64UrlEncode,
  encryptPushPayload,
  pushKeysProblem,
  pushMessage,
  vapidAuthorization,
} from "../../src/domain/web-push.ts";

/** A browser's subscription: its ECDH key pair and auth secret. */
function browserSubscription() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    keys: { p256dh: base64UrlEncode(ecdh.getPublicKey()), auth: base64UrlEncode(auth) },
    auth,
  };
}

async function vapidKeys() {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const publicKey = base64UrlEncode(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  return { publicKey, privateKey: jwk.d ?? "", subject: "mailto:ops@example.com" };
}

describe("Web Push payload encryption (RFC 8291)", () => {
  it("is decrypted by http_ece with the subscription's private key and auth secret", async () => {
    const browser = browserSubscription();
    const message = pushMessage(
      { id: "apr_0123456789abcdef", skillId: "payments.transfer", requiredLevel: 3 },
      "https://policy.example.com/console/requests/apr_0123456789abcdef",
    );
    const body = await encryptPushPayload(new TextEncoder().encode(JSON.stringify(message)), browser.keys);
    const plain = ece.decrypt(Buffer.from(body), {
      version: "aes128gcm",
      privateKey: browser.ecdh,
      authSecret: browser.auth.toString("base64url"),
    }) as Buffer;
    expect(JSON.parse(plain.toString("utf8"))).toEqual(message);
  });

  it("uses a fresh key and salt per message, and another subscription cannot read it", async () => {
    const browser = browserSubscription();
    const payload = new TextEncoder().encode('{"request_id":"apr_0123456789abcdef"}');
    const first = await encryptPushPayload(payload, browser.keys);
    const second = await encryptPushPayload(payload, browser.keys);
    expect(Buffer.from(first.subarray(0, 16)).equals(Buffer.from(second.subarray(0, 16)))).toBe(false);
    const other = browserSubscription();
    expect(() =>
      ece.decrypt(Buffer.from(first), {
        version: "aes128gcm",
        privateKey: other.ecdh,
        authSecret: other.auth.toString("base64url"),
      }),
    ).toThrow();
  });

  it("refuses keys of the wrong shape", () => {
    const { keys } = browserSubscription();
    expect(pushKeysProblem(keys)).toBeUndefined();
    expect(pushKeysProblem({ ...keys, auth: base64UrlEncode(new Uint8Array(8)) })).toMatch(/16 bytes/);
    expect(pushKeysProblem({ ...keys, p256dh: base64UrlEncode(new Uint8Array(65)) })).toMatch(/P-256/);
    expect(pushKeysProblem({ ...keys, p256dh: "not base64!" })).toMatch(/base64url/);
  });

  it("cuts a long skill and carries no other text", () => {
    const message = pushMessage(
      { id: "apr_1", skillId: "s".repeat(300), requiredLevel: 2 },
      "https://x/console",
    );
    expect(message.skill).toHaveLength(80);
    expect(Object.keys(message).sort()).toEqual(["level", "request_id", "skill", "url"]);
  });
});

describe("VAPID (RFC 8292)", () => {
  it("signs an ES256 token for the endpoint's origin that verifies with the public key", async () => {
    const vapid = await vapidKeys();
    const now = Math.floor(Date.now() / 1000);
    const header = await vapidAuthorization("https://push.example.net:8443/send/abc?x=1", vapid, now);
    const match = /^vapid t=([^,]+), k=([A-Za-z0-9_-]+)$/.exec(header);
    expect(match).not.toBeNull();
    const [, token = "", k = ""] = match ?? [];
    expect(k).toBe(vapid.publicKey);
    expect(decodeProtectedHeader(token)).toEqual({ typ: "JWT", alg: "ES256" });
    const raw = base64UrlDecode(k);
    const publicKey = await importJWK(
      {
        kty: "EC",
        crv: "P-256",
        x: base64UrlEncode(raw.subarray(1, 33)),
        y: base64UrlEncode(raw.subarray(33, 65)),
      },
      "ES256",
    );
    const { payload } = await jwtVerify(token, publicKey, { audience: "https://push.example.net:8443" });
    expect(payload.sub).toBe("mailto:ops@example.com");
    expect(payload.exp).toBeGreaterThan(now);
    expect((payload.exp ?? 0) - now).toBeLessThanOrEqual(24 * 3600);
    // Another server's key does not verify it.
    const other = await vapidKeys();
    const otherRaw = base64UrlDecode(other.publicKey);
    const otherKey = await importJWK(
      {
        kty: "EC",
        crv: "P-256",
        x: base64UrlEncode(otherRaw.subarray(1, 33)),
        y: base64UrlEncode(otherRaw.subarray(33, 65)),
      },
      "ES256",
    );
    await expect(jwtVerify(token, otherKey)).rejects.toThrow();
  });
});
