// The rate limiters (applied by lib/rate-limit.ts), per key and, for console sign-in, per client
// address, and how each is configured. Pure data, so Node-side checks can read it next to wrangler.toml.
import type { Role } from "./vocabulary.ts";

export type Limiter = Role | "key_management" | "console_sign_in_key" | "console_sign_in_address";

/**
 * Each limiter's binding and the period it is configured with in wrangler.toml (10 or 60 seconds;
 * test/node/rate-limit-config.test.ts checks the two agree). The binding does not report its window,
 * so Retry-After is the period: a fixed window of that length has reset by then.
 */
export const LIMITERS = {
  agent: { binding: "RATE_LIMIT_AGENT", period: 10 },
  approver: { binding: "RATE_LIMIT_APPROVER", period: 10 },
  admin: { binding: "RATE_LIMIT_ADMIN", period: 10 },
  key_management: { binding: "RATE_LIMIT_KEY_MANAGEMENT", period: 60 },
  // Console sign-in: counted per client address for every attempt, per key once its secret matched.
  console_sign_in_key: { binding: "RATE_LIMIT_CONSOLE_SIGN_IN_KEY", period: 60 },
  console_sign_in_address: { binding: "RATE_LIMIT_CONSOLE_SIGN_IN_ADDRESS", period: 60 },
} as const satisfies Record<Limiter, { binding: `RATE_LIMIT_${string}`; period: 10 | 60 }>;

/**
 * What a client address is counted as: an IPv4 address itself, an IPv6 address by its /64 (one
 * subscriber's network, whose addresses a client may rotate through at will).
 */
export function addressBucket(address: string): string {
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.toLowerCase().split("::", 2);
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  // An IPv4-mapped or -embedded address (::ffff:192.0.2.1) is counted as its IPv4 address.
  const last = right.at(-1) ?? left.at(-1) ?? "";
  if (last.includes(".")) return last;
  const missing = tail === undefined ? 0 : Math.max(0, 8 - left.length - right.length);
  const groups = [...left, ...Array<string>(missing).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
