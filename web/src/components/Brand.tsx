export function LogoMark({ size = 22 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#4f46e5" />
      <path d="M9 22c0-6 4-10 7-10s7 4 7 10" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
      <circle cx="16" cy="12" r="3" fill="#fff" />
    </svg>
  );
}

/** The centered card of the sign-in and invitation pages. */
export function AuthCard({ title, label, onSubmit, children }: { title: string; label: string; onSubmit: (e: React.FormEvent) => void; children: React.ReactNode }) {
  return (
    <div className="signin">
      <form className="signin-card" onSubmit={onSubmit} aria-label={label}>
        <div className="signin-brand">
          <LogoMark size={36} />
          <h1>{title}</h1>
        </div>
        {children}
      </form>
    </div>
  );
}

export function FormError({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <div className="form-error" role="alert">
      {error}
    </div>
  );
}
