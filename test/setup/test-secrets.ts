// The fixed secrets the test bindings use, in one place: vitest.config.ts sets them, and the secret
// scan (test/setup/secret-scan-reporter.ts) looks for every one of them in the suite's logs. They are
// test-only values, as arbitrary and as public as 32 zero bytes would be.

export const TEST_WEBHOOK_ENCRYPTION_KEY = "dGVzdC1vbmx5LXdlYmhvb2stZW5jcnlwdGlvbi1rZXk=";
/** Test-only webhook signing keys: version 2 current, version 1 in its grace period. */
export const TEST_WEBHOOK_SIGNING_SECRETS =
  "2:whsec_dGVzdC1vbmx5LXNpZ25pbmcta2V5LXZlcnNpb24tMg==,1:whsec_dGVzdC1vbmx5LXNpZ25pbmcta2V5LXZlcnNpb24tMQ==";
/** A bootstrap ADMIN_API_KEY value for tests that set it in their bindings. */
export const TEST_ADMIN_API_KEY = "test-bootstrap-admin-key-0123456789abcdef";
/** The METRICS_TOKEN of the /metrics tests. */
export const TEST_METRICS_TOKEN = "test-metrics-scrape-token-0123456789abcdef";

/** The AUDIT_SIGNING_KEY of the tests: an Ed25519 private key, PKCS#8 DER, base64 (test-only). */
export const TEST_AUDIT_SIGNING_KEY = "MC4CAQAwBQYDK2VwBCIEIAH+5pForxrDJcggPlPTsgDU96j3WGKRwzNYo/wbkJJ9";
/** Its public key (raw 32 bytes, base64): public, so not in TEST_SECRET_VALUES. */
export const TEST_AUDIT_PUBLIC_KEY = "pCF980H3UwDk8SLpe+LFq1Hz6r8BYPsmn10Qcs2Qhuk=";

/** The RECEIPT_SIGNING_KEY of the tests: another Ed25519 private key, PKCS#8 DER, base64 (test-only). */
export const TEST_RECEIPT_SIGNING_KEY = "MC4CAQAwBQYDK2VwBCIEIFHdR2f8zr6lbxnHr4oUjaYm01iU7CjSFFrbqaeQnUV4";

/** The key a receipt rotation test switches to (test-only). */
export const TEST_RECEIPT_ROTATED_KEY = "MC4CAQAwBQYDK2VwBCIEILIWISkXVZFcMuEfEIL/6y4iSH2d026prOfzcqbK2GvJ";

/** Web Push's VAPID private scalar (test-only; the tests that push bring a whole pair of their own). */
export const TEST_VAPID_PRIVATE_KEY = "fi9xy-Dg1Na5EeoynzjAraOA9u1qUT5LwG-MYGGkcs4";

/** Every value above that is a secret in production, as it would appear in a leak. */
export const TEST_SECRET_VALUES: readonly string[] = [
  TEST_WEBHOOK_ENCRYPTION_KEY,
  ...TEST_WEBHOOK_SIGNING_SECRETS.split(",").map((pair) => pair.slice(pair.indexOf(":") + 1)),
  TEST_ADMIN_API_KEY,
  TEST_METRICS_TOKEN,
  TEST_AUDIT_SIGNING_KEY,
  TEST_RECEIPT_SIGNING_KEY,
  TEST_RECEIPT_ROTATED_KEY,
  TEST_VAPID_PRIVATE_KEY,
];
