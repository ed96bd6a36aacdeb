// Runs a child process asynchronously and collects what it printed. Asynchronously on purpose: the
// throwaway stack's gateway runs in the calling process, so a blocking spawn would stall the worker's
// queries (the doc-block runner and the CLI tests run commands against such a stack).
import { spawn } from "node:child_process";

export interface Finished {
  /** The exit code; null when a signal ended it (the timeout's SIGKILL among them). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `args`; rejects only when it cannot be started. Killed after `timeoutMs`. */
export function runChild(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
