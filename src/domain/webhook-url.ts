// Where webhooks may be sent: https to public hosts only, unless a development setting
// (ALLOW_INSECURE_WEBHOOKS) allows plain http and private hosts.
//
// One rule for addresses, addressIsPublic, used twice:
// - On filing, webhookUrlProblem checks the URL's text. An IP literal (in any spelling the URL parser
//   accepts: it turns http://2130706433/, 0x7f.1 and [::ffff:127.0.0.1] into canonical addresses first)
//   must be public. A name must not be one that only means something on a local network (single
//   labels such as "metadata", localhost, .local, .internal, …) or belong to a wildcard-DNS service
//   that maps names to the addresses written in them (127.0.0.1.nip.io).
// - A public-looking name can still resolve to a private address, or change what it resolves to after
//   filing (DNS rebinding). So delivery (the webhook delivery issue, not built yet) MUST resolve the
//   name itself and refuse unless addressIsPublic(resolved address), on every attempt, and must not
//   follow redirects. The filing check is the early, friendly refusal; the delivery check is the guard.
export const MAX_WEBHOOK_URL_LENGTH = 2048;

const PRIVATE_HOST = "must not point at a private or local address";

/** A CIDR block: address text, prefix length, and why it is refused (for readers of this table). */
type Block = readonly [address: string, bits: number, why: string];

// IANA IPv4 Special-Purpose Address Registry, plus multicast. None of it receives webhooks: the few
// entries IANA marks globally reachable (AS112, AMT, 6to4 relays) are routing infrastructure.
const IPV4_REFUSED: readonly Block[] = [
  ["0.0.0.0", 8, "this network"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared address space (carrier-grade NAT)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local, cloud metadata (169.254.169.254)"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.0.2.0", 24, "documentation (TEST-NET-1)"],
  ["192.31.196.0", 24, "AS112"],
  ["192.52.193.0", 24, "AMT"],
  ["192.88.99.0", 24, "deprecated 6to4 relay anycast"],
  ["192.168.0.0", 16, "private"],
  ["192.175.48.0", 24, "AS112 direct delegation"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation (TEST-NET-2)"],
  ["203.0.113.0", 24, "documentation (TEST-NET-3)"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved, and 255.255.255.255 broadcast"],
];

// IPv6: only global unicast, 2000::/3, is ever public (IANA allocates nothing else). That leaves out
// ::/128, ::1, ::ffff:0:0/96 (IPv4-mapped), the IPv4-compatible ::/96, 64:ff9b::/96 and 64:ff9b:1::/48
// (NAT64, which would reach any IPv4 address behind the translator), 100::/64 (discard-only),
// 5f00::/16 (SRv6), fc00::/7 (unique-local), fe80::/10 (link-local), fec0::/10 (deprecated
// site-local) and ff00::/8 (multicast). Inside 2000::/3, these special-purpose blocks are refused too:
const IPV6_GLOBAL_UNICAST: Block = ["2000::", 3, "global unicast"];
const IPV6_REFUSED: readonly Block[] = [
  ["2001::", 23, "IETF protocol assignments, among them Teredo 2001::/32 (tunnels to any IPv4 address)"],
  ["2001:db8::", 32, "documentation"],
  // 6to4 embeds an IPv4 address (2002:7f00:1:: is 127.0.0.1, 2002:a9fe:a9fe:: is 169.254.169.254);
  // 6to4 is deprecated, so refusing the whole block is simpler and as safe as decoding it.
  ["2002::", 16, "6to4"],
  ["2620:4f:8000::", 48, "AS112 direct delegation"],
  ["3fff::", 20, "documentation"],
];

/** The four bytes of a canonical dotted-quad IPv4 address, or undefined. */
function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((part) => !/^(0|[1-9]\d{0,2})$/.test(part))) return undefined;
  const bytes = parts.map(Number);
  return bytes.every((byte) => byte <= 255) ? bytes : undefined;
}

