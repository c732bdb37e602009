"use client";

import * as DialogPrimitive from "@radix-ui/react-dialog";
import { useQuery } from "@tanstack/react-query";
import { XIcon } from "lucide-react";
import Link from "next/link";
import type { ReactNode } from "react";

import { CopyButton } from "@/components/copy-button";
import { ErrorNotice } from "@/components/error-notice";
import { RelativeTime } from "@/components/relative-time";
import { Skeleton } from "@/components/ui/skeleton";
import { useMe, usePermission, useTenantId } from "@/features/auth/hooks";
import { useSiteNames } from "@/features/sites/api";
import { userKeys } from "@/features/users/api";
import { api, ApiError, unwrap } from "@/lib/api/client";
import { formatDateTime, formatValue, shortId } from "@/lib/format";
import { cn } from "@/lib/utils";

import { AlarmActions } from "./alarm-actions";
import { useAlarm, useAlarmHistory, type AlarmEvent } from "./api";
import { DeviceLink } from "./devices";
import { AlarmStatusBadge, SeverityBadge, severityDot } from "./severity";

const HISTORY_TEXT: Record<string, string> = {
  raised: "Raised",
  escalated: "Escalated",
  acknowledged: "Acknowledged",
  cleared: "Cleared",
};

/** E-mails of the tenant's users, for those allowed to list them; others see "you" or an id. */
function useUserNames(): (id: string | null) => string {
  const tenantId = useTenantId();
  const { data: me } = useMe();
  const canRead = usePermission("users:read");
  const params = { page: 1, per_page: 100 };
  const { data } = useQuery({
    queryKey: userKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/users", { params: { path: { tenant_id: tenantId! }, query: params } }),
      ),
    enabled: !!tenantId && canRead,
    staleTime: 5 * 60_000,
  });
  const names = new Map((data?.data ?? []).map((u) => [u.id, u.email]));
  return (id) => {
    if (!id) return "the system";
    if (id === me?.id) return "you";
    return names.get(id) ?? `user ${shortId(id)}`;
  };
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-muted-foreground">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </>
  );
}

