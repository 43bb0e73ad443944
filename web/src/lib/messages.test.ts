import { describe, expect, it } from "vitest";
import { asChat } from "./messages";

describe("asChat", () => {
  it("reads OpenAI chat messages with text parts and tool calls", () => {
    const chat = asChat([
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "hi" }, { type: "image_url", image_url: { url: "x" } }] },
      { role: "assistant", content: null, tool_calls: [{ id: "t1", type: "function", function: { name: "lookup", arguments: '{"q": 1}' } }] },
    ]);
    expect(chat).toHaveLength(3);
    expect(chat![1]).toMatchObject({ role: "user", text: "hi", other: [{ type: "image_url", image_url: { url: "x" } }] });
    expect(chat![2].toolCalls).toEqual([{ name: "lookup", arguments: { q: 1 }, id: "t1" }]);
  });

  it("reads request bodies, choices, single messages and Anthropic blocks", () => {
    expect(asChat({ model: "m", messages: [{ role: "user", content: "q" }] })).toEqual([
      { role: "user", text: "q", toolCalls: [], other: [] },
    ]);
    expect(asChat([{ index: 0, message: { role: "assistant", content: "a" }, finish_reason: "stop" }])![0].text).toBe("a");
    expect(asChat({ role: "assistant", content: "yo" })![0].role).toBe("assistant");
    const anthropic = asChat([{ role: "assistant", content: [{ type: "text", text: "x" }, { type: "tool_use", id: "u", name: "calc", input: { a: 1 } }] }]);
    expect(anthropic![0].toolCalls[0]).toEqual({ name: "calc", arguments: { a: 1 }, id: "u" });
  });

  it("refuses what is not a conversation", () => {
    expect(asChat("hello")).toBeNull();
    expect(asChat([])).toBeNull();
    expect(asChat([{ role: "user", content: "a" }, { question: "b" }])).toBeNull();
    expect(asChat({ question: "hi" })).toBeNull();
    expect(asChat([{ role: "user", content: { weird: true } }])).toBeNull();
  });
});
