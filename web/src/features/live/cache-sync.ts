"use client";

import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useRef } from "react";

import { useTenantId } from "@/features/auth/hooks";
import { deviceKeys, type Device } from "@/features/devices/api";

import { useLiveEvents } from "./hooks";

// Status counts are recounted from the server at most this often while events stream in.
const COUNTS_REFRESH_MS = 10_000;

type DeviceCache = Device | { data: Device[] } | undefined;

function patchDevice(queryClient: QueryClient, tenantId: string, id: string, patch: Partial<Device>): void {
  queryClient.setQueriesData<DeviceCache>({ queryKey: deviceKeys.all(tenantId) }, (old) => {
    if (!old) return old;
    if ("data" in old && Array.isArray(old.data)) {
      if (!old.data.some((d) => d.id === id)) return old;
      return { ...old, data: old.data.map((d) => (d.id === id ? { ...d, ...patch } : d)) };
    }
    if ("id" in old && old.id === id) return { ...old, ...patch };
    return old;
  });
}

/** Applies WebSocket events to cached devices, so lists and details update without polling. */
export function useLiveCacheSync(): void {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  const countsTimer = useRef<number | undefined>(undefined);

  useLiveEvents((event) => {
    if (!tenantId || !event.device_id) return;
    if (event.type === "device_status") {
      patchDevice(queryClient, tenantId, event.device_id, {
        status: event.status as Device["status"],
        last_seen: event.last_seen,
      });
      if (countsTimer.current === undefined) {
        countsTimer.current = window.setTimeout(() => {
          countsTimer.current = undefined;
          void queryClient.invalidateQueries({ queryKey: deviceKeys.counts(tenantId) });
        }, COUNTS_REFRESH_MS);
      }
    } else if (event.type === "telemetry") {
      patchDevice(queryClient, tenantId, event.device_id, { last_seen: event.ts });
    }
  });
}
