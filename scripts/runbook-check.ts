// npm run runbook:check [-- --file docs/RUNBOOK.md]
//
// Starts a throwaway local stack on free ports and runs every command docs/RUNBOOK.md shows against
// it (scripts/lib/runbook-check.ts says how each kind runs). Prints one line per command and exits 1
// if any failed. Needs bash, curl, jq, psql and openssl on PATH, as the runbook itself does.
import { parseOrExit } from "./lib/cli.ts";
import { checkRunbook } from "./lib/runbook-check.ts";
import { startStack } from "./lib/stack.ts";

const USAGE = `usage: npm run runbook:check -- [--file docs/RUNBOOK.md] [--verbose]
  runs every command the runbook shows against a throwaway local stack (nothing else needs to run);
  one line per command, exit 1 if any failed. Needs bash, curl, jq, psql and openssl on PATH.
  --verbose   print each command's output too`;

const { values } = parseOrExit({ name: "npm run runbook:check", usage: USAGE }, process.argv.slice(2), {
  file: { type: "string" },
  verbose: { type: "boolean" },
});
const stack = await startStack();
let failed = 0;
try {
  const results = await checkRunbook(stack, {
    file: values.file,
    onResult: (result) => {
      const where = `${result.command.line}`.padStart(4);
      const mark = { ok: "ok     ", failed: "FAILED ", "not run": "not run" }[result.outcome];
      console.log(`${mark} ${where}  ${result.command.text.slice(0, 110)}`);
      if (result.outcome === "failed") {
        failed += 1;
        console.log(`        ran: ${result.ran}\n        ${result.detail.replaceAll("\n", "\n        ")}`);
      } else if (result.outcome === "not run") console.log(`        (${result.detail})`);
      else if (values.verbose) console.log(`        ${result.detail.replaceAll("\n", "\n        ")}`);
    },
  });
  const ran = results.filter((result) => result.outcome !== "not run").length;
  console.log(
    `\n${results.length} commands: ${ran - failed} ok, ${failed} failed, ${results.length - ran} not run`,
  );
} finally {
  await stack.stop();
}
process.exit(failed === 0 ? 0 : 1);
