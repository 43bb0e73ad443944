import { useMemo, useState } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { DataTable } from "../components/DataTable";
import { FieldValue, Json } from "../components/JsonValue";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { ApiError, type DatasetVersion } from "../lib/api";
import { datasetRowsQuery } from "../lib/btql";
import { formatRelative, formatTimestamp, preview } from "../lib/format";
import { fieldText, parseField, type RecordFields } from "../lib/records";
import { useProject } from "./ProjectScope";
import { usePageContext } from "../components/Loop";

interface Record_ extends RecordFields {
  id: string;
  created: string;
}

const PAGE = 500;
const FIELDS = [
  { key: "input", label: "Input", kind: "any" },
  { key: "expected", label: "Expected", kind: "any" },
  { key: "metadata", label: "Metadata", kind: "object" },
  { key: "tags", label: "Tags", kind: "tags" },
] as const;

/** The record editor: each field as JSON text, checked before it is saved. */
function RecordEditor({ datasetId, record, onDone }: { datasetId: string; record: Record_ | null; onDone: (saved: boolean) => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(FIELDS.map((f) => [f.key, record ? fieldText(record[f.key]) : f.key === "input" ? '{\n  "question": ""\n}' : "null"])),
  );
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (event: Record<string, unknown>) => api.insertRecords(datasetId, [event]),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["dataset-rows", datasetId] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-versions", datasetId] });
      onDone(true);
    },
    onError: (e) => setError(e instanceof Error ? e.message : String(e)),
  });
  function submit(e: React.FormEvent) {
    e.preventDefault();
    const event: Record<string, unknown> = record ? { id: record.id } : {};
    for (const f of FIELDS) {
      const p = parseField(f.key, texts[f.key], f.kind);
      if (!p.ok) return setError(p.error);
      event[f.key] = p.value;
    }
    setError(null);
    save.mutate(event);
  }
  return (
    <form className="record-editor" onSubmit={submit} aria-label={record ? "Edit record" : "New record"}>
      {FIELDS.map((f) => (
        <label key={f.key}>
          {f.label}
          <textarea className="input mono" rows={f.key === "tags" ? 2 : 6} aria-label={f.label} value={texts[f.key]} onChange={(e) => setTexts({ ...texts, [f.key]: e.target.value })} spellCheck={false} />
        </label>
      ))}
      {error && (
        <div className="form-error" role="alert">
          {error}
        </div>
      )}
      <div className="modal-actions">
        <button type="button" className="btn btn-ghost" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : record ? "Save record" : "Add record"}
        </button>
      </div>
    </form>
  );
}

