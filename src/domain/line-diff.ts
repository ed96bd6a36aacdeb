// A line-by-line difference between two texts (issue 27: the console shows what an approver changed in
// a payload, between the filed and the approved pretty JSON). Pure: a longest-common-subsequence table,
// bounded so a large payload cannot make a page expensive; past the bound every line of each side is
// shown as removed and added, which is still exact, only less compact.

/** One line of a difference: kept in both, only in the old text, or only in the new one. */
export interface DiffLine {
  kind: "same" | "removed" | "added";
  text: string;
}

/** Largest old × new line-count product the table is built for (a 2,000 × 2,000 pretty payload). */
export const MAX_DIFF_CELLS = 4_000_000;

/** The lines of `before` and `after` in order, each marked kept, removed or added. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > MAX_DIFF_CELLS) {
    return [
      ...a.map((text) => ({ kind: "removed" as const, text })),
      ...b.map((text) => ({ kind: "added" as const, text })),
    ];
  }
  // lengths[i * width + j]: the longest common subsequence of a[i..] and b[j..].
  const width = b.length + 1;
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[i] === b[j]
          ? (lengths[(i + 1) * width + j + 1] ?? 0) + 1
          : Math.max(lengths[(i + 1) * width + j] ?? 0, lengths[i * width + j + 1] ?? 0);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const left = a[i] as string;
    const right = b[j] as string;
    if (left === right) {
      lines.push({ kind: "same", text: left });
      i++;
      j++;
    } else if ((lengths[(i + 1) * width + j] ?? 0) >= (lengths[i * width + j + 1] ?? 0)) {
      lines.push({ kind: "removed", text: left });
      i++;
    } else {
      lines.push({ kind: "added", text: right });
      j++;
    }
  }
  for (; i < a.length; i++) lines.push({ kind: "removed", text: a[i] as string });
  for (; j < b.length; j++) lines.push({ kind: "added", text: b[j] as string });
  return lines;
}
