// `npm run sdk:generate`: refreshes the TypeScript SDK's committed copy of the API's OpenAPI document
// (sdk/typescript/openapi.json) and the types generated from it (sdk/typescript/src/generated/).
// The document comes from the worker itself: a throwaway local stack by default (nothing to start
// first), or a running API with --url (e.g. http://127.0.0.1:8000 under `npm run dev`).
//
//   npm run sdk:generate
//   npm run sdk:generate -- --url http://127.0.0.1:8000
import { writeFileSync } from "node:fs";
import { parseOrExit } from "./lib/cli.ts";
import { generateSdkTypes, SDK_GENERATED, SDK_SPEC, specText } from "./lib/sdk-generate.ts";
import { startStack } from "./lib/stack.ts";

const USAGE = `usage: npm run sdk:generate -- [--url http://127.0.0.1:8000]
  refreshes sdk/typescript/openapi.json and sdk/typescript/src/generated/ from the worker's OpenAPI
  document: a throwaway local stack's by default (nothing to start first), or a running API's (--url)`;

const { values } = parseOrExit({ name: "npm run sdk:generate", usage: USAGE }, process.argv.slice(2), {
  url: { type: "string" },
});

async function fetchSpec(base: string): Promise<unknown> {
  const res = await fetch(`${base}/openapi.json`);
  if (!res.ok) throw new Error(`GET ${base}/openapi.json answered ${res.status}`);
  return res.json();
}

let document: unknown;
if (values.url) {
  document = await fetchSpec(values.url.replace(/\/+$/, ""));
} else {
  const stack = await startStack();
  try {
    document = await fetchSpec(stack.api);
  } finally {
    await stack.stop();
  }
}
writeFileSync(SDK_SPEC, specText(document));
await generateSdkTypes(SDK_SPEC, SDK_GENERATED);
console.log(`wrote ${SDK_SPEC} and ${SDK_GENERATED}/`);
