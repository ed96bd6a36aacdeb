// npm run slack -- <command>: a local Slack simulator (issue 26), to watch the whole Slack flow against
// `npm run dev` without a Slack workspace. The work is in scripts/lib/slack-sim.ts. Exit 0 done, 1 the
// API refused or is unreachable, 2 usage.
import { readFileSync } from "node:fs";
import path from "node:path";
import { explain, parseCli } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";
import {
  clickSlackSim,
  connectSlackSim,
  ensureSlackSimState,
  readSlackSimState,
  SLACK_SIM_CHANNEL,
  SLACK_SIM_DEFAULT_PORT,
  SLACK_SIM_PRINCIPAL,
  SLACK_SIM_TEAM,
  SLACK_SIM_USER,
  slackSimBaseUrl,
  slackSimReplies,
  startSlackSimulator,
} from "./lib/slack-sim.ts";

const USAGE = `usage: npm run slack -- <command>

  serve                     run the fake Slack Web API on 127.0.0.1:\${SLACK_SIM_PORT:-${SLACK_SIM_DEFAULT_PORT}} and print every
                            auth.test, chat.postMessage, chat.update, views.open and response_url it gets
                            (npm run dev points the worker at it on the embedded database)
  connect                   connect tenant demo to the simulated workspace ${SLACK_SIM_TEAM} (channel ${SLACK_SIM_CHANNEL}) with the
                            dev admin key, and link Slack user ${SLACK_SIM_USER} to ${SLACK_SIM_PRINCIPAL}; idempotent (the worker
                            checks the token with auth.test at the simulator: serve's, or one of its own meanwhile)
  click approve <request_id> [--user U…]
  click reject <request_id> [--user U…] [--reason "…"]
                            click the message's button as that Slack user (default ${SLACK_SIM_USER}) with a correctly
                            signed interaction; reject then submits the modal with the reason

POLICY_API_URL (default http://127.0.0.1:8000) is the worker; SLACK_SIM_PORT the simulator's port.
The simulated workspace's token and signing secret are kept in .data/slack-sim.json (mode 0600).`;

const dataDir = path.dirname(LOCAL.dataDir);
const api = LOCAL.apiUrl;
const port = Number(process.env.SLACK_SIM_PORT || SLACK_SIM_DEFAULT_PORT);

function usage(problem?: string): number {
  if (problem) console.error(`npm run slack: ${problem}\n`);
  (problem ? console.error : console.log)(USAGE);
  return problem ? 2 : 0;
}

function adminKey(): string {
  const file = path.join(dataDir, "dev-keys.json");
  try {
    const keys = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    if (keys.admin) return keys.admin;
  } catch {
    // Said below.
  }
  throw new Error(`no admin key in ${file}: start \`npm run dev\` (embedded database) once first`);
}

async function serve(): Promise<number> {
  const simulator = await startSlackSimulator({ port, print: (text) => console.log(text) });
  console.log(
    `Slack simulator on http://127.0.0.1:${simulator.port}: SLACK_API_BASE_URL=${simulator.baseUrl}`,
  );
  console.log("waiting for the worker's calls (Ctrl-C stops)…");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await simulator.close();
  return 0;
}

async function connect(): Promise<number> {
  const state = ensureSlackSimState(dataDir);
  // The worker checks the bot token with Slack's auth.test (here, the simulator) before storing it:
  // without `serve` running, a simulator of our own answers for the connect and stops after it.
  const own = await startSlackSimulator({ port }).catch(() => undefined);
  try {
    for (const step of await connectSlackSim(api, adminKey(), state))
      console.log(`${step.what} → ${step.status}`);
  } finally {
    await own?.close();
  }
  console.log(
    `tenant demo is connected to team ${state.team_id}, channel ${SLACK_SIM_CHANNEL}; ${SLACK_SIM_USER} acts as ${SLACK_SIM_PRINCIPAL}`,
  );
  return 0;
}

async function click(rest: string[], values: { user?: string; reason?: string }): Promise<number> {
  const [action, requestId, ...extra] = rest;
  if ((action !== "approve" && action !== "reject") || !requestId || extra.length)
    return usage("click takes approve|reject and one request id");
  // A secret made here would not be the worker's: the click would only be refused.
  const state = readSlackSimState(dataDir);
  if (!state)
    throw new Error("no simulated workspace in .data/slack-sim.json: run `npm run slack -- connect` first");
  const { answers, responseUrl } = await clickSlackSim({
    api,
    simulator: slackSimBaseUrl(port),
    state,
    action,
    requestId,
    ...(values.user ? { user: values.user.toUpperCase() } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
  });
  for (const step of answers)
    console.log(`${step.what} → ${step.status} ${step.body || "(empty: acknowledged)"}`);
  // The worker answers on the response_url after acknowledging: show it here too, when it comes.
  for (let waited = 0; waited < 5000; waited += 250) {
    const replies = await slackSimReplies(responseUrl);
    if (replies.length) {
      for (const reply of replies) console.log(`reply (ephemeral): ${reply}`);
      return answers.every((step) => step.status === 200) ? 0 : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log("no reply on the response_url yet (is `npm run slack -- serve` running?)");
  return answers.every((step) => step.status === 200) ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseCli(
      argv,
      {
        help: { type: "boolean", short: "h" },
        user: { type: "string" },
        reason: { type: "string" },
      },
      true,
    );
  }
  try {
    parsed = parse();
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || !command || command === "help") return usage();
  try {
    if (command === "serve" && !rest.length) return await serve();
    if (command === "connect" && !rest.length) return await connect();
    if (command === "click") return await click(rest, parsed.values);
    return usage(`unknown command: ${[command, ...rest].join(" ")}`);
  } catch (error) {
    console.error(`npm run slack -- ${command} failed: ${explain(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
