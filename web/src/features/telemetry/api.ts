"use client";

import { useQuery } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { ApiError, api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";

/** The API types `value` as `unknown` (any JSON scalar); devices send these three kinds. */
export interface Point {
  ts: string;
  value: number | boolean | string | null;
}
export type Series = Record<string, Point[]>;
export type Latest = Record<string, Point>;

export type Aggregate = components["schemas"]["Aggregate"];

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
 * A server without the telemetry endpoints (older than the dashboard) answers 404 NOT_FOUND
 * for the route; show that as "no data yet" rather than an error.
 */
async function orEmpty<T>(request: Promise<T>, empty: T): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiError && error.isMissingEndpoint) return empty;
    throw error;
  }
}

export function useLatestTelemetry(deviceId: string | null) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: telemetryKeys.latest(tenantId ?? "", deviceId ?? ""),
    queryFn: () =>
      orEmpty(
        (async () =>
          unwrap(
            await api.GET("/api/v1/tenants/{tenant_id}/devices/{device_id}/telemetry/latest", {
              params: { path: { tenant_id: tenantId!, device_id: deviceId! } },
            }),
          ).data as Latest)(),
        {},
      ),
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
  const params: { keys: string; from: string; to: string; interval: string; agg: Aggregate } = {
    keys: [...keys].sort().join(","),
    from: new Date(to - range.seconds * 1000).toISOString(),
    to: new Date(to).toISOString(),
    interval: range.interval,
    agg,
  };
  return useQuery({
    queryKey: telemetryKeys.series(tenantId ?? "", deviceId ?? "", params),
    queryFn: () =>
      orEmpty(
        (async () =>
          unwrap(
            await api.GET("/api/v1/tenants/{tenant_id}/devices/{device_id}/telemetry", {
              params: { path: { tenant_id: tenantId!, device_id: deviceId! }, query: params },
            }),
          ).data as Series)(),
        {},
      ),
    enabled: !!tenantId && !!deviceId && keys.length > 0,
  });
}
