// npm run receipts -- keygen | verify RECEIPT --payload JSON [--request ID] [--jwks URL|@FILE]: approval
// receipts (issue 27) from a shell. `keygen` makes a RECEIPT_SIGNING_KEY; `verify` checks a receipt
// exactly as a tool runner should before acting. The work is in scripts/lib/receipts-cli.ts; exit 0
// the receipt allows the action, 1 refused, 2 usage.

import { text } from "node:stream/consumers";
import { runCore } from "./lib/cli.ts";
import { runReceiptsCli } from "./lib/receipts-cli.ts";

await runCore("npm run receipts", process.argv.slice(2), (argv) =>
  runReceiptsCli(argv, {
    write: (output, stream = "stdout") => {
      (stream === "stdout" ? process.stdout : process.stderr).write(output);
    },
    readStdin: () => text(process.stdin),
    fetch,
  }),
);
