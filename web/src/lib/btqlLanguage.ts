// BTQL syntax highlighting for CodeMirror 6: a stream tokenizer (clause heads, keywords,
// functions, strings, numbers, comments) and the editor's colors for its tokens.

import { HighlightStyle, StreamLanguage, StringStream, type StreamParser } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";

export const CLAUSES = [
  "select", "from", "filter", "dimensions", "measures", "sort", "limit", "cursor", "pivot", "unpivot",
  "sample", "preview_length", "span_filter", "trace_filter", "final_filter", "infer", "inference_budget",
  "comparison_key", "weighted_scores", "custom_columns", "final_dimensions", "final_measures",
];
const CLAUSE_SET = new Set(CLAUSES);
const KEYWORDS = new Set([
  "and", "or", "not", "like", "ilike", "match", "includes", "contains", "in", "is", "as", "asc", "desc",
  "interval", "case", "when", "then", "else", "end", "seed",
  // SQL syntax
  "select", "from", "where", "group", "by", "order", "having", "limit", "offset", "with",
]);
const ATOMS = new Set(["null", "true", "false"]);
const SHAPES = new Set(["spans", "traces", "summary"]);
const UNITS = new Set(["year", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond"]);

export type TokenType = "comment" | "string" | "number" | "clause" | "keyword" | "atom" | "function" | "shape" | "variableName" | "operator" | "punctuation" | null;

interface State {
  /** the last token was the keyword `interval` or its number: the next word is a unit */
  afterInterval: number;
}

function readQuoted(stream: StringStream, q: string): void {
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === q) {
      if (stream.peek() === q) stream.next();
      else return;
    }
  }
}

export const btqlParser: StreamParser<State> = {
  name: "btql",
  startState: () => ({ afterInterval: 0 }),
  token(stream, state): TokenType {
    if (stream.eatSpace()) return null;
    if (stream.match("--")) {
      stream.skipToEnd();
      return "comment";
    }
    const ch = stream.peek()!;
    if (ch === "'" || ch === '"') {
      stream.next();
      readQuoted(stream, ch);
      return "string";
    }
    if (ch === "`") {
      stream.next();
      readQuoted(stream, "`");
      return "variableName";
    }
    if (stream.match(/^\d+(\.\d+)?([eE][+-]?\d+)?%?/)) {
      if (state.afterInterval === 1) state.afterInterval = 2;
      return "number";
    }
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const w = word[0].toLowerCase();
      const after = state.afterInterval;
      state.afterInterval = w === "interval" ? 1 : 0;
      if (CLAUSE_SET.has(w) && stream.match(/^\s*:/, false)) {
        stream.match(/^\s*:/);
        return "clause";
      }
      if (after === 2 && UNITS.has(w)) return "keyword";
      if (ATOMS.has(w)) return "atom";
      if (KEYWORDS.has(w)) return "keyword";
      if (SHAPES.has(w)) return "shape";
      if (stream.match(/^\s*\(/, false)) return "function";
      return "variableName";
    }
    stream.next();
    state.afterInterval = 0;
    if ("|".includes(ch)) return "punctuation";
    if ("=<>!+-*/%?:".includes(ch)) return "operator";
    return "punctuation";
  },
  tokenTable: {
    clause: t.heading,
    shape: t.modifier,
    function: t.function(t.variableName),
  },
  languageData: { commentTokens: { line: "--" } },
};

export const btqlLanguage = StreamLanguage.define(btqlParser);

export const btqlHighlight = HighlightStyle.define([
  { tag: t.heading, color: "#7c3aed", fontWeight: "600" },
  { tag: t.keyword, color: "#2563eb" },
  { tag: t.modifier, color: "#0891b2", fontStyle: "italic" },
  { tag: t.atom, color: "#b45309" },
  { tag: t.string, color: "#15803d" },
  { tag: t.number, color: "#c2410c" },
  { tag: t.comment, color: "#9ca3af", fontStyle: "italic" },
  { tag: t.function(t.variableName), color: "#db2777" },
  { tag: t.operator, color: "#475569" },
  { tag: t.variableName, color: "#111827" },
]);

/** Tokens of one line (whitespace left out): what the editor colors, for tests. */
export function tokenizeLine(line: string): [string, TokenType][] {
  const state = btqlParser.startState!(2);
  const out: [string, TokenType][] = [];
  const stream = new StringStream(line, 2, 2);
  while (!stream.eol()) {
    stream.start = stream.pos;
    const type = btqlParser.token(stream, state) as TokenType;
    const text = stream.current();
    if (text.trim()) out.push([text, type]);
  }
  return out;
}
