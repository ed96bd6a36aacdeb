// npm run policy:schema: writes schemas/policy-bundle.schema.json from the API's bundle schema
// (scripts/lib/policy-schema.ts). Run it after changing a policy row's fields; a test checks the copy.
import { writeFileSync } from "node:fs";
import { POLICY_SCHEMA_PATH, policyBundleJsonSchema } from "./lib/policy-schema.ts";

writeFileSync(POLICY_SCHEMA_PATH, policyBundleJsonSchema());
console.log(`wrote ${POLICY_SCHEMA_PATH}`);
