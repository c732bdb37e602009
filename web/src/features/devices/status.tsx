import { BatteryFullIcon, BatteryLowIcon, BatteryMediumIcon, BatteryWarningIcon } from "lucide-react";

import { Badge } from "@/components/ui/badge";
import { cn } from "@/lib/utils";

const STATUS_STYLE: Record<string, { variant: "success" | "warning" | "danger" | "muted"; dot: string }> = {
  online: { variant: "success", dot: "bg-emerald-500" },
  idle: { variant: "warning", dot: "bg-amber-500" },
  offline: { variant: "muted", dot: "bg-zinc-400" },
  error: { variant: "danger", dot: "bg-red-500" },
};

export function StatusBadge({ status }: { status: string }) {
  const style = STATUS_STYLE[status] ?? STATUS_STYLE.offline!;
  return (
    <Badge variant={style.variant} data-testid="status-badge">
      <span className={cn("size-1.5 rounded-full", style.dot)} />
      {status}
    </Badge>
  );
}

export function statusDot(status: string): string {
  return (STATUS_STYLE[status] ?? STATUS_STYLE.offline!).dot;
}

export function Battery({ level }: { level: number | null | undefined }) {
  if (level === null || level === undefined) return <span className="text-muted-foreground">—</span>;
  const pct = Math.round(level);
  const Icon = pct <= 10 ? BatteryWarningIcon : pct <= 30 ? BatteryLowIcon : pct <= 70 ? BatteryMediumIcon : BatteryFullIcon;
  return (
    <span className={cn("inline-flex items-center gap-1 tabular-nums", pct <= 20 && "text-red-600 dark:text-red-400")}>
      <Icon className="size-4" />
      {pct}%
    </span>
  );
}
