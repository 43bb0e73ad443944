// Loop, the assistant, on every page: a chat panel beside the page that streams the agent's answer
// (text, tool-call cards, confirmations to accept or reject), with a model picker and an
// auto-accept toggle. Each message carries the page the user is on (`usePageContext`).

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useMatch, useNavigate } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { ApiError } from "../lib/api";
import { EMPTY_CHAT, applyEvent, decide, pickableModels, splitAnswer, type Chat, type ChatItem, type LoopEvent, type PageContext } from "../lib/loop";
import { Json } from "./JsonValue";

interface LoopState {
  open: boolean;
  setOpen(open: boolean): void;
  chat: Chat;
  page: PageContext;
  setPage(page: PageContext | null): void;
  /** send a message (opening the panel), with the page in view unless `page` is given */
  ask(text: string, page?: PageContext): void;
  confirm(callId: string, approve: boolean): void;
  continueTurn(): void;
  newChat(): void;
  model: string;
  setModel(model: string): void;
  models: string[];
  /** models the org can call that its Loop allowlist leaves out (not offered) */
  offList: number;
  modelsProblem: string | null;
  autoAccept: boolean;
  setAutoAccept(on: boolean): void;
}

const LoopContext = createContext<LoopState | null>(null);
const NO_PAGE: PageContext = { kind: "none" };

export function useLoop(): LoopState {
  const ctx = useContext(LoopContext);
  if (!ctx) throw new Error("useLoop outside LoopProvider");
  return ctx;
}

/** Tell Loop what page the user is on (while this component is mounted). */
export function usePageContext(page: PageContext) {
  const ctx = useContext(LoopContext);
  const key = JSON.stringify(page);
  useEffect(() => {
    if (!ctx) return;
    ctx.setPage(JSON.parse(key) as PageContext);
    return () => ctx.setPage(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, ctx?.setPage]);
}

export function LoopProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const [open, setOpen] = useState(() => sessionStorage.getItem("loopline.loop.open") === "1");
  const [chat, setChat] = useState<Chat>(EMPTY_CHAT);
  const [page, setPageState] = useState<PageContext>(NO_PAGE);
  const [conversation, setConversation] = useState<string | null>(null);
  const [chosenModel, setChosenModel] = useState<string | null>(() => localStorage.getItem("loopline.loop.model"));
  const [autoAccept, setAutoAcceptState] = useState(false);
  const queryClient = useQueryClient();
  const listed = useQuery({ queryKey: ["loop-models"], queryFn: () => api.loopModels(), enabled: open, staleTime: 60_000 });
  const models = useMemo(() => (listed.data ? pickableModels(listed.data.models, listed.data.default_model) : []), [listed.data]);
  const model = chosenModel && models.includes(chosenModel) ? chosenModel : (models[0] ?? "");
  // a model / auto-accept change still on its way: the next turn waits for it
  const pending = useRef<Promise<unknown>>(Promise.resolve());
  const pageRef = useRef(page);
  pageRef.current = page;

  const setPage = useCallback((p: PageContext | null) => setPageState(p ?? NO_PAGE), []);
  const toggle = useCallback((o: boolean) => {
    sessionStorage.setItem("loopline.loop.open", o ? "1" : "0");
    setOpen(o);
  }, []);
  const onEvent = useCallback((e: LoopEvent) => setChat((c) => applyEvent(c, e)), []);
  const failed = useCallback((e: unknown) => {
    const message = e instanceof ApiError || e instanceof Error ? e.message : String(e);
    setChat((c) => ({ ...c, status: "error", items: [...c.items, { kind: "error", message }] }));
  }, []);
  const streamed = useCallback(
    (run: () => Promise<void>) =>
      run()
        .catch(failed)
        .finally(() => setChat((c) => (c.status === "streaming" ? { ...c, status: "complete" } : c))),
    [failed],
  );

  const ask = useCallback(
    (text: string, pageOverride?: PageContext) => {
      toggle(true);
      const p = pageOverride ?? pageRef.current;
      setChat((c) => ({ ...c, status: "streaming", items: [...c.items, { kind: "user", text }] }));
      void streamed(async () => {
        let id = conversation;
        if (!id) {
          let m = model;
          if (!m) {
            // asked before the panel was ever open (e.g. "Fix with Loop"): the models are not read yet
            const l = await queryClient.fetchQuery({ queryKey: ["loop-models"], queryFn: () => api.loopModels(), staleTime: 60_000 });
            m = (chosenModel && pickableModels(l.models, l.default_model).includes(chosenModel) ? chosenModel : pickableModels(l.models, l.default_model)[0]) ?? "";
          }
          if (!m) throw new ApiError(400, "No model is available to Loop: an admin adds an AI provider secret for the organization.");
          id = (await api.createConversation({ model: m, auto_accept: autoAccept, title: text.slice(0, 80) })).id;
          setConversation(id);
        }
        await pending.current;
        await api.sendMessage(id, text, p, onEvent);
      });
    },
    [api, autoAccept, chosenModel, conversation, model, onEvent, queryClient, streamed, toggle],
  );

  const confirm = useCallback(
    (callId: string, approve: boolean) => {
      if (!conversation) return;
      setChat((c) => decide(c, callId, approve));
      void streamed(async () => {
        await pending.current;
        await api.confirmCall(conversation, callId, approve, pageRef.current, onEvent);
      });
    },
    [api, conversation, onEvent, streamed],
  );

  const continueTurn = useCallback(() => {
    if (!conversation) return;
    setChat((c) => ({ ...c, status: "streaming" }));
    void streamed(() => api.continueTurn(conversation, pageRef.current, onEvent));
  }, [api, conversation, onEvent, streamed]);

  const newChat = useCallback(() => {
    setConversation(null);
    setChat(EMPTY_CHAT);
  }, []);

  const setModel = useCallback(
    (m: string) => {
      localStorage.setItem("loopline.loop.model", m);
      setChosenModel(m);
      if (conversation) pending.current = api.changeConversation(conversation, { model: m }).catch(failed);
    },
    [api, conversation, failed],
  );

  const setAutoAccept = useCallback(
    (on: boolean) => {
      setAutoAcceptState(on);
      if (conversation) pending.current = api.changeConversation(conversation, { auto_accept: on }).catch(failed);
    },
    [api, conversation, failed],
  );

  const value = useMemo<LoopState>(
    () => ({
      open,
      setOpen: toggle,
      chat,
      page,
      setPage,
      ask,
      confirm,
      continueTurn,
      newChat,
      model,
      setModel,
      models,
      offList: listed.data ? listed.data.models.filter((m) => !m.allowed).length : 0,
      modelsProblem: listed.error ? String((listed.error as Error).message) : (listed.data?.problem ?? null),
      autoAccept,
      setAutoAccept,
    }),
    [open, toggle, chat, page, setPage, ask, confirm, continueTurn, newChat, model, setModel, models, listed.error, listed.data, autoAccept, setAutoAccept],
  );
  return <LoopContext.Provider value={value}>{children}</LoopContext.Provider>;
}

