// Where webhooks may be sent. https to public hosts only, unless a development setting allows plain
// http and private addresses. Checked on the URL's text: a public name that resolves to a private
// address is the delivery side's to refuse (it lands with the webhook issue).
export const MAX_WEBHOOK_URL_LENGTH = 2048;

function isPrivateIPv4(host: string): boolean {
  const parts = host.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255))
    return false;
  const [a = 0, b = 0] = parts;
  return (
    a === 10 ||
    a === 127 ||
    a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

function isPrivateHost(hostname: string): boolean {
  // "localhost." is localhost: drop the root label's dot before comparing.
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  if (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host.endsWith(".local") ||
    host.endsWith(".internal")
  ) {
    return true;
  }
  if (host.includes(":")) {
    // Loopback, unspecified, IPv4-compatible or -mapped (::…), NAT64 (64:ff9b::), unique-local,
    // link-local and multicast.
    return (
      host.startsWith("::") || host.startsWith("64:ff9b:") || /^f[cdf]/.test(host) || /^fe[89ab]/.test(host)
    );
  }
  return isPrivateIPv4(host);
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
  if (isPrivateHost(parsed.hostname)) return "must not point at a private or local address";
  return undefined;
}
