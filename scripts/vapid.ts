// npm run vapid: makes a VAPID key pair for Web Push (docs/DEPLOY.md): VAPID_PUBLIC_KEY goes into
// wrangler.toml's [vars], VAPID_PRIVATE_KEY into `wrangler secret put VAPID_PRIVATE_KEY`. Keep the pair
// together: browsers subscribed with one public key take pushes signed by its private key only.
import { vapidKeyPair } from "./lib/dev-keys.ts";

const pair = vapidKeyPair();
console.log(`VAPID_PUBLIC_KEY=${pair.VAPID_PUBLIC_KEY}`);
console.log(`VAPID_PRIVATE_KEY=${pair.VAPID_PRIVATE_KEY}`);