function describePage(p: PageContext): string {
  switch (p.kind) {
    case "project_logs":
      return "the project's logs";
    case "experiment":
      return "this experiment";
    case "dataset":
      return "this dataset";
    case "btql":
      return p.error ? "the sandbox query and its error" : "the sandbox query";
    default:
      return p.project_id ? "this project" : "no particular page";
  }
}

/** An answer: its text, and its code blocks (a BTQL one opens in the sandbox). */
function Answer({ text }: { text: string }) {
  const navigate = useNavigate();
  const inProject = useMatch("/app/:org/p/:project/*");
  const inOrg = useMatch("/app/:org/*");
  const base = inProject
    ? `/app/${encodeURIComponent(inProject.params.org!)}/p/${encodeURIComponent(inProject.params.project!)}`
    : `/app/${encodeURIComponent(inOrg?.params.org ?? "")}`;
  return (
    <div className="loop-msg loop-assistant">
      {splitAnswer(text).map((p, i) =>
        p.kind === "text" ? (
          <span key={i}>{p.text}</span>
        ) : (
          <div key={i} className="loop-code">
            <pre>{p.text}</pre>
            {p.btql && (
              <button className="btn btn-sm" onClick={() => navigate(`${base}/btql?q=${encodeURIComponent(p.text)}`)}>
                Open in sandbox
              </button>
            )}
          </div>
        ),
      )}
    </div>
  );
}

