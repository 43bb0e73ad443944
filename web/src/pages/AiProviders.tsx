// Settings → AI providers (admins): the org's provider keys (`/v1/ai_secret`). A key is written
// once and never shown back: the list carries only the server's preview of it.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatRelative } from "../lib/format";

interface AiSecret {
  id: string;
  name: string;
  type: string | null;
  preview_secret: string | null;
  metadata: Record<string, unknown> | null;
  created: string | null;
}

const TYPES = ["openai", "anthropic", "azure", "openai_compatible"];

export default function AiProviders() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["ai-secrets"], queryFn: async () => (await api.get<{ objects: AiSecret[] }>("/v1/ai_secret")).objects });
  const [name, setName] = useState("");
  const [type, setType] = useState("openai");
  const [secret, setSecret] = useState("");
  const [apiBase, setApiBase] = useState("");
  const [models, setModels] = useState("");
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["ai-secrets"] });
    void queryClient.invalidateQueries({ queryKey: ["proxy-models"] });
  };
  const add = useMutation({
    mutationFn: () =>
      api.post<AiSecret>("/v1/ai_secret", {
        name: name.trim(),
        type,
        secret,
        metadata: {
          ...(apiBase.trim() ? { api_base: apiBase.trim() } : {}),
          ...(models.trim() ? { models: models.split(",").map((m) => m.trim()).filter(Boolean) } : {}),
        },
      }),
    onSuccess: () => {
      setName("");
      setSecret("");
      setApiBase("");
      setModels("");
      refresh();
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => api.delete(`/v1/ai_secret/${encodeURIComponent(id)}`), onSuccess: refresh });

  function submit(e: FormEvent) {
    e.preventDefault();
    add.mutate();
  }

  return (
    <div className="page">
      <PageHeader title="AI providers" subtitle="Provider keys the organization's prompts, scorers, playground and Loop call models with" />
      {isAdmin ? (
        <form className="card settings-form" onSubmit={submit} aria-label="Add a provider key">
          <input className="input" aria-label="Name" placeholder="name, e.g. OPENAI_API_KEY" value={name} onChange={(e) => setName(e.target.value)} required />
          <select className="input" aria-label="Provider" value={type} onChange={(e) => setType(e.target.value)}>
            {TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
          <input className="input" type="password" autoComplete="off" aria-label="Secret" placeholder="API key" value={secret} onChange={(e) => setSecret(e.target.value)} required />
          <input className="input" aria-label="API base URL" placeholder="API base URL (optional)" value={apiBase} onChange={(e) => setApiBase(e.target.value)} />
          <input className="input" aria-label="Models" placeholder="models it serves, comma-separated (optional)" value={models} onChange={(e) => setModels(e.target.value)} />
          <button className="btn btn-primary" disabled={add.isPending}>
            Add key
          </button>
        </form>
      ) : (
        <p className="muted">Only admins add or remove provider keys.</p>
      )}
      {(add.error ?? remove.error) && <ErrorState error={(add.error ?? remove.error)!} title="The change was refused" />}
      {list.isPending ? (
        <Loading what="provider keys" />
      ) : list.isError ? (
        <ErrorState error={list.error} title="Could not load the provider keys" />
      ) : list.data.length === 0 ? (
        <Empty title="No provider keys">
          <p>Add one above to call models from the playground, scorers and Loop.</p>
        </Empty>
      ) : (
        <table className="simple-table" aria-label="Provider keys">
          <thead>
            <tr>
              <th>Name</th>
              <th>Provider</th>
              <th>Key</th>
              <th>API base</th>
              <th>Models</th>
              <th>Added</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((s) => (
              <tr key={s.id}>
                <td className="strong">{s.name}</td>
                <td>{s.type ?? "—"}</td>
                <td className="mono">{s.preview_secret ?? "••••"}</td>
                <td className="mono">{typeof s.metadata?.api_base === "string" ? s.metadata.api_base : "default"}</td>
                <td>{Array.isArray(s.metadata?.models) ? (s.metadata.models as string[]).join(", ") : "default families"}</td>
                <td>{formatRelative(s.created)}</td>
                <td>
                  {isAdmin && (
                    <button type="button" className="btn btn-sm btn-danger" aria-label={`Delete ${s.name}`} onClick={() => remove.mutate(s.id)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
