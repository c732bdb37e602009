"use client";

import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components, operations } from "@/lib/api/schema";

export type Device = components["schemas"]["DeviceOut"];
export type DeviceWithToken = components["schemas"]["DeviceWithToken"];
export type DeviceCreate = components["schemas"]["DeviceCreate"];
export type DeviceUpdate = components["schemas"]["DeviceUpdate"];
export type DeviceStatus = components["schemas"]["DeviceStatus"];
export type DeviceSort = components["schemas"]["DeviceSort"];
export type ImportedDevice = components["schemas"]["ImportedDevice"];
export type DeviceListParams = NonNullable<operations["list_devices"]["parameters"]["query"]>;

export const DEVICE_STATUSES: DeviceStatus[] = ["online", "idle", "offline", "error"];

export const deviceKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "devices"] as const,
  lists: (tenantId: string) => [...deviceKeys.all(tenantId), "list"] as const,
  list: (tenantId: string, params: DeviceListParams) => [...deviceKeys.lists(tenantId), params] as const,
  detail: (tenantId: string, id: string) => [...deviceKeys.all(tenantId), "detail", id] as const,
  counts: (tenantId: string) => [...deviceKeys.all(tenantId), "counts"] as const,
};

export function useDevices(params: DeviceListParams) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: deviceKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/devices", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    // Keep the old page on screen while the next one loads: no flicker when paging or typing.
    placeholderData: keepPreviousData,
  });
}

export function useDevice(id: string | null) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: deviceKeys.detail(tenantId ?? "", id ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/devices/{device_id}", {
          params: { path: { tenant_id: tenantId!, device_id: id! } },
        }),
      ).data,
    enabled: !!tenantId && !!id,
  });
}

/** Fleet counts by status and in all, from one request (`GET .../devices/counts`). */
export function useDeviceCounts() {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: deviceKeys.counts(tenantId ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/devices/counts", {
          params: { path: { tenant_id: tenantId! } },
        }),
      ).data as Record<DeviceStatus | "total", number>,
    enabled: !!tenantId,
    refetchInterval: 60_000,
  });
}

function useInvalidateDevices() {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  return () => queryClient.invalidateQueries({ queryKey: deviceKeys.all(tenantId ?? "") });
}

export function useCreateDevice() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateDevices();
  return useMutation({
    mutationFn: async (body: DeviceCreate) =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/devices", {
          params: { path: { tenant_id: tenantId! } },
          body,
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useUpdateDevice(id: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateDevices();
  return useMutation({
    mutationFn: async (body: DeviceUpdate) =>
      unwrap(
        await api.PATCH("/api/v1/tenants/{tenant_id}/devices/{device_id}", {
          params: { path: { tenant_id: tenantId!, device_id: id } },
          body,
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useDeleteDevice(id: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateDevices();
  return useMutation({
    mutationFn: async () =>
      unwrap(
        await api.DELETE("/api/v1/tenants/{tenant_id}/devices/{device_id}", {
          params: { path: { tenant_id: tenantId!, device_id: id } },
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useRotateCredentials(id: string) {
  const tenantId = useTenantId();
  return useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/devices/{device_id}/credentials/rotate", {
          params: { path: { tenant_id: tenantId!, device_id: id } },
        }),
      ).data,
  });
}

export function useImportDevices() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateDevices();
  return useMutation({
    mutationFn: async (csv: string) =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/devices/import", {
          params: { path: { tenant_id: tenantId! } },
          body: csv,
          // The endpoint reads the raw CSV body; openapi-fetch would JSON-encode a string.
          bodySerializer: (body: string) => body,
          headers: { "Content-Type": "text/csv" },
        }),
      ).data,
    onSuccess: invalidate,
  });
}