function ToolCard({ item, canDecide }: { item: Extract<ChatItem, { kind: "tool" }>; canDecide: boolean }) {
  const { confirm } = useLoop();
  const action = item.preview && typeof item.preview.action === "string" ? item.preview.action : null;
  return (
    <div className={`tool-card status-${item.status}`} role="group" aria-label={`Tool ${item.name}`}>
      <div className="tool-card-head">
        <span className="tool-call-name">{item.name}</span>
        <span className={`badge tool-status-${item.status}`}>{item.status === "awaiting" ? "needs your confirmation" : item.status}</span>
      </div>
      {action && <div className="tool-action">{action}</div>}
      {item.summary && <div className="muted small">{item.summary}</div>}
      {item.arguments != null && (
        <details>
          <summary className="muted small">arguments</summary>
          <Json data={item.arguments as object} />
        </details>
      )}
      {item.status === "awaiting" && item.preview && Object.keys(item.preview).length > 0 && (
        <details open>
          <summary className="muted small">preview</summary>
          <Json data={item.preview} />
        </details>
      )}
      {item.status === "awaiting" && canDecide && (
        <div className="tool-actions">
          <button className="btn btn-primary btn-sm" onClick={() => confirm(item.callId, true)}>
            Accept
          </button>
          <button className="btn btn-sm" onClick={() => confirm(item.callId, false)}>
            Reject
          </button>
        </div>
      )}
    </div>
  );
}

export function LoopPanel() {
  const loop = useLoop();
  const canWrite = useCan("member");
  const [text, setText] = useState("");
  const end = useRef<HTMLDivElement>(null);
  const { chat } = loop;
  useEffect(() => {
    // (a block: scrollIntoView returns a promise in newer browsers, which is not a cleanup)
    end.current?.scrollIntoView({ block: "end" });
  }, [chat]);
  if (!loop.open || !canWrite) return null; // viewers: the sidebar says why Loop is not theirs
  const busy = chat.status === "streaming";
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!text.trim() || busy) return;
    loop.ask(text.trim());
    setText("");
  }
  return (
    <aside className="loop-panel" aria-label="Loop">
      <header className="loop-head">
        <strong>✦ Loop</strong>
        <div className="loop-head-actions">
          <button className="btn btn-ghost btn-sm" onClick={loop.newChat} disabled={busy}>
            New chat
          </button>
          <button className="btn btn-ghost btn-sm" aria-label="Close Loop" onClick={() => loop.setOpen(false)}>
            ✕
          </button>
        </div>
      </header>
      <div className="loop-settings">
        <select className="input input-sm" aria-label="Model" value={loop.model} onChange={(e) => loop.setModel(e.target.value)} disabled={loop.models.length === 0}>
          {loop.models.length === 0 && <option value="">no model available</option>}
          {loop.models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
        {loop.offList > 0 && (
          <span className="muted small" title="The organization's Loop allowlist (Settings → Loop models) leaves these out">
            {loop.offList} off the allowlist
          </span>
        )}
        <label className="checkbox small">
          <input type="checkbox" checked={loop.autoAccept} onChange={(e) => loop.setAutoAccept(e.target.checked)} /> Auto-accept changes
        </label>
      </div>
      {loop.modelsProblem && <div className="form-error small">{loop.modelsProblem}</div>}
      <div className="loop-messages" role="log" aria-label="Loop conversation" aria-live="polite">
        {chat.items.length === 0 && (
          <div className="muted small loop-empty">
            Ask about your data: “what are the top errors this week?”, “add the failing rows to a dataset”, “why does my query fail?”. Loop sees {describePage(loop.page)}.
          </div>
        )}
        {chat.items.map((it, i) => {
          switch (it.kind) {
            case "user":
              return (
                <div key={i} className="loop-msg loop-user">
                  {it.text}
                </div>
              );
            case "assistant":
              return <Answer key={i} text={it.text} />;
            case "tool":
              return <ToolCard key={i} item={it} canDecide={canWrite && chat.status === "awaiting_confirmation"} />;
            case "error":
              return (
                <div key={i} className="form-error" role="alert">
                  {it.message}
                </div>
              );
            case "budget":
              return (
                <div key={i} className="notice">
                  Loop stopped after {it.iterations} steps.{" "}
                  <button className="btn btn-sm" onClick={loop.continueTurn} disabled={busy}>
                    Continue
                  </button>
                </div>
              );
            case "choose":
              return (
                <div key={i} className="notice">
                  Pick {it.what.replace(/_/g, " ")}:{" "}
                  {it.options.map((o) => (
                    <button key={o} className="btn btn-sm" onClick={() => loop.ask(o)} disabled={busy}>
                      {o}
                    </button>
                  ))}
                </div>
              );
          }
        })}
        {busy && <div className="muted small loop-typing">Loop is working…</div>}
        <div ref={end} />
      </div>
      <form className="loop-compose" onSubmit={submit}>
        <div className="muted small">Context: {describePage(loop.page)}</div>
        <textarea
          className="input"
          rows={3}
          aria-label="Message Loop"
          placeholder="Ask Loop…"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) submit(e);
          }}
        />
        <button className="btn btn-primary" type="submit" disabled={busy || !text.trim() || loop.models.length === 0}>
          Send
        </button>
      </form>
    </aside>
  );
}
