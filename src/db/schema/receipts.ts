// Receipt signing keys (issue 27). Receipts themselves are columns of approval_requests, written by the
// statement that approves. Each public key that signs receipts is registered here before its first
// signature, so /.well-known/jwks.json keeps a rotated key while any receipt it signed may still be used.
import { jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { timestamptz } from "./columns.ts";

/** A public key that signed receipts: registered before its first signature, published while needed. */
export const receiptKeys = pgTable("receipt_keys", {
  /** RFC 7638 thumbprint of the public key: the JWS header's `kid`. */
  kid: text("kid").primaryKey(),
  /** The public JWK (kty OKP, crv Ed25519, x) with kid, alg and use. */
  publicJwk: jsonb("public_jwk")
    .$type<Record<"kty" | "crv" | "x" | "kid" | "alg" | "use", string>>()
    .notNull(),
  registeredAt: timestamptz("registered_at").notNull().defaultNow(),
});
