// How numbers, times and durations read in the app.

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  if (seconds < 0.001) return `${(seconds * 1e6).toFixed(0)}µs`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)}ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return `${m}m ${s}s`;
}

export function formatNumber(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "–";
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  return n.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

export function formatScore(score: number | null | undefined): string {
  if (score == null || !Number.isFinite(score)) return "–";
  return `${(score * 100).toFixed(1)}%`;
}

export function formatDiff(diff: number | null | undefined): string {
  if (diff == null || !Number.isFinite(diff) || diff === 0) return "";
  return `${diff > 0 ? "+" : "−"}${Math.abs(diff * 100).toFixed(1)}pp`;
}

/** "just now", "5m ago", "3h ago", "2d ago", then the date. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "–";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  if (s < 86400 * 14) return `${Math.round(s / 86400)}d ago`;
  return new Date(t).toISOString().slice(0, 10);
}

export function formatTimestamp(iso: string | null | undefined): string {
  if (!iso) return "–";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}

/** A one-line preview of any JSON value, at most `max` characters. */
export function preview(value: unknown, max = 160): string {
  if (value == null) return "";
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    text = entries.length === 1 && typeof entries[0][1] === "string" ? (entries[0][1] as string) : JSON.stringify(value);
  } else text = JSON.stringify(value);
  text = text.replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
