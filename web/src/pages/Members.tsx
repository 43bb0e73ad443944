// Settings → Members (admins): who is in the organization and with which role; invite by link,
// change a role, remove someone. Only owners manage admins and owners; the server enforces it
// (and keeps one owner), the page only shows what it answers.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useAuth, useCan } from "../auth";
import { DataTable } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loaded, noItems } from "../components/States";
import type { Invitation, User } from "../lib/api";
import { formatRelative } from "../lib/format";
import { ROLES, type Role } from "../lib/session";

function CreatedInvitation({ inv, onClose }: { inv: Invitation; onClose: () => void }) {
  return (
    <div className="card invite-link" role="region" aria-label="Invitation link">
      <div>
        <strong>Invitation for {inv.email ?? "anyone with the link"}</strong> as <span className="badge">{inv.role}</span>
      </div>
      <p className="muted small">Send this link: it is shown only now and works once, until {new Date(inv.expires).toLocaleString()}.</p>
      <div className="copy-row">
        <input className="input mono" readOnly value={inv.url ?? ""} aria-label="Invitation URL" onFocus={(e) => e.target.select()} />
        <button type="button" className="btn" onClick={() => void navigator.clipboard?.writeText(inv.url ?? "")}>
          Copy
        </button>
        <button type="button" className="btn btn-ghost" onClick={onClose}>
          Done
        </button>
      </div>
    </div>
  );
}

export default function Members() {
  const api = useApi();
  const { session } = useAuth();
  const isAdmin = useCan("admin");
  const isOwner = useCan("owner");
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => api.users() });
  const invitations = useQuery({ queryKey: ["invitations"], queryFn: () => api.invitations(), enabled: isAdmin });
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [created, setCreated] = useState<Invitation | null>(null);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["users"] });
    void queryClient.invalidateQueries({ queryKey: ["invitations"] });
  };
  const invite = useMutation({
    mutationFn: () => api.invite(role, email.trim() || undefined),
    onSuccess: (inv) => {
      setCreated(inv);
      setEmail("");
      refresh();
    },
  });
  const change = useMutation({ mutationFn: ({ id, role }: { id: string; role: Role }) => api.setRole(id, role), onSuccess: refresh });
  const remove = useMutation({ mutationFn: (id: string) => api.removeUser(id), onSuccess: refresh });
  const manageable = (r: Role) => isOwner || (isAdmin && (r === "member" || r === "viewer"));
  const assignable = ROLES.filter(manageable);
  const failure = invite.error ?? change.error ?? remove.error;

  function submit(e: FormEvent) {
    e.preventDefault();
    invite.mutate();
  }

  return (
    <div className="page">
      <PageHeader title="Members" subtitle={`${session!.identity.orgName} · people and their roles`} />
      <p className="muted small role-legend">
        <b>viewer</b> reads · <b>member</b> writes data and runs evals · <b>admin</b> manages keys, secrets, rules and members · <b>owner</b> also manages admins
      </p>
      {isAdmin && (
        <form className="card invite-form" onSubmit={submit} aria-label="Invite a member">
          <strong>Invite someone</strong>
          <input className="input" type="email" placeholder="email (optional: any address may accept)" aria-label="Email to invite" value={email} onChange={(e) => setEmail(e.target.value)} />
          <select className="input" aria-label="Role of the invitation" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {assignable.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <button className="btn btn-primary" type="submit" disabled={invite.isPending}>
            Create invitation link
          </button>
        </form>
      )}
      {created && <CreatedInvitation inv={created} onClose={() => setCreated(null)} />}
      {failure && <ErrorState error={failure} title="The change was refused" />}
      <Loaded query={users} what="members" isEmpty={noItems} empty={<Empty title="No members yet">Invite someone, or open the first-owner link.</Empty>}>
        {(list) => (
          <DataTable<User>
            label="Members"
            rows={list}
            rowId={(u) => u.id}
            columns={[
              { id: "email", header: "Email", size: 240, grow: true, cell: (u) => <span className="strong">{u.email}</span> },
              { id: "name", header: "Name", size: 160, cell: (u) => u.name || "—" },
              {
                id: "role",
                header: "Role",
                size: 140,
                cell: (u) =>
                  manageable(u.role) && u.id !== session!.identity.userId ? (
                    <select className="input input-sm" aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => change.mutate({ id: u.id, role: e.target.value as Role })}>
                      {assignable.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <span className="badge">{u.role}</span>
                  ),
              },
              { id: "created", header: "Joined", size: 110, cell: (u) => formatRelative(u.created) },
              {
                id: "remove",
                header: "",
                size: 100,
                cell: (u) =>
                  manageable(u.role) && u.id !== session!.identity.userId ? (
                    <button
                      className="btn btn-ghost btn-danger"
                      aria-label={`Remove ${u.email}`}
                      onClick={() => window.confirm(`Remove ${u.email} from the organization? Their API keys are revoked.`) && remove.mutate(u.id)}
                    >
                      Remove
                    </button>
                  ) : null,
              },
            ]}
          />
        )}
      </Loaded>
      {isAdmin && invitations.data && invitations.data.length > 0 && (
        <>
          <h2 className="section-title">Pending invitations</h2>
          <ul className="plain-list" aria-label="Pending invitations">
            {invitations.data.map((i) => (
              <li key={i.id}>
                {i.email ?? "anyone with the link"} · <span className="badge">{i.role}</span> · <span className="muted small">expires {new Date(i.expires).toLocaleString()}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
