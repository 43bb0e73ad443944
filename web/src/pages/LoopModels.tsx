// Settings → Loop models: the org's allowlist of models the Loop assistant may use
// (`/v1/loop/settings`; admins change it). The models listed are the ones the org can call
// (`/v1/loop/models`: configured providers and the org's AI secrets); the Loop panel's picker
// offers only the allowed ones, and the server refuses the others.

import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { ErrorState, Loading } from "../components/States";
import { allowlistDraft, toggleModel } from "../lib/loop";

export default function LoopModels() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: ["loop-settings"], queryFn: () => api.loopSettings() });
  const models = useQuery({ queryKey: ["loop-models"], queryFn: () => api.loopModels() });
  const [draft, setDraft] = useState<string[] | null>(null);
  const [extra, setExtra] = useState("");
  const allowed = settings.data?.allowed_models ?? null;
  useEffect(() => setDraft(null), [allowed]);
  const listed = models.data?.models ?? [];
  const current = draft ?? allowlistDraft(allowed, listed);
  const save = useMutation({
    mutationFn: (list: string[] | null) => api.setLoopAllowlist(list),
    onSuccess: () => {
      setDraft(null);
      void queryClient.invalidateQueries({ queryKey: ["loop-settings"] });
      void queryClient.invalidateQueries({ queryKey: ["loop-models"] });
    },
  });
  const rows = [...listed.map((m) => m.id), ...current.filter((id) => !listed.some((m) => m.id === id))];

  return (
    <div className="page">
      <PageHeader title="Loop models" subtitle="Which models the Loop assistant may use in this organization" />
      {settings.isPending || models.isPending ? (
        <Loading what="models" />
      ) : settings.isError || models.isError ? (
        <ErrorState error={(settings.error ?? models.error)!} title="Could not load the models" />
      ) : (
        <section className="card" aria-label="Allowlist">
          <p role="status">
            {allowed === null
              ? "No allowlist: Loop may use every model the organization can call."
              : allowed.length === 0
                ? "The allowlist is empty: Loop may use no model."
                : `Allowlist: ${allowed.join(", ")}.`}
          </p>
          {models.data.problem && <p className="form-error small">{models.data.problem}</p>}
          <table className="simple-table" aria-label="Models">
            <thead>
              <tr>
                <th>Allowed</th>
                <th>Model</th>
                <th>Provider</th>
                <th>Served by</th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No model to list: the organization can call none yet (an admin adds an AI provider key in Settings → AI providers).
                  </td>
                </tr>
              )}
              {rows.map((id) => {
                const m = listed.find((x) => x.id === id);
                return (
                  <tr key={id}>
                    <td>
                      <input type="checkbox" aria-label={`Allow ${id}`} checked={current.includes(id)} disabled={!isAdmin} onChange={(e) => setDraft(toggleModel(current, id, e.target.checked))} />
                    </td>
                    <td className="mono">{id}</td>
                    <td>
                      {m ? (
                        <>
                          <span className="strong">{m.provider_type || m.provider}</span>
                          {m.provider_type && m.provider && <span className="muted"> · {m.provider}</span>}
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td>{m ? (m.source === "ai_secret" ? "AI secret" : m.source === "settings" ? "server settings" : m.source) : <span className="muted">not served now</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {isAdmin ? (
            <div className="pg-row allowlist-actions">
              <form
                className="pg-row"
                aria-label="Add a model"
                onSubmit={(e) => {
                  e.preventDefault();
                  if (extra.trim()) setDraft(toggleModel(current, extra.trim(), true));
                  setExtra("");
                }}
              >
                <input className="input mono" aria-label="Model id" placeholder="another model id, e.g. claude-3-5-haiku" value={extra} onChange={(e) => setExtra(e.target.value)} />
                <button className="btn btn-sm">Add</button>
              </form>
              <button type="button" className="btn btn-primary" disabled={save.isPending || draft === null} onClick={() => save.mutate(current)}>
                Save allowlist
              </button>
              <button type="button" className="btn" disabled={save.isPending || allowed === null} onClick={() => save.mutate(null)}>
                Allow every model
              </button>
            </div>
          ) : (
            <p className="muted">Only admins change the allowlist.</p>
          )}
          {save.error && <ErrorState error={save.error} title="The allowlist was refused" />}
        </section>
      )}
    </div>
  );
}
