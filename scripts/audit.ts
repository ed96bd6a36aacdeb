// npm run audit -- verify --database | export --database [--tenant T] | verify FILE: the tamper-evident
// audit trail (issue 17) from a shell. Acts on DATABASE_URL when set, otherwise on the embedded
// database of `npm run dev`; `verify FILE` needs no database at all. `npm run audit -- --help` lists
// the commands. The work is in scripts/lib/audit.ts; exit 0 verifies, 1 broken or failed, 2 usage.

import { once } from "node:events";
import { runAudit } from "./lib/audit.ts";
import { runCore } from "./lib/cli.ts";
import { openDatabase } from "./lib/local-stack.ts";

await runCore("npm run audit", process.argv.slice(2), (argv) =>
  runAudit(argv, {
    database: openDatabase,
    write: async (text, stream = "stdout") => {
      const out = stream === "stdout" ? process.stdout : process.stderr;
      // Large exports: wait for the pipe to drain instead of buffering the whole chain in memory.
      if (!out.write(text)) await once(out, "drain");
    },
  }),
);
