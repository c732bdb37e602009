"use client";

import { useQuery } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { ApiError, apiGet } from "@/lib/api/client";

// Hand-typed from the DESIGN §4 contract until the endpoints are in the generated schema.
export interface Point {
  ts: string;
  value: number | boolean | string | null;
}
export type Series = Record<string, Point[]>;
export type Latest = Record<string, Point>;

export type Aggregate = "avg" | "min" | "max" | "sum" | "count" | "last";

export interface RangeOption {
  label: string;
  seconds: number;
  /** Bucket size: ~60–360 points per series, enough detail without megabytes per chart. */
  interval: string;
}

export const RANGES: RangeOption[] = [
  { label: "1h", seconds: 3600, interval: "1m" },
  { label: "6h", seconds: 6 * 3600, interval: "5m" },
  { label: "24h", seconds: 86400, interval: "15m" },
  { label: "7d", seconds: 7 * 86400, interval: "1h" },
  { label: "30d", seconds: 30 * 86400, interval: "6h" },
];

export const telemetryKeys = {
  all: (tenantId: string, deviceId: string) => ["tenants", tenantId, "telemetry", deviceId] as const,
  latest: (tenantId: string, deviceId: string) => [...telemetryKeys.all(tenantId, deviceId), "latest"] as const,
  series: (tenantId: string, deviceId: string, params: Record<string, string>) =>
    [...telemetryKeys.all(tenantId, deviceId), "series", params] as const,
};

/**
 * A server without the telemetry endpoints answers 404 NOT_FOUND (no route); show that as
 * "no data yet" rather than an error, so the dashboard works against any server version.
 */
async function orEmpty<T>(request: Promise<T>, empty: T): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiError && error.isMissingEndpoint) return empty;
    throw error;
  }
}

function devicePath(tenantId: string, deviceId: string): string {
  return `/api/v1/tenants/${encodeURIComponent(tenantId)}/devices/${encodeURIComponent(deviceId)}`;
}

export function useLatestTelemetry(deviceId: string | null) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: telemetryKeys.latest(tenantId ?? "", deviceId ?? ""),
    queryFn: () => orEmpty(apiGet<Latest>(`${devicePath(tenantId!, deviceId!)}/telemetry/latest`), {}),
    enabled: !!tenantId && !!deviceId,
    // Live events keep it current; a slow poll covers a dropped WebSocket.
    refetchInterval: 60_000,
  });
}

export function useTelemetrySeries(
  deviceId: string | null,
  keys: string[],
  range: RangeOption,
  agg: Aggregate,
  /** Rounded to the interval so the query key is stable between renders. */
  to: number,
) {
  const tenantId = useTenantId();
  const params = {
    keys: [...keys].sort().join(","),
    from: new Date(to - range.seconds * 1000).toISOString(),
    to: new Date(to).toISOString(),
    interval: range.interval,
    agg,
  };
  return useQuery({
    queryKey: telemetryKeys.series(tenantId ?? "", deviceId ?? "", params),
    queryFn: () => orEmpty(apiGet<Series>(`${devicePath(tenantId!, deviceId!)}/telemetry`, params), {}),
    enabled: !!tenantId && !!deviceId && keys.length > 0,
  });
}
