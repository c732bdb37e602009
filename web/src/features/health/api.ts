"use client";

import { useQuery } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";

export type DeviceHealth = components["schemas"]["DeviceHealthOut"];
export type HealthFactor = components["schemas"]["Factor"];

export const healthKeys = {
  device: (tenantId: string, id: string) => ["tenants", tenantId, "health", "device", id] as const,
};

export function useDeviceHealth(id: string) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: healthKeys.device(tenantId ?? "", id),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/devices/{device_id}/health", {
          params: { path: { tenant_id: tenantId!, device_id: id } },
        }),
      ).data,
    enabled: !!tenantId,
    // The scheduler recomputes scores every 5 minutes.
    refetchInterval: 60_000,
  });
}
