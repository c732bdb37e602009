"use client";

import { useEffect, useRef, useSyncExternalStore } from "react";

import { liveHub, type LiveState, type ReceivedEvent } from "./hub";

const EMPTY: ReceivedEvent[] = [];

export function useLiveConnection(enabled: boolean): void {
  useEffect(() => (enabled ? liveHub.acquire() : undefined), [enabled]);
}

export function useLiveState(): LiveState {
  return useSyncExternalStore(liveHub.subscribeState, liveHub.getState, () => "idle" as const);
}

export function useLiveFeed(): ReceivedEvent[] {
  return useSyncExternalStore(liveHub.subscribeState, liveHub.getFeed, () => EMPTY);
}

/** Calls the latest `handler` for every event, without resubscribing on each render. */
export function useLiveEvents(handler: (event: ReceivedEvent) => void): void {
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => liveHub.onEvent((event) => ref.current(event)), []);
}
