import type { ReactNode } from "react";
import { ApiError } from "../lib/api";

export function Loading({ what = "data" }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      Loading {what}…
    </div>
  );
}

interface ErrorProps {
  error: unknown;
  title?: string;
  action?: ReactNode;
  /** say where in the query the error is (false when the user did not write that query) */
  showPosition?: boolean;
}

export function ErrorState({ error, title = "Something went wrong", action, showPosition = true }: ErrorProps) {
  const message = error instanceof Error ? error.message : String(error);
  const where = showPosition && error instanceof ApiError && error.position ? ` (line ${error.position.line}, column ${error.position.column})` : "";
  const cls = error instanceof ApiError && error.errorClass ? `${error.errorClass}: ` : "";
  return (
    <div className="state state-error" role="alert">
      <strong>{title}</strong>
      <p>
        {cls}
        {message}
        {where}
      </p>
      {action}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children && <div className="state-body">{children}</div>}
    </div>
  );
}
