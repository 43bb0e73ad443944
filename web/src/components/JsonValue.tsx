// A span field shown readably: conversations as messages, text as text, JSON folded.

import { JsonView, defaultStyles } from "react-json-view-lite";
import "react-json-view-lite/dist/index.css";
import { asChat, type ChatMessage } from "../lib/messages";

const jsonStyle = { ...defaultStyles, container: "json-view" };
const expandTwoLevels = (level: number) => level < 2;

export function Json({ data }: { data: unknown }) {
  if (data === null || typeof data !== "object") return <pre className="text-value">{JSON.stringify(data)}</pre>;
  return <JsonView data={data as object} style={jsonStyle} shouldExpandNode={expandTwoLevels} />;
}

function Message({ m }: { m: ChatMessage }) {
  return (
    <div className={`message message-${m.role}`} data-role={m.role}>
      <div className="message-role">{m.role}</div>
      {m.text && <div className="message-text">{m.text}</div>}
      {m.toolCalls.map((c, i) => (
        <div className="tool-call" key={i}>
          <span className="tool-call-name">⚙ {c.name}</span>
          <Json data={c.arguments} />
        </div>
      ))}
      {m.other.length > 0 && <Json data={m.other} />}
    </div>
  );
}

export function FieldValue({ value }: { value: unknown }) {
  const chat = asChat(value);
  if (chat) {
    return (
      <div className="messages">
        {chat.map((m, i) => (
          <Message key={i} m={m} />
        ))}
      </div>
    );
  }
  if (typeof value === "string") return <div className="text-value">{value}</div>;
  return <Json data={value} />;
}
