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

interface LoadedProps<T> {
  query: { isPending: boolean; isError: boolean; error: unknown; data: T | undefined };
  what: string;
  /** shown instead of `children` when `isEmpty(data)` */
  empty?: ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}

/** A query's loading, error and empty states, else its data rendered by `children`. */
export function Loaded<T>({ query, what, empty, isEmpty, children }: LoadedProps<T>) {
  if (query.isPending) return <Loading what={what} />;
  if (query.isError || query.data === undefined) return <ErrorState error={query.error} title={`Could not load ${what}`} />;
  if (empty !== undefined && isEmpty?.(query.data)) return <>{empty}</>;
  return <>{children(query.data)}</>;
}

export const noItems = (items: readonly unknown[]) => items.length === 0;
