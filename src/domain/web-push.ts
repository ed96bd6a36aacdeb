// Web Push (issue 31), with WebCrypto alone so it runs in the worker and in Node: the message payload
// encrypted per RFC 8291 (aes128gcm content coding, RFC 8188) for one subscription, and the VAPID
// Authorization header (RFC 8292) proving to the push service that this server holds the key the
// browser subscribed with. Pure apart from randomness (a fresh key pair and salt per message).

const encoder = new TextEncoder();

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes base64url (or base64); throws on anything else. */
export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_+/-]*={0,2}$/.test(text)) throw new Error("not base64url");
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/").replace(/=+$/, "");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** A browser's subscription keys: its P-256 public key (65 bytes, uncompressed) and auth secret (16 bytes). */
export interface PushKeys {
  p256dh: string;
  auth: string;
}

/** Whether the keys have the shapes RFC 8291 requires (a problem to show, or undefined). */
export function pushKeysProblem(keys: PushKeys): string | undefined {
  try {
    const publicKey = base64UrlDecode(keys.p256dh);
    if (publicKey.length !== 65 || publicKey[0] !== 4)
      return "p256dh must be an uncompressed P-256 public key";
    if (base64UrlDecode(keys.auth).length !== 16) return "auth must be 16 bytes";
  } catch {
    return "p256dh and auth must be base64url";
  }
  return undefined;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number) {
  // Copies: WebCrypto wants ArrayBuffer-backed views, and TextEncoder's are typed more loosely.
  const key = await crypto.subtle.importKey("raw", Uint8Array.from(ikm), "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: Uint8Array.from(salt), info: Uint8Array.from(info) };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, bytes * 8));
}

/** ECDH's parameters; the Workers types spell the peer key `$public` (a reserved word), the runtime `public`. */
function ecdhWith(peer: CryptoKey): Parameters<typeof crypto.subtle.deriveBits>[0] {
  return { name: "ECDH", public: peer } as unknown as Parameters<typeof crypto.subtle.deriveBits>[0];
}

/** The record size stated in the header; one record holds the whole (small) message. */
const RECORD_SIZE = 4096;

/**
 * `payload` encrypted for the subscription (RFC 8291 §3.4): the aes128gcm body, header included
 * (salt, record size, this message's public key), ready to POST with Content-Encoding: aes128gcm.
 */
export async function encryptPushPayload(
  payload: Uint8Array,
  keys: PushKeys,
): Promise<Uint8Array<ArrayBuffer>> {
  const uaPublic = base64UrlDecode(keys.p256dh);
  const authSecret = base64UrlDecode(keys.auth);
  if (payload.length > RECORD_SIZE - 17 - 1) throw new Error("push payload too large");
  const ephemeral = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const asPublic = new Uint8Array((await crypto.subtle.exportKey("raw", ephemeral.publicKey)) as ArrayBuffer);
  const uaKey = await crypto.subtle.importKey(
    "raw",
    uaPublic,
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const ecdhSecret = new Uint8Array(
    await crypto.subtle.deriveBits(ecdhWith(uaKey), ephemeral.privateKey, 256),
  );
  const keyInfo = concat(encoder.encode("WebPush: info\0"), uaPublic, asPublic);
  const ikm = await hkdf(authSecret, ecdhSecret, keyInfo, 32);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const cek = await hkdf(salt, ikm, encoder.encode("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(salt, ikm, encoder.encode("Content-Encoding: nonce\0"), 12);
  const aesKey = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt"]);
  // The last (and only) record ends with the delimiter 0x02, no padding.
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, aesKey, concat(payload, new Uint8Array([2]))),
  );
  const header = new Uint8Array(16 + 4 + 1 + asPublic.length);
  header.set(salt, 0);
  new DataView(header.buffer).setUint32(16, RECORD_SIZE);
  header[20] = asPublic.length;
  header.set(asPublic, 21);
  return concat(header, ciphertext);
}

/** This server's VAPID key pair: the public key (base64url, 65 bytes) and the private scalar d (base64url, 32 bytes). */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** Who the push service may contact: mailto: or https: (RFC 8292 §2.1). */
  subject: string;
}

/** How long a VAPID token lives; push services refuse more than 24 hours. */
const VAPID_TTL_SECONDS = 12 * 60 * 60;

/** The Authorization header for a POST to `endpoint`: `vapid t=<ES256 JWT>, k=<public key>`. */
export async function vapidAuthorization(
  endpoint: string,
  vapid: VapidKeys,
  nowSeconds: number,
): Promise<string> {
  const publicKey = base64UrlDecode(vapid.publicKey);
  if (publicKey.length !== 65 || publicKey[0] !== 4)
    throw new Error("VAPID_PUBLIC_KEY is not a P-256 public key");
  const key = await crypto.subtle.importKey(
    "jwk",
    {
      kty: "EC",
      crv: "P-256",
      d: vapid.privateKey,
      x: base64UrlEncode(publicKey.subarray(1, 33)),
      y: base64UrlEncode(publicKey.subarray(33, 65)),
    },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const part = (value: object) => base64UrlEncode(encoder.encode(JSON.stringify(value)));
  const unsigned = `${part({ typ: "JWT", alg: "ES256" })}.${part({
    aud: new URL(endpoint).origin,
    exp: nowSeconds + VAPID_TTL_SECONDS,
    sub: vapid.subject,
  })}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    encoder.encode(unsigned),
  );
  return `vapid t=${unsigned}.${base64UrlEncode(new Uint8Array(signature))}, k=${vapid.publicKey}`;
}

/** What a push carries: identifiers and a number, never text people wrote (the service worker builds the words). */
export interface PushMessage {
  request_id: string;
  skill: string;
  level: number;
  url: string;
}

/** The longest skill sent; longer ones are cut (as the chat cards cut theirs). */
const MAX_SKILL_LENGTH = 80;

export function pushMessage(
  request: { id: string; skillId: string; requiredLevel: number },
  url: string,
): PushMessage {
  const skill =
    request.skillId.length > MAX_SKILL_LENGTH
      ? `${request.skillId.slice(0, MAX_SKILL_LENGTH - 1)}…`
      : request.skillId;
  return { request_id: request.id, skill, level: request.requiredLevel, url };
}
