// Where webhooks may be sent (src/domain/webhook-url.ts): every IANA special-purpose range in each
// spelling the URL parser accepts, the 6to4, Teredo, NAT64 and IPv4-mapped forms of loopback and the
// metadata address, local-only names and wildcard-DNS services; and addressIsPublic, the one rule the
// delivery side will apply to the resolved address. (The scheme, credential and length rules are in
// test/approvals.test.ts.)
import { describe, expect, it } from "vitest";
import { addressIsPublic, webhookUrlProblem } from "../src/domain/webhook-url.ts";

const PRIVATE = "must not point at a private or local address";

const refusedAddresses: [string, string][] = [
  // IPv4 special-purpose registry, plus multicast.
  ["0.0.0.0", "this network"],
  ["0.1.2.3", "this network"],
  ["10.1.2.3", "private"],
  ["100.64.0.1", "shared (CGNAT)"],
  ["100.127.255.255", "shared (CGNAT)"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["169.254.169.254", "link-local / metadata"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.0.0.1", "IETF protocol assignments"],
  ["192.0.0.170", "IETF protocol assignments (NAT64 discovery)"],
  ["192.0.2.1", "TEST-NET-1"],
  ["192.31.196.1", "AS112"],
  ["192.52.193.1", "AMT"],
  ["192.88.99.1", "6to4 relay anycast"],
  ["192.168.0.1", "private"],
  ["192.175.48.1", "AS112 direct delegation"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["198.51.100.1", "TEST-NET-2"],
  ["203.0.113.1", "TEST-NET-3"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "broadcast"],
  // IPv6.
  ["[::]", "unspecified"],
  ["[::1]", "loopback"],
  ["[0:0:0:0:0:0:0:1]", "loopback, long form"],
  ["[::ffff:127.0.0.1]", "IPv4-mapped loopback"],
  ["[::ffff:7f00:1]", "IPv4-mapped loopback, hex"],
  ["[::ffff:169.254.169.254]", "IPv4-mapped metadata"],
  ["[::ffff:8.8.8.8]", "IPv4-mapped, even of a public address"],
  ["[::127.0.0.1]", "IPv4-compatible (deprecated)"],
  ["[64:ff9b::7f00:1]", "NAT64 of loopback"],
  ["[64:ff9b::169.254.169.254]", "NAT64 of metadata"],
  ["[64:ff9b:1::a00:1]", "local-use NAT64"],
  ["[100::1]", "discard-only"],
  ["[100::ffff:ffff:ffff:ffff]", "discard-only"],
  ["[2001::1]", "Teredo"],
  ["[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"],
  ["[2001:0:7f00:1::]", "Teredo naming 127.0.0.1 as its server"],
  ["[2001:1::1]", "IETF protocol assignments"],
  ["[2001:2::1]", "benchmarking"],
  ["[2001:1ff:ffff::1]", "top of 2001::/23"],
  ["[2001:db8::1]", "documentation"],
  ["[2001:db8:ffff::1]", "documentation"],
  ["[2002:7f00:1::]", "6to4 of 127.0.0.1"],
  ["[2002:7f00:1::1]", "6to4 of 127.0.0.1"],
  ["[2002:a9fe:a9fe::]", "6to4 of 169.254.169.254"],
  ["[2002:a9fe:a9fe:1::1]", "6to4 of 169.254.169.254"],
  ["[2002:808:808::1]", "6to4, even of a public address"],
  ["[2620:4f:8000::1]", "AS112 direct delegation"],
  ["[3fff::1]", "documentation"],
  ["[5f00::1]", "SRv6 SIDs"],
  ["[fc00::1]", "unique-local"],
  ["[fd00::1]", "unique-local"],
  ["[fe80::1]", "link-local"],
  ["[febf::1]", "link-local"],
  ["[fec0::1]", "site-local (deprecated)"],
  ["[feff::1]", "site-local (deprecated)"],
  ["[ff02::1]", "multicast"],
  ["[ff0e::1]", "multicast"],
];

// Other spellings of loopback and metadata; the URL parser canonicalises them before the check.
const refusedSpellings = [
  "2130706433",
  "0x7f000001",
  "017700000001",
  "0177.0.0.1",
  "0x7f.1",
  "127.1",
  "127.0.0.1.",
  "127。0。0。1",
  "２１３０７０６４３３",
  "2852039166",
  "0xa9fea9fe",
  "0xA9.0xFE.0xA9.0xFE",
  "[::FFFF:127.0.0.1]",
  "[0::ffff:7f00:0001]",
];

const refusedNames: [string, string][] = [
  ["localhost", "localhost"],
  ["LOCALHOST", "localhost, any case"],
  ["localhost.", "trailing dot"],
  ["localhost..", "trailing dots"],
  ["loc%61lhost", "percent-encoded"],
  ["api.localhost", ".localhost"],
  ["localhost.localdomain", "localhost.localdomain"],
  ["db.localdomain", ".localdomain"],
  ["metadata", "single label"],
  ["metadata.", "single label, trailing dot"],
  ["intranet", "single label"],
  ["printer", "single label"],
  ["metadata.google.internal", "GCP metadata"],
  ["svc.internal", ".internal"],
  ["printer.local", "mDNS"],
  ["router.home.arpa", "home.arpa"],
  ["1.0.0.127.in-addr.arpa", ".arpa"],
  ["nas.lan", ".lan"],
  ["wiki.intranet", ".intranet"],
  ["mail.corp", ".corp"],
  ["nas.home", ".home"],
  ["db.private", ".private"],
  ["hooks.test", ".test"],
  ["hooks.example", ".example"],
  ["hooks.invalid", ".invalid"],
  ["abc.onion", ".onion"],
  ["abc.alt", ".alt"],
  ["127.0.0.1.nip.io", "nip.io"],
  ["app.10.0.0.1.nip.io", "nip.io"],
  ["nip.io", "nip.io itself"],
  ["169-254-169-254.sslip.io", "sslip.io"],
  ["127.0.0.1.xip.io", "xip.io"],
  ["localtest.me", "localtest.me"],
  ["app.localtest.me", "localtest.me"],
  ["lvh.me", "lvh.me"],
  ["app.lvh.me", "lvh.me"],
  ["app.vcap.me", "vcap.me"],
  ["app.lacolhost.com", "lacolhost.com"],
  ["10-0-0-1.traefik.me", "traefik.me"],
  ["app.localhost.direct", "localhost.direct"],
  ["7f000001.a9fea9fe.rbndr.us", "rbndr.us (rebinding)"],
  ["make-127-0-0-1-rr.1u.ms", "1u.ms (rebinding)"],
  ["APP.NIP.IO", "any case"],
];

const accepted = [
  "example.com",
  "hooks.example.com:8443/a/b?c=d",
  "localhost.example.com",
  "local.example.com",
  "metadata.example.com",
  "example.internal.com",
  "nip.io.example.com",
  "mylvh.me",
  "notnip.io",
  "bücher.de",
  "8.8.8.8",
  "1.1.1.1",
  "9.255.255.255",
  "11.0.0.1",
  "100.63.255.255",
  "100.128.0.1",
  "126.255.255.255",
  "128.0.0.1",
  "169.253.255.255",
  "169.255.0.1",
  "172.15.255.255",
  "172.32.0.1",
  "192.0.1.1",
  "192.0.3.1",
  "192.88.98.1",
  "192.88.100.1",
  "192.167.255.255",
  "192.169.0.1",
  "198.17.255.255",
  "198.20.0.1",
  "198.51.99.1",
  "203.0.112.1",
  "223.255.255.255",
  "[2606:4700:4700::1111]",
  "[2001:4860:4860::8888]",
  "[2001:200::1]",
  "[2003::1]",
  "[2a00:1450:4001:81c::200e]",
];

describe("webhookUrlProblem: hosts", () => {
  it.each(refusedAddresses)("refuses https://%s/ (%s)", (host) => {
    expect(webhookUrlProblem(`https://${host}/hook`, false)).toBe(PRIVATE);
  });

  it.each(refusedSpellings)("refuses https://%s/ (loopback or metadata, spelt otherwise)", (host) => {
    expect(webhookUrlProblem(`https://${host}/hook`, false)).toBe(PRIVATE);
  });

  it.each(refusedNames)("refuses https://%s/ (%s)", (host) => {
    expect(webhookUrlProblem(`https://${host}/hook`, false)).toBe(PRIVATE);
  });

  it.each(accepted)("allows https://%s", (host) => {
    expect(webhookUrlProblem(`https://${host}/hook`, false)).toBeUndefined();
  });

  it("relies on the URL parser turning other IPv4 spellings into dotted quads", () => {
    for (const [spelling, canonical] of [
      ["2130706433", "127.0.0.1"],
      ["0x7f.1", "127.0.0.1"],
      ["0177.0.0.1", "127.0.0.1"],
      ["127。0。0。1", "127.0.0.1"],
      ["2852039166", "169.254.169.254"],
      ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
    ]) {
      expect(new URL(`https://${spelling}/`).hostname).toBe(canonical);
    }
    // Anything that looks like an IPv4 address but is not one is no URL at all.
    expect(webhookUrlProblem("https://1.2.3.4.5/", false)).toBe("is not a valid URL");
    expect(webhookUrlProblem("https://256.0.0.1/", false)).toBe("is not a valid URL");
  });

  it("allows every host, private or not, when insecure webhooks are allowed (development)", () => {
    for (const host of [
      "localhost:9999",
      "127.0.0.1:8787",
      "[::1]",
      "metadata",
      "127.0.0.1.nip.io",
      "[2002:7f00:1::]",
      "169.254.169.254",
    ]) {
      expect(webhookUrlProblem(`http://${host}/hook`, true), host).toBeUndefined();
      expect(webhookUrlProblem(`https://${host}/hook`, true), host).toBeUndefined();
    }
  });
});

describe("addressIsPublic (what delivery checks the resolved address with)", () => {
  it("agrees with the URL check on every address above", () => {
    for (const [host] of refusedAddresses) expect(addressIsPublic(host), host).toBe(false);
    for (const host of accepted.filter((h) => /^[\d[]/.test(h)))
      expect(addressIsPublic(host), host).toBe(true);
  });

  it("takes IPv6 in any textual form, with or without brackets", () => {
    for (const ip of [
      "2606:4700:4700::1111",
      "2606:4700:4700:0:0:0:0:1111",
      "2606:4700:4700:0000:0000:0000:0000:1111",
      "2606:4700:4700::0.0.17.17",
      "[2606:4700:4700::1111]",
    ]) {
      expect(addressIsPublic(ip), ip).toBe(true);
    }
    for (const ip of [
      "::1",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "2002:7f00:1::",
      "fe80::1",
    ]) {
      expect(addressIsPublic(ip), ip).toBe(false);
    }
  });

  it("is false for anything that is not a canonical address", () => {
    for (const text of [
      "",
      "example.com",
      "8.8.8",
      "08.8.8.8",
      "8.8.8.8.8",
      "8.8.8.256",
      " 8.8.8.8",
      "2606:4700:::1",
      "2606::4700::1",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "2606:4700::1%eth0",
      "fe80::1%25eth0",
      "1.2.3.4::",
      "2606:4700::12345",
      "2606:4700::g",
      "[2606:4700::1",
    ]) {
      expect(addressIsPublic(text), JSON.stringify(text)).toBe(false);
    }
  });
});
