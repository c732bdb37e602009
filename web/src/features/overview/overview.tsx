"use client";

import { ActivityIcon, RadioIcon } from "lucide-react";
import Link from "next/link";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice } from "@/components/error-notice";
import { PageHeader } from "@/components/page-header";
import { RelativeTime } from "@/components/relative-time";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { DEVICE_STATUSES, useDeviceCounts, useDevices, type Device } from "@/features/devices/api";
import { StatusBadge, statusDot } from "@/features/devices/status";
import { useLiveFeed, useLiveState } from "@/features/live/hooks";
import type { ReceivedEvent } from "@/features/live/hub";
import { formatValue, shortId } from "@/lib/format";
import { cn } from "@/lib/utils";

function StatusCards() {
  const { data, isPending, error } = useDeviceCounts();
  if (error) return <ErrorNotice error={error} />;
  const total = data?.total ?? 0;
  return (
    <div className="grid grid-cols-2 gap-3 lg:grid-cols-5" data-testid="fleet-counts">
      <Link href="/devices/" className="rounded-lg focus-visible:ring-2 focus-visible:ring-ring/60 focus-visible:outline-none">
        <Card className="h-full p-4 transition-colors hover:bg-accent/40">
          <p className="text-xs font-medium text-muted-foreground">All devices</p>
          {isPending ? <Skeleton className="mt-2 h-7 w-16" /> : <p className="mt-1 text-2xl font-semibold tabular-nums">{total.toLocaleString()}</p>}
        </Card>
      </Link>
      {DEVICE_STATUSES.map((status) => {
        const count = data?.[status] ?? 0;
        return (
          <Link
            key={status}
            href={`/devices/?status=${status}`}
            className="rounded-lg focus-visible:ring-2 focus-visible:ring-ring/60 focus-visible:outline-none"
          >
            <Card className="h-full p-4 transition-colors hover:bg-accent/40">
              <p className="flex items-center gap-1.5 text-xs font-medium text-muted-foreground capitalize">
                <span className={cn("size-2 rounded-full", statusDot(status))} />
                {status}
              </p>
              {isPending ? (
                <Skeleton className="mt-2 h-7 w-16" />
              ) : (
                <p className="mt-1 flex items-baseline gap-2">
                  <span className="text-2xl font-semibold tabular-nums" data-testid={`count-${status}`}>
                    {count.toLocaleString()}
                  </span>
                  {total > 0 ? (
                    <span className="text-xs text-muted-foreground tabular-nums">{Math.round((count / total) * 100)}%</span>
                  ) : null}
                </p>
              )}
            </Card>
          </Link>
        );
      })}
    </div>
  );
}

function describe(event: ReceivedEvent): string {
  if (event.type === "telemetry") {
    return Object.entries(event.values)
      .slice(0, 4)
      .map(([key, value]) => `${key}=${formatValue(value)}`)
      .join("  ");
  }
  if (event.type === "device_status") return `status → ${event.status}`;
  return event.type;
}

function LiveFeed({ names }: { names: Map<string, string> }) {
  const feed = useLiveFeed();
  const state = useLiveState();
  return (
    <Card className="lg:col-span-2">
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Live feed</CardTitle>
          <CardDescription className="mt-1">Telemetry and status changes as they arrive</CardDescription>
        </div>
      </CardHeader>
      <CardContent>
        {feed.length === 0 ? (
          <EmptyState icon={RadioIcon} title={state === "live" ? "Waiting for devices to report" : "No live connection"}>
            {state === "live"
              ? "New messages appear here the moment they arrive."
              : "Live updates are not available from this server right now; lists still refresh on their own."}
          </EmptyState>
        ) : (
          <ul className="divide-y text-sm" data-testid="live-feed">
            {feed.slice(0, 20).map((event) => (
              <li key={event.seq} className="flex items-center gap-3 py-2">
                <span className="w-20 shrink-0 text-xs text-muted-foreground tabular-nums">
                  {new Date(event.receivedAt).toLocaleTimeString()}
                </span>
                {event.device_id ? (
                  <Link href={`/devices/view/?id=${event.device_id}`} className="w-40 shrink-0 truncate font-medium hover:underline">
                    {names.get(event.device_id) ?? shortId(event.device_id)}
                  </Link>
                ) : null}
                {event.type === "device_status" ? (
                  <StatusBadge status={event.status} />
                ) : (
                  <span className="min-w-0 truncate font-mono text-xs text-muted-foreground">{describe(event)}</span>
                )}
              </li>
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  );
}

function NeedsAttention() {
  const errors = useDevices({ status: "error", per_page: 5, sort: "-last_seen" });
  const offline = useDevices({ status: "offline", per_page: 5, sort: "-last_seen" });
  const isPending = errors.isPending || offline.isPending;
  const attention: Device[] = [...(errors.data?.data ?? []), ...(offline.data?.data ?? [])];
  return (
    <Card>
      <CardHeader>
        <CardTitle>Needs attention</CardTitle>
        <CardDescription>Devices in error, and the most recently lost</CardDescription>
      </CardHeader>
      <CardContent>
        {isPending ? (
          <div className="grid gap-2">
            <Skeleton className="h-5" />
            <Skeleton className="h-5" />
          </div>
        ) : attention.length === 0 ? (
          <EmptyState icon={ActivityIcon} title="All clear" />
        ) : (
          <ul className="grid gap-2 text-sm">
            {attention.map((device) => (
              <li key={device.id} className="flex items-center justify-between gap-2">
                <Link href={`/devices/view/?id=${device.id}`} className="min-w-0 truncate font-medium hover:underline">
                  {device.name}
                </Link>
                <span className="flex shrink-0 items-center gap-2 text-xs text-muted-foreground">
                  <RelativeTime value={device.last_seen} />
                  <StatusBadge status={device.status} />
                </span>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  );
}

export function Overview() {
  // The 100 most recently active devices give the feed's rows their names.
  const recent = useDevices({ per_page: 100, sort: "-last_seen" });
  const names = new Map((recent.data?.data ?? []).map((d) => [d.id, d.name]));
  return (
    <>
      <PageHeader title="Overview" description="Your fleet at a glance" />
      <div className="grid gap-4">
        <StatusCards />
        <div className="grid gap-4 lg:grid-cols-3">
          <LiveFeed names={names} />
          <NeedsAttention />
        </div>
      </div>
    </>
  );
}
