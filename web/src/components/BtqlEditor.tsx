// The BTQL editor: CodeMirror 6 with BTQL highlighting, and parse/bind errors underlined as you
// type (the server's /btql/validate, debounced); hovering the underline shows the message.

import { useEffect, useRef } from "react";
import { basicSetup } from "codemirror";
import { EditorView, keymap } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { syntaxHighlighting } from "@codemirror/language";
import { linter, lintGutter, type Diagnostic } from "@codemirror/lint";
import type { Api, BtqlValidation } from "../lib/api";
import { btqlHighlight, btqlLanguage } from "../lib/btqlLanguage";
import { errorRange } from "../lib/diagnostics";

interface Props {
  api: Api;
  initial: string;
  onChange: (text: string) => void;
  onRun: () => void;
  onValidated?: (v: BtqlValidation | null) => void;
  /** the text sent for validation (a dashboard chart's query gets its `from:` appended) */
  toValidate?: (text: string) => string;
  /** how the text is checked, instead of `/btql/validate` of it as a whole query (error positions
   *  within the text) */
  validate?: (text: string) => Promise<BtqlValidation>;
  label?: string;
}

export function diagnosticsFor(text: string, v: BtqlValidation): Diagnostic[] {
  if (v.valid) return [];
  const { from, to } = errorRange(text, v.error.line, v.error.column);
  const expected = v.error.expected?.length ? `\nExpected: ${v.error.expected.join(", ")}` : "";
  return [{ from, to, severity: "error", message: `${v.error.class}: ${v.error.message}${expected}` }];
}

export function BtqlEditor({ api, initial, onChange, onRun, onValidated, toValidate, validate: check, label = "BTQL query" }: Props) {
  const host = useRef<HTMLDivElement>(null);
  // the latest callbacks, read by the editor's extensions (created once)
  const cb = useRef({ onChange, onRun, onValidated, toValidate, check });
  cb.current = { onChange, onRun, onValidated, toValidate, check };

  useEffect(() => {
    const validate = linter(
      async (view) => {
        const text = view.state.doc.toString();
        if (!text.trim()) {
          cb.current.onValidated?.(null);
          return [];
        }
        try {
          const { check: own, toValidate: wrap } = cb.current;
          const v = own ? await own(text) : await api.validateBtql(wrap ? wrap(text) : text);
          if (view.state.doc.toString() !== text) return []; // edited meanwhile: the next run decides
          cb.current.onValidated?.(v);
          return diagnosticsFor(text, v);
        } catch {
          return [];
        }
      },
      { delay: 250 },
    );
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initial,
        extensions: [
          keymap.of([
            {
              key: "Mod-Enter",
              run: () => {
                cb.current.onRun();
                return true;
              },
            },
          ]),
          basicSetup,
          btqlLanguage,
          syntaxHighlighting(btqlHighlight),
          validate,
          lintGutter(),
          EditorView.lineWrapping,
          EditorView.updateListener.of((u) => {
            if (u.docChanged) cb.current.onChange(u.state.doc.toString());
          }),
          EditorView.contentAttributes.of({ "aria-label": label }),
        ],
      }),
    });
    return () => view.destroy();
    // the editor is created once; `initial` is only its first text
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api]);

  return <div className="btql-editor" ref={host} />;
}
