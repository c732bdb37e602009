"use client";

import { XIcon } from "lucide-react";
import type { ReactNode } from "react";

import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";

// Radix Select items cannot have an empty value, so "no filter" needs a value of its own.
const ALL = "__all__";

/** The row of filters above a list's table. */
export function FilterBar({ children }: { children: ReactNode }) {
  return <div className="flex flex-wrap items-center gap-2 border-b p-3">{children}</div>;
}

/** A select that filters a list by one value, or not at all (`null`, the first item). */
export function FilterSelect({
  label,
  allLabel,
  value,
  options,
  onChange,
  className = "w-36",
}: {
  /** The accessible name, e.g. "Filter by status". */
  label: string;
  /** The item that removes the filter, e.g. "All statuses". */
  allLabel: string;
  value: string | null | undefined;
  options: readonly { value: string; label: ReactNode }[];
  onChange: (value: string | null) => void;
  className?: string;
}) {
  return (
    <Select value={value ?? ALL} onValueChange={(v) => onChange(v === ALL ? null : v)}>
      <SelectTrigger className={className} aria-label={label}>
        <SelectValue />
      </SelectTrigger>
      <SelectContent>
        <SelectItem value={ALL}>{allLabel}</SelectItem>
        {options.map((option) => (
          <SelectItem key={option.value} value={option.value}>
            {option.label}
          </SelectItem>
        ))}
      </SelectContent>
    </Select>
  );
}

const ENABLED_OPTIONS = [
  { value: "true", label: "Enabled" },
  { value: "false", label: "Disabled" },
];

/** The `enabled` query parameter as the API's filter: true, false or absent. */
export function parseEnabled(value: string | null): boolean | undefined {
  return value === "true" ? true : value === "false" ? false : undefined;
}

/** All / Enabled / Disabled, for lists of things that can be switched off (rules, channels). */
export function EnabledFilter({
  allLabel,
  value,
  onChange,
}: {
  allLabel: string;
  value: boolean | null | undefined;
  onChange: (value: "true" | "false" | null) => void;
}) {
  return (
    <FilterSelect
      label="Filter by state"
      allLabel={allLabel}
      value={value == null ? null : String(value)}
      options={ENABLED_OPTIONS}
      onChange={(v) => onChange(v === "true" || v === "false" ? v : null)}
    />
  );
}

/** `datetime-local` input value (local time, no zone) → ISO 8601 with zone for the API. */
export function localToIso(value: string | null): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** From and To `datetime-local` inputs; their values are local times (see `localToIso`). */
export function DateRangeFilter({
  from,
  to,
  onChange,
  fromTitle,
  toTitle,
}: {
  from: string;
  to: string;
  onChange: (changes: { from: string } | { to: string }) => void;
  fromTitle?: string;
  toTitle?: string;
}) {
  return (
    <>
      <label className="flex items-center gap-1.5 text-sm text-muted-foreground" title={fromTitle}>
        From
        <Input type="datetime-local" className="w-52" value={from} onChange={(e) => onChange({ from: e.target.value })} />
      </label>
      <label className="flex items-center gap-1.5 text-sm text-muted-foreground" title={toTitle}>
        To
        <Input type="datetime-local" className="w-52" value={to} onChange={(e) => onChange({ to: e.target.value })} />
      </label>
    </>
  );
}

/** Shown while any filter is set; `onClear` removes them all. */
export function ClearFiltersButton({ onClear }: { onClear: () => void }) {
  return (
    <Button variant="ghost" size="sm" onClick={onClear}>
      <XIcon />
      Clear
    </Button>
  );
}
