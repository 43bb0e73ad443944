// Chat messages inside span inputs and outputs, recognised so they can be shown as messages.
// Shapes: OpenAI chat (`[{role, content}]`, content a string or parts, `tool_calls`), a request
// body (`{messages: [...]}`), choices (`[{message: {...}, finish_reason}]`), Anthropic content
// blocks (`[{type: "text", text}]`, `tool_use`, `tool_result`), or one message object.

export interface ToolCall {
  name: string;
  arguments: unknown;
  id?: string;
}

export interface ChatMessage {
  role: string;
  text: string;
  toolCalls: ToolCall[];
  /** parts that are not text (images, files, ...) kept as JSON */
  other: unknown[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseArgs(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function contentParts(content: unknown): { text: string; toolCalls: ToolCall[]; other: unknown[] } | null {
  if (content == null) return { text: "", toolCalls: [], other: [] };
  if (typeof content === "string") return { text: content, toolCalls: [], other: [] };
  if (!Array.isArray(content)) return null;
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  const other: unknown[] = [];
  for (const part of content) {
    if (typeof part === "string") texts.push(part);
    else if (isObject(part) && (part.type === "text" || part.type === "input_text" || part.type === "output_text") && typeof part.text === "string")
      texts.push(part.text);
    else if (isObject(part) && part.type === "tool_use")
      toolCalls.push({ name: String(part.name ?? "tool"), arguments: part.input, id: part.id as string | undefined });
    else if (isObject(part) && part.type === "tool_result") {
      const inner = contentParts(part.content);
      texts.push(inner ? inner.text : JSON.stringify(part.content));
    } else other.push(part);
  }
  return { text: texts.join("\n\n"), toolCalls, other };
}

function asMessage(v: unknown): ChatMessage | null {
  if (!isObject(v)) return null;
  const inner = isObject(v.message) && typeof v.message.role === "string" ? v.message : v;
  if (typeof inner.role !== "string") return null;
  const parts = contentParts(inner.content);
  if (parts === null) return null;
  const calls = Array.isArray(inner.tool_calls) ? inner.tool_calls : [];
  for (const c of calls) {
    if (isObject(c) && isObject(c.function))
      parts.toolCalls.push({ name: String(c.function.name ?? "tool"), arguments: parseArgs(c.function.arguments), id: c.id as string | undefined });
  }
  if (isObject(inner.function_call))
    parts.toolCalls.push({ name: String(inner.function_call.name ?? "function"), arguments: parseArgs(inner.function_call.arguments) });
  return { role: inner.role, ...parts };
}

/** The messages `value` holds, or null when it is not a conversation. */
export function asChat(value: unknown): ChatMessage[] | null {
  let list: unknown = value;
  if (isObject(value) && Array.isArray(value.messages)) list = value.messages;
  else if (isObject(value) && typeof value.role === "string") list = [value];
  if (!Array.isArray(list) || list.length === 0) return null;
  const out: ChatMessage[] = [];
  for (const item of list) {
    const m = asMessage(item);
    if (m === null) return null;
    out.push(m);
  }
  return out;
}
