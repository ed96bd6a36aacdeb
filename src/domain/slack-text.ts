// Text people wrote, as it may appear in a Slack mrkdwn message (issue 26): flattened to one line with
// nothing hidden (human-text.ts), `&`, `<` and `>` escaped as Slack asks, so `<!channel>`, `<!here>`,
// `<@U…>`, `<#C…>` and `<url|label>` links are shown as text and never parsed; and the bare `@channel`,
// `@here` and `@everyone` words (which Slack parses when a message asks it to link names) broken by a
// word joiner, so no quoted text can notify a channel whatever the message's options.
import { flattenHumanText, QUOTED_TEXT_MAX_CHARS } from "./human-text.ts";

const BROADCAST_WORDS = /@(channel|here|everyone)\b/gi;

/** Escapes Slack's three control characters; the rest of mrkdwn formatting stays harmless text. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Human text for mrkdwn: one line, bounded, control characters escaped, mentions defused. */
export function slackQuotedText(text: string, maxChars = QUOTED_TEXT_MAX_CHARS): string {
  const chars = Array.from(flattenHumanText(text));
  const cut = chars.length > maxChars ? `${chars.slice(0, maxChars).join("").trimEnd()}…` : chars.join("");
  return escapeMrkdwn(cut).replace(BROADCAST_WORDS, "@\u2060$1");
}
