"use client";

import { RelativeTime } from "@/components/relative-time";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { cn } from "@/lib/utils";

import { type HealthFactor, useDeviceHealth } from "./api";

// The bands of docs/HEALTH.md: good 80-100, fair 50-79, poor 0-49.
function band(score: number): { label: string; variant: "success" | "warning" | "danger"; bar: string } {
  if (score >= 80) return { label: "good", variant: "success", bar: "bg-emerald-500" };
  if (score >= 50) return { label: "fair", variant: "warning", bar: "bg-amber-500" };
  return { label: "poor", variant: "danger", bar: "bg-red-500" };
}

const LABELS: Record<string, string> = {
  freshness: "Freshness",
  battery: "Battery",
  signal: "Signal",
  rejects: "Rejected messages",
  alarms: "Open alarms",
};

function describe(factor: HealthFactor): string {
  const v = factor.value;
  const d = factor.detail as Record<string, unknown>;
  switch (factor.name) {
    case "freshness":
      return v === null ? "never seen" : `${d.intervals} × expected interval`;
    case "battery":
      return typeof d.days_left === "number" ? `${v}% · empty in ~${d.days_left} d` : `${v}%`;
    case "signal":
      return d.limited_by === "snr" ? `SNR ${v} dB` : `RSSI ${v} dBm`;
    case "rejects":
      return `${d.rejected} of ${Number(d.accepted) + Number(d.rejected)} rejected`;
    case "alarms":
      return v === null ? "none" : `worst ${String(v)}`;
    default:
      return String(v ?? "—");
  }
}

export function HealthCard({ deviceId }: { deviceId: string }) {
  const { data: health, isPending, error } = useDeviceHealth(deviceId);
  return (
    <Card data-testid="device-health">
      <CardHeader>
        <CardTitle>Health</CardTitle>
      </CardHeader>
      <CardContent className="text-sm">
        {isPending ? (
          <Skeleton className="h-24" />
        ) : error || !health ? (
          <p className="text-muted-foreground">Health is not available.</p>
        ) : health.score === null ? (
          <p className="text-muted-foreground" data-testid="health-pending">
            Not computed yet: scores are recomputed every 5 minutes.
          </p>
        ) : (
          <>
            <div className="mb-3 flex items-baseline gap-2">
              <span className="text-3xl font-semibold tabular-nums" data-testid="health-score">
                {health.score}
              </span>
              <span className="text-muted-foreground">/ 100</span>
              <Badge variant={band(health.score).variant}>{band(health.score).label}</Badge>
            </div>
            <ul className="grid gap-2">
              {health.factors.map((factor) => (
                <li key={factor.name} data-testid="health-factor" data-factor={factor.name}>
                  <div className="flex justify-between gap-2">
                    <span>{LABELS[factor.name] ?? factor.name}</span>
                    <span className="tabular-nums">
                      {factor.score}
                      <span className="text-muted-foreground"> · weight {factor.weight}</span>
                    </span>
                  </div>
                  <div className="my-1 h-1.5 rounded-full bg-muted">
                    <div
                      className={cn("h-1.5 rounded-full", band(factor.score).bar)}
                      style={{ width: `${factor.score}%` }}
                    />
                  </div>
                  <div className="text-xs text-muted-foreground">{describe(factor)}</div>
                </li>
              ))}
            </ul>
            <p className="mt-3 text-xs text-muted-foreground">
              Computed <RelativeTime value={health.computed_at} />
            </p>
          </>
        )}
      </CardContent>
    </Card>
  );
}
