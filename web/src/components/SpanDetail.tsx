// Everything about one span: header, input/output/expected/error as readable values, scores,
// metrics, metadata and tags.

import { useQuery } from "@tanstack/react-query";
import { useApi } from "../auth";
import { spanQuery, type ObjectSource } from "../lib/btql";
import { formatDuration, formatNumber, formatScore, formatTimestamp } from "../lib/format";
import { FieldValue, Json } from "./JsonValue";
import { ErrorState, Loading } from "./States";

type SpanRow = Record<string, unknown> & {
  id: string;
  span_id: string;
  span_attributes?: { name?: string; type?: string } | null;
  metrics?: Record<string, number | null> | null;
  scores?: Record<string, number | null> | null;
  metadata?: Record<string, unknown> | null;
  tags?: string[] | null;
  created?: string;
};

function Section({ title, children, className }: { title: string; children: React.ReactNode; className?: string }) {
  return (
    <section className={`span-section ${className ?? ""}`} aria-label={title}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

function isEmpty(v: unknown): boolean {
  return v == null || (typeof v === "object" && Object.keys(v as object).length === 0);
}

export function ScoreBars({ scores }: { scores: Record<string, number | null> }) {
  return (
    <div className="score-bars">
      {Object.entries(scores).map(([name, v]) => (
        <div className="score-bar" key={name}>
          <span className="score-name">{name}</span>
          <span className="bar">
            <span className="bar-fill" style={{ width: `${Math.max(0, Math.min(1, v ?? 0)) * 100}%` }} />
          </span>
          <span className="score-value">{formatScore(v)}</span>
        </div>
      ))}
    </div>
  );
}

export function SpanDetail({ source, rowId }: { source: ObjectSource; rowId: string }) {
  const api = useApi();
  const q = useQuery({
    queryKey: ["span", source.kind, source.id, rowId],
    queryFn: async ({ signal }) => (await api.btql<SpanRow>(spanQuery(source, rowId), signal)).data[0] ?? null,
  });
  if (q.isPending) return <Loading what="span" />;
  if (q.isError) return <ErrorState error={q.error} title="Could not load the span" />;
  const s = q.data;
  if (!s) return <ErrorState error="This span no longer exists." title="Span not found" />;
  const m = s.metrics ?? {};
  const duration = m.start != null && m.end != null ? m.end - m.start : null;
  const metrics = Object.entries(m).filter(([k, v]) => v != null && k !== "start" && k !== "end");
  return (
    <div className="span-detail" data-span-id={s.span_id}>
      <div className="span-head">
        <div>
          <h2>{s.span_attributes?.name ?? s.span_id}</h2>
          <div className="muted small">
            {s.span_attributes?.type && <span className={`type-badge type-${s.span_attributes.type}`}>{s.span_attributes.type}</span>}{" "}
            {formatTimestamp(s.created)} · {formatDuration(duration)} · span {s.span_id}
          </div>
        </div>
      </div>
      {!isEmpty(s.error) && (
        <Section title="Error" className="span-error">
          <FieldValue value={s.error} />
        </Section>
      )}
      {s.input !== undefined && s.input !== null && (
        <Section title="Input">
          <FieldValue value={s.input} />
        </Section>
      )}
      {s.output !== undefined && s.output !== null && (
        <Section title="Output">
          <FieldValue value={s.output} />
        </Section>
      )}
      {!isEmpty(s.expected) && (
        <Section title="Expected">
          <FieldValue value={s.expected} />
        </Section>
      )}
      {!isEmpty(s.scores) && (
        <Section title="Scores">
          <ScoreBars scores={s.scores!} />
        </Section>
      )}
      {metrics.length > 0 && (
        <Section title="Metrics">
          <dl className="metrics">
            {metrics.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{k.includes("duration") || k === "time_to_first_token" ? formatDuration(v) : formatNumber(v)}</dd>
              </div>
            ))}
          </dl>
        </Section>
      )}
      {!isEmpty(s.metadata) && (
        <Section title="Metadata">
          <Json data={s.metadata} />
        </Section>
      )}
      {s.tags && s.tags.length > 0 && (
        <Section title="Tags">
          <div className="tags">
            {s.tags.map((t) => (
              <span className="tag" key={t}>
                {t}
              </span>
            ))}
          </div>
        </Section>
      )}
    </div>
  );
}
