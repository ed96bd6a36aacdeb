// A vitest reporter that reads every console line the suite produces (passing tests' too: vitest
// hands them to reporters before deciding what to print) and fails the run if one holds a secret:
// an API key, a webhook signing secret, a database connection string, a bearer token, a secret-named
// field, or one of the fixed test secrets. The worker logs at debug level in the tests
// (vitest.config.ts), so every log line the service can write at any level passes through here.
import type { Reporter, TestModule } from "vitest/node";
import { findSecrets, type SecretFinding } from "../helpers/secret-scan.ts";
import { TEST_SECRET_VALUES } from "./test-secrets.ts";

interface UserConsoleLog {
  content: string;
  type: "stdout" | "stderr";
  taskId?: string;
}

export default class SecretScanReporter implements Reporter {
  private lines = 0;
  private readonly findings: (SecretFinding & { where: string })[] = [];
  private readonly files = new Map<string, string>();

  onTestModuleCollected(module: TestModule): void {
    this.files.set(module.id, module.moduleId);
    for (const test of module.children.allTests()) this.files.set(test.id, module.moduleId);
  }

  onUserConsoleLog(log: UserConsoleLog): void {
    this.lines += log.content.split("\n").filter((line) => line.trim() !== "").length;
    const where = (log.taskId && this.files.get(log.taskId)) || log.taskId || "(outside a test)";
    for (const finding of findSecrets(log.content, TEST_SECRET_VALUES))
      this.findings.push({ ...finding, where });
  }

  onTestRunEnd(): void {
    if (this.findings.length === 0) {
      console.log(`\n secret scan: ${this.lines} log lines, no secrets\n`);
      return;
    }
    console.error(`\n secret scan: ${this.findings.length} secrets in ${this.lines} log lines:`);
    for (const finding of this.findings.slice(0, 20)) {
      console.error(`  - ${finding.kind} in ${finding.where}:\n      ${finding.excerpt}`);
    }
    process.exitCode = 1;
  }
}
