// Where in the editor text an error at (line, column) is underlined.

export interface Range {
  from: number;
  to: number;
}

/** Character offset of a 1-based line and column, clamped into the text. */
export function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  const lineEnd = text.indexOf("\n", offset);
  const end = lineEnd < 0 ? text.length : lineEnd;
  return Math.min(offset + Math.max(0, column - 1), end);
}

const WORD = /[A-Za-z0-9_.$]/;

/** The token starting at the error: a quoted string (to its closing quote or the line's end), a
 *  name or number (with dots), else one character; at the end of the text, the last character. */
export function errorRange(text: string, line: number | null | undefined, column: number | null | undefined): Range {
  if (text.length === 0) return { from: 0, to: 0 };
  if (line == null || column == null) {
    const firstLineEnd = text.indexOf("\n");
    return { from: 0, to: firstLineEnd < 0 ? text.length : firstLineEnd };
  }
  let from = offsetOf(text, line, column);
  if (from >= text.length || text[from] === "\n") {
    // past the end of a line (e.g. "unexpected end of query"): the last visible character before it
    while (from > 0 && (from >= text.length || /\s/.test(text[from]))) from--;
    return { from, to: Math.min(text.length, from + 1) };
  }
  const ch = text[from];
  let to = from + 1;
  if (ch === "'" || ch === '"' || ch === "`") {
    while (to < text.length && text[to] !== "\n") {
      if (text[to] === ch) {
        if (text[to + 1] === ch) {
          to += 2;
          continue;
        }
        to++;
        break;
      }
      to++;
    }
  } else if (WORD.test(ch)) {
    while (to < text.length && WORD.test(text[to])) to++;
  }
  return { from, to };
}