/** The sixteen bytes of an IPv6 address in any textual form (::, a dotted IPv4 tail), or undefined. */
function parseIPv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  // A dotted IPv4 tail is allowed only as the address's last 32 bits.
  const groupsOf = (half: string, last: boolean): number[] | undefined => {
    if (half === "") return [];
    const groups: number[] = [];
    const pieces = half.split(":");
    for (const [index, piece] of pieces.entries()) {
      if (last && index === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (!v4) return undefined;
        groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        groups.push(Number.parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0] ?? "", halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? "", true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

function parseBlock([address, bits]: Block): { bytes: number[]; bits: number } {
  const bytes = address.includes(":") ? parseIPv6(address) : parseIPv4(address);
  if (!bytes) throw new Error(`bad block ${address}`);
  return { bytes, bits };
}

function inBlock(bytes: number[], block: { bytes: number[]; bits: number }): boolean {
  for (let bit = 0; bit < block.bits; bit += 8) {
    const mask = (0xff << (8 - Math.min(8, block.bits - bit))) & 0xff;
    const index = bit / 8;
    if (((bytes[index] ?? 0) & mask) !== ((block.bytes[index] ?? 0) & mask)) return false;
  }
  return true;
}

const IPV4_BLOCKS = IPV4_REFUSED.map(parseBlock);
const IPV6_PUBLIC_RANGE = parseBlock(IPV6_GLOBAL_UNICAST);
const IPV6_BLOCKS = IPV6_REFUSED.map(parseBlock);

/**
 * Whether an IP address (canonical dotted-quad IPv4, or IPv6 in any textual form, brackets allowed)
 * is a public unicast address a webhook may be sent to. Anything else, a name, an address with a zone
 * (fe80::1%eth0) or text that is not an address, is not. Delivery uses this on the resolved address.
 */
export function addressIsPublic(ip: string): boolean {
  const text = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const v4 = parseIPv4(text);
  if (v4) return !IPV4_BLOCKS.some((block) => inBlock(v4, block));
  const v6 = text.includes(":") ? parseIPv6(text) : undefined;
  if (!v6) return false;
  return inBlock(v6, IPV6_PUBLIC_RANGE) && !IPV6_BLOCKS.some((block) => inBlock(v6, block));
}

// Names that only mean something on a local network, or that no public DNS answers (RFC 6761,
// RFC 6762 appendix G, RFC 7686, RFC 8375, RFC 9476), with every name under them. "metadata" and
// other single labels are refused separately.
const LOCAL_NAME_SUFFIXES = [
  "localhost",
  "localdomain",
  "local",
  "internal",
  "intranet",
  "lan",
  "home",
  "corp",
  "private",
  "arpa",
  "test",
  "example",
  "invalid",
  "onion",
  "alt",
];

// Public wildcard-DNS services whose names resolve to the address written in them (10.0.0.1.nip.io,
// 10-0-0-1.traefik.me) or always to loopback (anything.localtest.me), or that rebind on purpose.
const WILDCARD_DNS_DOMAINS = [
  "nip.io",
  "sslip.io",
  "xip.io",
  "localtest.me",
  "lvh.me",
  "vcap.me",
  "lacolhost.com",
  "traefik.me",
  "localhost.direct",
  "rbndr.us",
  "1u.ms",
];

const isUnder = (host: string, domain: string) => host === domain || host.endsWith(`.${domain}`);

/** Whether the URL parser's hostname may be a public host (for names: as far as the text can tell). */
function hostMayBePublic(hostname: string): boolean {
  // "localhost." is localhost: drop the root label's dot before comparing.
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  if (host.startsWith("[") || parseIPv4(host)) return addressIsPublic(host);
  if (!host.includes(".")) return false;
  return ![...LOCAL_NAME_SUFFIXES, ...WILDCARD_DNS_DOMAINS].some((domain) => isUnder(host, domain));
}

/** Why `url` may not receive webhooks, or undefined when it may. */
export function webhookUrlProblem(url: string, allowInsecure: boolean): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not a valid URL";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return "must use https";
  if (parsed.username || parsed.password)
    return "must not carry credentials; use webhook_secret to authenticate";
  if (parsed.hash) return "must not have a #fragment";
  if (allowInsecure) return undefined;
  if (parsed.protocol !== "https:") return "must use https (plain http is allowed only in development)";
  if (!hostMayBePublic(parsed.hostname)) return PRIVATE_HOST;
  return undefined;
}