function History({ events, userName }: { events: AlarmEvent[]; userName: (id: string | null) => string }) {
  return (
    <ol className="relative ml-1.5 grid gap-4 border-l pl-5" data-testid="alarm-history">
      {events.map((event) => (
        <li key={event.id} className="relative text-sm" data-testid="history-entry" data-action={event.action}>
          <span
            className={cn(
              "absolute top-1.5 -left-[1.65rem] size-2.5 rounded-full ring-4 ring-background",
              event.severity ? severityDot(event.severity) : "bg-zinc-400",
            )}
          />
          <div className="flex flex-wrap items-baseline gap-x-2">
            <span className="font-medium">{HISTORY_TEXT[event.action] ?? event.action}</span>
            {event.severity && (event.action === "raised" || event.action === "escalated") ? (
              <span className="text-xs text-muted-foreground">as {event.severity}</span>
            ) : null}
            {event.value !== null && event.value !== undefined ? (
              <span className="font-mono text-xs">value {formatValue(event.value)}</span>
            ) : null}
          </div>
          <div className="text-xs text-muted-foreground">
            {formatDateTime(event.created_at)}
            {event.user_id ? ` · by ${userName(event.user_id)}` : null}
          </div>
          {event.comment ? (
            <p className="mt-1 rounded-md bg-muted px-2 py-1 text-sm whitespace-pre-wrap" data-testid="history-comment">
              {event.comment}
            </p>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

function DetailBody({ id, deviceNames }: { id: string; deviceNames: Map<string, string> }) {
  const { data: alarm, error, isPending } = useAlarm(id);
  const history = useAlarmHistory(id);
  const siteNames = useSiteNames();
  const userName = useUserNames();

  if (error) {
    return error instanceof ApiError && error.status === 404 ? (
      <p className="text-sm text-muted-foreground">This alarm no longer exists (its rule may have been deleted).</p>
    ) : (
      <ErrorNotice error={error} />
    );
  }
  if (isPending || !alarm) {
    return (
      <div className="grid gap-3">
        <Skeleton className="h-6 w-48" />
        <Skeleton className="h-40" />
      </div>
    );
  }
  return (
    <div className="grid gap-6">
      <div className="grid gap-3">
      <h2 className="text-lg font-semibold tracking-tight" data-testid="alarm-rule-name">
        {alarm.rule_name}
      </h2>
      <div className="flex flex-wrap items-center gap-2">
        <SeverityBadge severity={alarm.severity} />
        <AlarmStatusBadge status={alarm.status} />
        <span className="text-sm text-muted-foreground">
          last <RelativeTime value={alarm.last_occurrence} />
        </span>
        <div className="ml-auto">
          <AlarmActions alarm={alarm} />
        </div>
      </div>
      </div>
      <dl className="grid grid-cols-[9rem_minmax(0,1fr)] gap-x-4 gap-y-2 text-sm">
        <Row label="Device">
          <DeviceLink id={alarm.device_id} known={deviceNames.get(alarm.device_id)} />
        </Row>
        <Row label="Rule">
          <Link className="hover:underline" href={`/alarms/rules/?q=${encodeURIComponent(alarm.rule_name)}`}>
            {alarm.rule_name}
          </Link>
        </Row>
        {alarm.site_id ? <Row label="Site">{siteNames.get(alarm.site_id) ?? shortId(alarm.site_id)}</Row> : null}
        <Row label="Field">{alarm.field ? <code className="font-mono text-xs">{alarm.field}</code> : "no data"}</Row>
        <Row label="Count">{alarm.count.toLocaleString()}</Row>
        <Row label="First value">{formatValue(alarm.first_value)}</Row>
        <Row label="Last value">{formatValue(alarm.last_value)}</Row>
        <Row label="First occurrence">{formatDateTime(alarm.first_occurrence)}</Row>
        <Row label="Last occurrence">{formatDateTime(alarm.last_occurrence)}</Row>
        {alarm.acknowledged_at ? (
          <Row label="Acknowledged">
            {formatDateTime(alarm.acknowledged_at)} by {userName(alarm.acknowledged_by)}
            {alarm.ack_comment ? <span className="block text-muted-foreground">“{alarm.ack_comment}”</span> : null}
          </Row>
        ) : null}
        {alarm.cleared_at ? (
          <Row label="Cleared">
            {formatDateTime(alarm.cleared_at)} {alarm.cleared_by ? `by ${userName(alarm.cleared_by)}` : "automatically"}
            {alarm.clear_comment ? <span className="block text-muted-foreground">“{alarm.clear_comment}”</span> : null}
          </Row>
        ) : null}
        <Row label="Alarm id">
          <span className="-my-1 inline-flex items-center gap-1">
            <code className="truncate font-mono text-xs">{alarm.id}</code>
            <CopyButton value={alarm.id} label="Copy alarm id" compact />
          </span>
        </Row>
      </dl>
      <section>
        <h3 className="mb-3 text-xs font-medium tracking-wide text-muted-foreground uppercase">History</h3>
        {history.error ? (
          <ErrorNotice error={history.error} />
        ) : history.data ? (
          <History events={history.data} userName={userName} />
        ) : (
          <Skeleton className="h-24" />
        )}
      </section>
    </div>
  );
}

/** The alarm of `?alarm=<id>` in a side panel: its fields, actions and history. */
export function AlarmDrawer({
  id,
  onClose,
  deviceNames,
}: {
  id: string | null;
  onClose: () => void;
  deviceNames: Map<string, string>;
}) {
  return (
    <DialogPrimitive.Root open={!!id} onOpenChange={(open) => !open && onClose()}>
      <DialogPrimitive.Portal>
        <DialogPrimitive.Overlay className="fixed inset-0 z-40 bg-black/30" />
        <DialogPrimitive.Content
          className="fixed inset-y-0 right-0 z-40 flex w-full max-w-lg flex-col border-l bg-background shadow-lg"
          aria-describedby={undefined}
          data-testid="alarm-detail"
        >
          <div className="flex h-14 shrink-0 items-center justify-between border-b px-5">
            <DialogPrimitive.Title className="text-base font-semibold">Alarm</DialogPrimitive.Title>
            <DialogPrimitive.Close className="rounded-sm opacity-70 transition-opacity hover:opacity-100 focus-visible:ring-2 focus-visible:ring-ring/60 focus-visible:outline-none">
              <XIcon className="size-4" />
              <span className="sr-only">Close</span>
            </DialogPrimitive.Close>
          </div>
          <div className="flex-1 overflow-y-auto p-5">{id ? <DetailBody id={id} deviceNames={deviceNames} /> : null}</div>
        </DialogPrimitive.Content>
      </DialogPrimitive.Portal>
    </DialogPrimitive.Root>
  );
}
