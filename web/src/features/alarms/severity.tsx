import { Badge } from "@/components/ui/badge";
import { cn } from "@/lib/utils";

import type { AlarmStatus, Severity } from "./api";

const SEVERITY_STYLE: Record<Severity, { badge: string; dot: string; label: string }> = {
  CRITICAL: { badge: "bg-red-500/12 text-red-700 dark:text-red-400", dot: "bg-red-500", label: "Critical" },
  MAJOR: { badge: "bg-orange-500/12 text-orange-700 dark:text-orange-400", dot: "bg-orange-500", label: "Major" },
  MINOR: { badge: "bg-amber-500/15 text-amber-700 dark:text-amber-400", dot: "bg-amber-400", label: "Minor" },
  WARNING: { badge: "bg-sky-500/12 text-sky-700 dark:text-sky-400", dot: "bg-sky-500", label: "Warning" },
};

export function severityLabel(severity: Severity): string {
  return SEVERITY_STYLE[severity]?.label ?? severity;
}

export function severityDot(severity: Severity): string {
  return SEVERITY_STYLE[severity]?.dot ?? "bg-zinc-400";
}

export function SeverityBadge({ severity }: { severity: Severity }) {
  const style = SEVERITY_STYLE[severity];
  return (
    <Badge variant="outline" className={cn("border-transparent", style?.badge)} data-testid="severity-badge">
      <span className={cn("size-1.5 rounded-full", style?.dot)} />
      {severity}
    </Badge>
  );
}

const STATUS_VARIANT: Record<AlarmStatus, "danger" | "warning" | "muted"> = {
  ACTIVE: "danger",
  ACKNOWLEDGED: "warning",
  CLEARED: "muted",
};

export function AlarmStatusBadge({ status }: { status: AlarmStatus }) {
  return (
    <Badge variant={STATUS_VARIANT[status] ?? "muted"} data-testid="alarm-status">
      {status.toLowerCase()}
    </Badge>
  );
}
