"use client";

import type { ReactNode } from "react";

import { CheckboxLabel, toggled } from "@/components/field";
import { cn } from "@/lib/utils";

import { useSiteOptions } from "./api";

/** The tenant's sites as checkboxes; `value` holds the ids ticked. `empty` shows when there are none. */
export function SiteChecklist({
  id,
  value,
  onChange,
  empty,
  className,
}: {
  id?: string;
  value: string[];
  onChange: (ids: string[]) => void;
  empty: ReactNode;
  className?: string;
}) {
  const { data: sites } = useSiteOptions();
  if (!sites?.length) return <p className="text-sm text-muted-foreground">{empty}</p>;
  return (
    <div id={id} className={cn("grid max-h-40 gap-1 overflow-y-auto rounded-md border p-2", className)}>
      {sites.map((site) => (
        <CheckboxLabel
          key={site.id}
          checked={value.includes(site.id)}
          onChange={(on) => onChange(toggled(value, site.id, on))}
        >
          <span className="truncate">{site.name}</span>
        </CheckboxLabel>
      ))}
    </div>
  );
}
