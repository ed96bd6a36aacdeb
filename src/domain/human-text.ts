// Human text as quoted data: what people and requesters wrote (approver notes, reasons, justifications,
// ids they chose) as it may appear in any text an agent reads. An LLM reads such text as part of its
// instructions, so free text must never make a line of its own, hide characters, or end its own quote:
// it becomes one bounded line inside a JSON string, always after a label the server wrote. Structured
// fields (JSON answers, webhook payloads) keep the raw text: they are data, not prose.

/** How many characters of one piece of human text an agent-facing text shows; the record keeps all. */
export const QUOTED_TEXT_MAX_CHARS = 300;

/** Every line break a reader might honour: CRLF, LF, CR alone, VT, FF, NEL, LS, PS. */
const LINE_BREAKS = /\r\n|[\n\r\v\f\u0085\u2028\u2029]/g;

/** Shown where the text had a line break: visible, and never a line of its own. */
export const LINE_BREAK_MARK = "↵";

/**
 * Characters that show nothing or reorder what is shown: zero-width spaces and joiners, bidi marks,
 * embeddings, overrides and isolates (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069), word joiner and
 * invisible operators (U+2060-U+2064), the BOM (U+FEFF), soft hyphen, variation selectors, tag
 * characters (U+E0000-U+E007F, which smuggle invisible ASCII), Hangul fillers: every default-ignorable
 * code point and every format character.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/gu;

/** C0 and C1 controls left after the line breaks (tab, escape, DEL, CSI...). */
const CONTROLS = /\p{Cc}/gu;

/**
 * The text on one line with nothing hidden: line breaks become a visible ↵, invisible and bidi
 * characters are removed, other controls become spaces, runs of whitespace one space, lone surrogates
 * U+FFFD. Markdown markers (`#`, `>`) stay as text: they can no longer start a line.
 */
export function flattenHumanText(text: string): string {
  return text
    .toWellFormed()
    .replace(LINE_BREAKS, ` ${LINE_BREAK_MARK} `)
    .replace(INVISIBLE, "")
    .replace(CONTROLS, " ")
    .replace(/\s+/gu, " ")
    .trim();
}

/**
 * Human text as quoted data: flattened, cut to `maxChars` characters (code points, so no pair is
 * split) with the full length said, and quoted as a JSON string, so a `"` in the text is escaped and
 * cannot end the quote. Put it after a label naming who wrote it; never at the start of a line.
 */
export function quoteHumanText(text: string, maxChars = QUOTED_TEXT_MAX_CHARS): string {
  const flat = flattenHumanText(text);
  const chars = Array.from(flat);
  if (chars.length <= maxChars) return JSON.stringify(flat);
  return `${JSON.stringify(`${chars.slice(0, maxChars).join("").trimEnd()}…`)} (cut: ${chars.length} characters)`;
}
