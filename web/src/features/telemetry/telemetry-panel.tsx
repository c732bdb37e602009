"use client";

import { useQueryClient } from "@tanstack/react-query";
import { ActivityIcon, LineChartIcon } from "lucide-react";
import { useMemo, useState } from "react";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice } from "@/components/error-notice";
import { RelativeTime } from "@/components/relative-time";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { useTenantId } from "@/features/auth/hooks";
import { useLiveEvents } from "@/features/live/hooks";
import { formatValue } from "@/lib/format";
import { cn } from "@/lib/utils";

import {
  RANGES,
  telemetryKeys,
  useLatestTelemetry,
  useTelemetrySeries,
  type Aggregate,
  type Latest,
  type Point,
  type Series,
} from "./api";
import { SERIES_COLORS, TelemetryChart } from "./telemetry-chart";

// More lines than this on one chart stop being readable.
const MAX_CHART_KEYS = 6;
const AGGREGATES: Aggregate[] = ["avg", "min", "max", "last"];

// Only ever called from event handlers (the window end moves when the user asks).
const now = () => Date.now();

function isNumeric(point: Point | undefined): boolean {
  return typeof point?.value === "number" || typeof point?.value === "boolean";
}

export function LatestValues({ deviceId }: { deviceId: string }) {
  const { data, isPending, error } = useLatestTelemetry(deviceId);
  const entries = Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Card>
      <CardHeader>
        <CardTitle>Latest values</CardTitle>
      </CardHeader>
      <CardContent>
        {isPending ? (
          <div className="grid gap-2">
            <Skeleton className="h-5" />
            <Skeleton className="h-5" />
          </div>
        ) : error ? (
          <ErrorNotice error={error} />
        ) : entries.length === 0 ? (
          <EmptyState icon={ActivityIcon} title="No telemetry yet">
            Values appear here as soon as the device reports.
          </EmptyState>
        ) : (
          <dl className="grid grid-cols-[minmax(0,1fr)_auto] gap-x-4 gap-y-2 text-sm" data-testid="latest-values">
            {entries.map(([key, point]) => (
              <div key={key} className="contents">
                <dt className="truncate font-mono text-xs leading-5 text-muted-foreground" title={key}>
                  {key}
                </dt>
                <dd className="text-right">
                  <span className="font-medium tabular-nums">{formatValue(point.value)}</span>
                  <span className="ml-2 text-xs text-muted-foreground">
                    <RelativeTime value={point.ts} />
                  </span>
                </dd>
              </div>
            ))}
          </dl>
        )}
      </CardContent>
    </Card>
  );
}

export function TelemetryPanel({ deviceId }: { deviceId: string }) {
  const tenantId = useTenantId();
  const queryClient = useQueryClient();
  const latest = useLatestTelemetry(deviceId);
  const numericKeys = useMemo(
    () =>
      Object.entries(latest.data ?? {})
        .filter(([, point]) => isNumeric(point))
        .map(([key]) => key)
        .sort(),
    [latest.data],
  );
  const [picked, setPicked] = useState<string[] | null>(null);
  const keys = (picked ?? numericKeys.slice(0, 4)).filter((k) => numericKeys.includes(k));
  const [rangeIndex, setRangeIndex] = useState(2);
  const range = RANGES[rangeIndex]!;
  const [agg, setAgg] = useState<Aggregate>("avg");
  // The window end moves only when the user asks (or the range changes); live points extend it.
  const [to, setTo] = useState(now);
  const series = useTelemetrySeries(deviceId, keys, range, agg, to);
  const [live, setLive] = useState<Series>({});

  useLiveEvents((event) => {
    if (event.type !== "telemetry" || event.device_id !== deviceId) return;
    // Latest values: patch the cache instead of refetching on every message.
    queryClient.setQueryData<Latest>(telemetryKeys.latest(tenantId ?? "", deviceId), (old) => {
      const next = { ...(old ?? {}) };
      for (const [key, value] of Object.entries(event.values)) {
        next[key] = { ts: event.ts, value: value as Point["value"] };
      }
      return next;
    });
    setLive((old) => {
      const next = { ...old };
      const cutoff = Date.now() - range.seconds * 1000;
      for (const [key, value] of Object.entries(event.values)) {
        const points = (next[key] ?? []).filter((p) => Date.parse(p.ts) >= cutoff);
        next[key] = [...points, { ts: event.ts, value: value as Point["value"] }];
      }
      return next;
    });
  });

  const merged = useMemo(() => {
    const out: Series = {};
    for (const key of keys) out[key] = [...(series.data?.[key] ?? []), ...(live[key] ?? [])];
    return out;
  }, [keys, series.data, live]);
  const hasPoints = keys.some((key) => (merged[key]?.length ?? 0) > 0);

  function selectRange(index: number) {
    setRangeIndex(index);
    setTo(now());
    setLive({});
  }

  function toggleKey(key: string) {
    setPicked((old) => {
      const current = old ?? keys;
      if (current.includes(key)) return current.filter((k) => k !== key);
      return current.length >= MAX_CHART_KEYS ? current : [...current, key];
    });
  }

  return (
    <Card>
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-3">
        <div>
          <CardTitle>Telemetry</CardTitle>
          <CardDescription className="mt-1">
            {range.interval} buckets, {agg}
          </CardDescription>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <div className="inline-flex rounded-md border p-0.5" role="group" aria-label="Aggregate">
            {AGGREGATES.map((a) => (
              <Button
                key={a}
                size="sm"
                variant={a === agg ? "secondary" : "ghost"}
                className="h-7 px-2"
                onClick={() => setAgg(a)}
              >
                {a}
              </Button>
            ))}
          </div>
          <div className="inline-flex rounded-md border p-0.5" role="group" aria-label="Time range">
            {RANGES.map((r, i) => (
              <Button
                key={r.label}
                size="sm"
                variant={i === rangeIndex ? "secondary" : "ghost"}
                className="h-7 px-2"
                onClick={() => selectRange(i)}
              >
                {r.label}
              </Button>
            ))}
          </div>
        </div>
      </CardHeader>
      <CardContent>
        {numericKeys.length > 0 ? (
          <div className="mb-3 flex flex-wrap gap-1.5">
            {numericKeys.map((key) => {
              const index = keys.indexOf(key);
              return (
                <button
                  key={key}
                  type="button"
                  onClick={() => toggleKey(key)}
                  className={cn(
                    "inline-flex items-center gap-1.5 rounded-full border px-2.5 py-0.5 font-mono text-xs transition-colors",
                    index >= 0 ? "bg-secondary" : "text-muted-foreground hover:bg-accent",
                  )}
                  aria-pressed={index >= 0}
                >
                  <span
                    className="size-2 rounded-full"
                    style={{ background: index >= 0 ? SERIES_COLORS[index % SERIES_COLORS.length] : "transparent" }}
                  />
                  {key}
                </button>
              );
            })}
          </div>
        ) : null}
        {series.error ? (
          <ErrorNotice error={series.error} />
        ) : latest.isPending || (series.isPending && keys.length > 0) ? (
          <Skeleton className="h-[280px]" />
        ) : !hasPoints ? (
          <EmptyState icon={LineChartIcon} title="No data in this time range">
            {numericKeys.length === 0
              ? "This device has not reported numeric values yet."
              : "Pick a longer range or wait for the device to report."}
          </EmptyState>
        ) : (
          <TelemetryChart series={merged} keys={keys} />
        )}
      </CardContent>
    </Card>
  );
}
