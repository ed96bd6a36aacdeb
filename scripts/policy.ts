// npm run policy -- export | validate | apply | help: policy as code over the HTTP API (docs/POLICY.md,
// Bundles). POLICY_API_URL (default http://127.0.0.1:8000) and POLICY_API_KEY (an admin key).
// The work is in scripts/lib/policy-cli.ts; exit 0 done, 1 problems or refused, 2 usage.
import { runCore } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";
import { runPolicy } from "./lib/policy-cli.ts";

await runCore("npm run policy", process.argv.slice(2), (argv) =>
  runPolicy(argv, {
    fetch: globalThis.fetch,
    env: { ...process.env, POLICY_API_URL: LOCAL.apiUrl },
    write: (text, stream = "stdout") =>
      (stream === "stdout" ? process.stdout : process.stderr).write(`${text}\n`),
  }),
);
