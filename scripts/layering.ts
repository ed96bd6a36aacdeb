// npm run layering
// Checks the import graph of src/ against the layering rules (scripts/lib/layering.ts): prints each
// violation and exits 1 if there is any.
import path from "node:path";
import { checkLayering, formatViolations, RULES, readSourceTree } from "./lib/layering.ts";

const root = path.resolve(import.meta.dirname, "..");
const files = readSourceTree(root);
const violations = checkLayering(files);
if (violations.length === 0) {
  console.log(`layering: ${files.size} files under src/, ${RULES.length} rules, no violations`);
} else {
  console.error(formatViolations(violations));
  console.error(
    `layering: ${violations.length} violation${violations.length === 1 ? "" : "s"} in ${files.size} files under src/`,
  );
  process.exitCode = 1;
}
