import { useMemo, useState } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { useApi } from "../auth";
import { DataTable } from "../components/DataTable";
import { FieldValue, Json } from "../components/JsonValue";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { datasetRowsQuery } from "../lib/btql";
import { formatRelative, preview } from "../lib/format";
import { useProject } from "./ProjectScope";

interface Record_ {
  id: string;
  input: unknown;
  expected: unknown;
  metadata: Record<string, unknown> | null;
  tags: string[] | null;
  created: string;
}

const PAGE = 500;

export default function DatasetPage() {
  const project = useProject();
  const { dataset: name } = useParams();
  const api = useApi();
  const [open, setOpen] = useState<Record_ | null>(null);
  const list = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const ds = list.data?.find((d) => d.name === name);
  const rows = useInfiniteQuery({
    queryKey: ["dataset-rows", ds?.id],
    enabled: !!ds,
    queryFn: ({ pageParam, signal }) => api.btql<Record_>(datasetRowsQuery(ds!.id, PAGE, pageParam), signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.data.length === PAGE && last.cursor ? last.cursor : undefined),
  });
  const data = useMemo(() => rows.data?.pages.flatMap((p) => p.data) ?? [], [rows.data]);

  if (list.isPending) return <Loading what="dataset" />;
  if (list.isError) return <ErrorState error={list.error} title="Could not load the dataset" />;
  if (!ds)
    return (
      <div className="page">
        <Empty title={`No dataset named “${name}”`}>
          <Link to="..">All datasets</Link>
        </Empty>
      </div>
    );
  return (
    <div className={`page page-split${open ? " with-panel" : ""}`}>
      <div className="page-main">
        <PageHeader title={ds.name} subtitle={`${project.name} · dataset`} />
        {rows.isPending ? (
          <Loading what="records" />
        ) : rows.isError ? (
          <ErrorState error={rows.error} title="Could not load records" />
        ) : data.length === 0 ? (
          <Empty title="This dataset has no records" />
        ) : (
          <DataTable<Record_>
            label="Records"
            rows={data}
            rowId={(r) => r.id}
            selectedId={open?.id}
            onRowClick={setOpen}
            onEndReached={() => rows.hasNextPage && !rows.isFetchingNextPage && void rows.fetchNextPage()}
            columns={[
              { id: "input", header: "Input", size: 260, grow: true, cell: (r) => <span className="preview">{preview(r.input)}</span> },
              { id: "expected", header: "Expected", size: 260, grow: true, cell: (r) => <span className="preview">{preview(r.expected)}</span> },
              { id: "metadata", header: "Metadata", size: 200, cell: (r) => <span className="preview muted">{preview(r.metadata)}</span> },
              { id: "created", header: "Created", size: 110, cell: (r) => formatRelative(r.created) },
            ]}
            footer={<div className="dt-footer muted small">{data.length.toLocaleString("en-US")} records</div>}
          />
        )}
      </div>
      {open && (
        <aside className="trace-panel record-panel" aria-label="Record">
          <div className="trace-head">
            <div>
              <h2>Record</h2>
              <div className="muted small">{open.id}</div>
            </div>
            <button className="btn btn-ghost" onClick={() => setOpen(null)} aria-label="Close record">
              ✕
            </button>
          </div>
          <div className="span-detail">
            <section className="span-section" aria-label="Input">
              <h3>Input</h3>
              <FieldValue value={open.input} />
            </section>
            <section className="span-section" aria-label="Expected">
              <h3>Expected</h3>
              <FieldValue value={open.expected} />
            </section>
            {open.metadata && (
              <section className="span-section" aria-label="Metadata">
                <h3>Metadata</h3>
                <Json data={open.metadata} />
              </section>
            )}
          </div>
        </aside>
      )}
    </div>
  );
}