function Versions({ versions, current, onPick }: { versions: DatasetVersion[]; current: string | null; onPick: (v: string | null) => void }) {
  return (
    <section className="card versions" aria-label="Versions">
      <h3>Versions</h3>
      <ul className="plain-list">
        <li>
          <button className={`version-item${current == null ? " active" : ""}`} onClick={() => onPick(null)}>
            Latest
          </button>
        </li>
        {versions.map((v) => (
          <li key={v.version}>
            <button className={`version-item${current === v.version ? " active" : ""}`} onClick={() => onPick(v.version)} title={v.version}>
              <span>{formatTimestamp(v.created)}</span>
              <span className="muted small">
                {v.rows - v.deleted > 0 && `${v.rows - v.deleted} written`}
                {v.rows - v.deleted > 0 && v.deleted > 0 && " · "}
                {v.deleted > 0 && `${v.deleted} deleted`}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export default function DatasetPage() {
  const project = useProject();
  const { dataset: name } = useParams();
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const version = params.get("version");
  const [openId, setOpenId] = useState<string | null>(null);
  const [editing, setEditing] = useState<"new" | "open" | null>(null);
  const [showVersions, setShowVersions] = useState(version != null);
  const list = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const ds = list.data?.find((d) => d.name === name);
  usePageContext({ kind: ds ? "dataset" : "none", project_id: project.id, object_id: ds?.id ?? null });
  const rows = useInfiniteQuery({
    queryKey: ["dataset-rows", ds?.id, version],
    enabled: !!ds,
    queryFn: ({ pageParam, signal }) => api.btql<Record_>(datasetRowsQuery(ds!.id, PAGE, pageParam), signal, version),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.data.length === PAGE && last.cursor ? last.cursor : undefined),
  });
  const versions = useQuery({ queryKey: ["dataset-versions", ds?.id], enabled: !!ds && showVersions, queryFn: () => api.datasetVersions(ds!.id) });
  const data = useMemo(() => rows.data?.pages.flatMap((p) => p.data) ?? [], [rows.data]);
  const open = data.find((r) => r.id === openId) ?? null;
  const remove = useMutation({
    mutationFn: (id: string) => api.insertRecords(ds!.id, [{ id, _object_delete: true }]),
    onSuccess: () => {
      setOpenId(null);
      void queryClient.invalidateQueries({ queryKey: ["dataset-rows", ds?.id] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-versions", ds?.id] });
    },
  });
  const editable = canWrite && version == null;
  const [restored, setRestored] = useState<string | null>(null);
  const restore = useMutation({
    // `head`: the latest version as this page last read it; the server refuses (409) if it moved
    mutationFn: async ({ v, fresh }: { v: string; fresh: boolean }) => {
      const head = !fresh && versions.data ? versions.data[0]?.version : (await api.datasetVersions(ds!.id))[0]?.version;
      return api.restoreDataset(ds!.id, v, head ?? null);
    },
    onError: (e) => {
      if (e instanceof ApiError && e.status === 409) {
        void queryClient.invalidateQueries({ queryKey: ["dataset-rows", ds?.id] });
        void queryClient.invalidateQueries({ queryKey: ["dataset-versions", ds?.id] });
      }
    },
    onSuccess: (r) => {
      setRestored(
        r.xact_id == null
          ? "The dataset already is as it was at that version: nothing was written."
          : `Restored as a new version: ${r.written} record${r.written === 1 ? "" : "s"} written back, ${r.deleted} deleted.`,
      );
      pickVersion(null);
      void queryClient.invalidateQueries({ queryKey: ["dataset-rows", ds?.id] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-versions", ds?.id] });
    },
  });

  function pickVersion(v: string | null) {
    const next = new URLSearchParams(params);
    if (v) next.set("version", v);
    else next.delete("version");
    setParams(next);
    setEditing(null);
    restore.reset();
    if (v) setRestored(null);
  }

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
  const panel = editing === "new" || open;
  return (
    <div className={`page page-split${panel ? " with-panel" : ""}`}>
      <div className="page-main">
        <PageHeader
          title={ds.name}
          subtitle={`${project.name} · dataset`}
          actions={
            <>
              <button className="btn" aria-pressed={showVersions} onClick={() => setShowVersions(!showVersions)}>
                Versions
              </button>
              {editable && (
                <button
                  className="btn btn-primary"
                  onClick={() => {
                    setOpenId(null);
                    setEditing("new");
                  }}
                >
                  Add record
                </button>
              )}
            </>
          }
        />
        {version && (
          <div className="notice" role="status">
            Viewing the dataset as of version {version} (read-only). <button className="btn btn-sm" onClick={() => pickVersion(null)}>Back to latest</button>
            {canWrite && (
              <button
                className="btn btn-sm btn-primary"
                disabled={restore.isPending}
                onClick={() => window.confirm("Write this version's records back as a new version of the dataset?") && restore.mutate({ v: version, fresh: false })}
              >
                {restore.isPending ? "Restoring…" : "Restore this version"}
              </button>
            )}
          </div>
        )}
        {restored && (
          <div className="notice" role="status">
            {restored}
          </div>
        )}
        {restore.isError &&
          (restore.error instanceof ApiError && restore.error.status === 409 && version ? (
            <div className="notice notice-warn" role="alert" aria-label="Restore conflict">
              <strong>The dataset changed: nothing was restored.</strong> {restore.error.message}.
              <span className="notice-actions">
                <button className="btn btn-sm" onClick={() => pickVersion(null)}>
                  See the latest version
                </button>
                <button
                  className="btn btn-sm btn-primary"
                  disabled={restore.isPending}
                  onClick={() => window.confirm("Restore this version over the dataset as it is now?") && restore.mutate({ v: version, fresh: true })}
                >
                  Restore again over the latest
                </button>
              </span>
            </div>
          ) : (
            <ErrorState error={restore.error} title="Could not restore the version" />
          ))}
        {remove.isError && <ErrorState error={remove.error} title="Could not delete the record" />}
        <div className="dataset-body">
          <div className="dataset-rows">
            {rows.isPending ? (
              <Loading what="records" />
            ) : rows.isError ? (
              <ErrorState error={rows.error} title="Could not load records" />
            ) : data.length === 0 ? (
              <Empty title={version ? "No records in this version" : "This dataset has no records"} />
            ) : (
              <DataTable<Record_>
                label="Records"
                rows={data}
                rowId={(r) => r.id}
                selectedId={openId}
                onRowClick={(r) => {
                  setOpenId(r.id);
                  setEditing(null);
                }}
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
          {showVersions && (versions.data ? <Versions versions={versions.data} current={version} onPick={pickVersion} /> : <Loading what="versions" />)}
        </div>
      </div>
      {panel && (
        <aside className="trace-panel record-panel" aria-label="Record">
          <div className="trace-head">
            <div>
              <h2>{editing === "new" ? "New record" : "Record"}</h2>
              {open && editing !== "new" && <div className="muted small">{open.id}</div>}
            </div>
            <div className="page-actions">
              {open && editable && editing === null && (
                <>
                  <button className="btn" onClick={() => setEditing("open")}>
                    Edit
                  </button>
                  <button className="btn btn-ghost btn-danger" onClick={() => window.confirm("Delete this record?") && remove.mutate(open.id)}>
                    Delete
                  </button>
                </>
              )}
              <button
                className="btn btn-ghost"
                onClick={() => {
                  setOpenId(null);
                  setEditing(null);
                }}
                aria-label="Close record"
              >
                ✕
              </button>
            </div>
          </div>
          <div className="span-detail">
            {editing !== null ? (
              <RecordEditor
                key={editing === "new" ? "new" : open?.id}
                datasetId={ds.id}
                record={editing === "new" ? null : open}
                onDone={() => setEditing(null)}
              />
            ) : (
              open && (
                <>
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
                  {open.tags && open.tags.length > 0 && (
                    <section className="span-section" aria-label="Tags">
                      <h3>Tags</h3>
                      <div className="tags">
                        {open.tags.map((t) => (
                          <span className="tag" key={t}>
                            {t}
                          </span>
                        ))}
                      </div>
                    </section>
                  )}
                </>
              )
            )}
          </div>
        </aside>
      )}
    </div>
  );
}
