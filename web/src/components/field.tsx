"use client";

import { useState, type ReactNode } from "react";

import { Label } from "@/components/ui/label";
import { cn } from "@/lib/utils";

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
      {error ? <FieldError message={error} /> : hint ? <p className="text-xs text-muted-foreground">{hint}</p> : null}
    </div>
  );
}

/** A field's error message; nothing without one. */
export function FieldError({ message }: { message?: string }) {
  return message ? (
    <p className="text-xs text-destructive" role="alert">
      {message}
    </p>
  ) : null;
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

/** A form's values, a setter of one of them (`set("name", "x")`) and of them all. */
export function useFormValues<V extends object>(initial: V) {
  const [values, setValues] = useState(initial);
  const set = <K extends keyof V>(key: K, value: V[K]) => setValues((old) => ({ ...old, [key]: value }));
  return [values, set, setValues] as const;
}

/** A checkbox and its text. */
export function CheckboxLabel({
  checked,
  onChange,
  className,
  children,
}: {
  checked: boolean;
  onChange: (checked: boolean) => void;
  className?: string;
  children: ReactNode;
}) {
  return (
    <label className={cn("flex items-center gap-2 text-sm", className)}>
      <input
        type="checkbox"
        className="size-4 accent-primary"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
      />
      {children}
    </label>
  );
}

/** `list` with `item` added (`on`) or removed: the new value of a group of checkboxes. */
export function toggled<T>(list: readonly T[], item: T, on: boolean): T[] {
  return on ? [...list, item] : list.filter((x) => x !== item);
}

/** A titled group of a form's fields ("Condition", "Which alarms"). */
export function FieldGroup({ title, children, className }: { title: string; children: ReactNode; className?: string }) {
  return (
    <fieldset className={cn("grid gap-3 rounded-md border p-3", className)}>
      <legend className="px-1 text-xs font-medium tracking-wide text-muted-foreground uppercase">{title}</legend>
      {children}
    </fieldset>
  );
}
