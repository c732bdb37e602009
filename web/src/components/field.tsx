import type { ReactNode } from "react";

import { Label } from "@/components/ui/label";

export function Field({
  id,
  label,
  hint,
  error,
  children,
}: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string;
  children: ReactNode;
}) {
  return (
    <div className="grid content-start gap-1.5">
      <Label htmlFor={id}>{label}</Label>
      {children}
      {error ? (
        <p className="text-xs text-destructive" role="alert">
          {error}
        </p>
      ) : hint ? (
        <p className="text-xs text-muted-foreground">{hint}</p>
      ) : null}
    </div>
  );
}

/** Field errors from a 422 envelope: `details` is `[{loc: ["body", "name"], msg}]`. */
export function fieldErrors(details: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(details)) return out;
  for (const item of details as { loc?: unknown[]; msg?: string }[]) {
    const loc = item.loc ?? [];
    const name = String(loc[0] === "body" ? (loc[1] ?? "") : (loc.at(-1) ?? ""));
    if (name && item.msg && !out[name]) out[name] = item.msg.replace(/^Value error, /, "");
  }
  return out;
}
