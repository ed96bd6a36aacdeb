// The Slack app manifest shipped for operators (examples/slack/app-manifest.json) asks for the scopes
// the integration uses and nothing more, and points Slack at the routes the worker serves.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const manifest = JSON.parse(
  readFileSync(path.join(import.meta.dirname, "../../examples/slack/app-manifest.json"), "utf8"),
) as {
  oauth_config: { scopes: { bot: string[] } };
  features: { slash_commands: { command: string; url: string }[] };
  settings: { interactivity: { is_enabled: boolean; request_url: string } };
};
const routes = readFileSync(path.join(import.meta.dirname, "../../src/routes/slack.ts"), "utf8");

describe("the Slack app manifest", () => {
  it("asks for chat:write and commands only", () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(["chat:write", "commands"]);
  });

  it("sends interactions and /policy to the worker's Slack routes", () => {
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(new URL(manifest.settings.interactivity.request_url).pathname).toBe(
      "/integrations/slack/acme/interactions",
    );
    expect(manifest.features.slash_commands.map((command) => command.command)).toEqual(["/policy"]);
    expect(new URL(manifest.features.slash_commands[0]?.url ?? "").pathname).toBe(
      "/integrations/slack/acme/commands",
    );
    expect(routes).toContain("/integrations/slack/:tenant_id/interactions");
    expect(routes).toContain("/integrations/slack/:tenant_id/commands");
  });
});
