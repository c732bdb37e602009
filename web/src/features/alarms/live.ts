"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";

import { useTenantId } from "@/features/auth/hooks";
import { useLiveEvents } from "@/features/live/hooks";

import { alarmKeys, type Alarm, type AlarmStatus, type Severity } from "./api";

// A burst of alarm events (a batch that raised many) becomes one refetch of the open views;
// after one, the next waits at least the gap, so a storm costs at most a request or two
// every few seconds of the tenant's rate limit (60 requests/minute by default).
const FIRST_DELAY_MS = 300;
const MIN_GAP_MS = 4_000;

type AlarmListCache = { data: Alarm[] } | undefined;

/**
 * Keeps the alarm views current from the WebSocket's `alarm` events (one per raise,
 * escalation, acknowledgement or clear; never per repeat): a known alarm is patched at once,
 * then lists, counts and the open detail are refetched (a raised alarm is new to every list).
 */
export function useAlarmLiveSync(): void {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  const timer = useRef<number | undefined>(undefined);
  const lastRun = useRef(0);

  useEffect(() => () => window.clearTimeout(timer.current), []);

  useLiveEvents((event) => {
    if (event.type !== "alarm" || !tenantId) return;
    const id = typeof event.alarm_id === "string" ? event.alarm_id : null;
    if (id) {
      const patch: Partial<Alarm> = {};
      if (typeof event.status === "string") patch.status = event.status as AlarmStatus;
      if (typeof event.severity === "string") patch.severity = event.severity as Severity;
      if (typeof event.count === "number") patch.count = event.count;
      if (event.value !== null && event.value !== undefined) patch.last_value = event.value;
      queryClient.setQueriesData<AlarmListCache>({ queryKey: alarmKeys.lists(tenantId) }, (old) =>
        old && old.data.some((a) => a.id === id)
          ? { ...old, data: old.data.map((a) => (a.id === id ? { ...a, ...patch } : a)) }
          : old,
      );
    }
    if (timer.current !== undefined) return;
    const delay = Math.max(FIRST_DELAY_MS, lastRun.current + MIN_GAP_MS - Date.now());
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      lastRun.current = Date.now();
      void queryClient.invalidateQueries({ queryKey: alarmKeys.all(tenantId) });
    }, delay);
  });
}
