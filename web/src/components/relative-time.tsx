"use client";

import { useEffect, useState } from "react";

import { formatDateTime, relativeTime } from "@/lib/format";

/** Re-renders every 15 s so "last seen" stays honest on a screen left open all day. */
function useNow(intervalMs = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function RelativeTime({ value, fallback = "never" }: { value: string | null | undefined; fallback?: string }) {
  const now = useNow();
  const text = relativeTime(value, now);
  if (!text) return <span className="text-muted-foreground">{fallback}</span>;
  return (
    <time dateTime={value ?? undefined} title={formatDateTime(value)}>
      {text}
    </time>
  );
}
