"use client";

import { InboxIcon, RotateCwIcon, XIcon } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";

import { EmptyState } from "@/components/empty-state";
import { errorMessage } from "@/components/error-notice";
import { FilterSelect } from "@/components/list-filters";
import { ExpandableRow, ListPagination, ListTable } from "@/components/list-table";
import { RelativeTime } from "@/components/relative-time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { TableCell, TableHead } from "@/components/ui/table";
import { usePermission } from "@/features/auth/hooks";
import { SeverityBadge } from "@/features/alarms/severity";
import { formatDateTime } from "@/lib/format";

import {
  DELIVERY_STATUSES,
  useDeliveries,
  useRetryDelivery,
  type Channel,
  type Delivery,
  type DeliveryStatus,
} from "./api";

const PER_PAGE = 20;
const STATUS_OPTIONS = DELIVERY_STATUSES.map((s) => ({ value: s, label: s.toLowerCase() }));

const STATUS_VARIANT: Record<DeliveryStatus, "success" | "danger" | "warning" | "secondary"> = {
  DELIVERED: "success",
  FAILED: "danger",
  PENDING: "secondary",
  SENDING: "warning",
};

export function DeliveryStatusBadge({ status }: { status: DeliveryStatus }) {
  return (
    <Badge variant={STATUS_VARIANT[status] ?? "secondary"} data-testid="delivery-status">
      {status.toLowerCase()}
    </Badge>
  );
}

function When({ delivery }: { delivery: Delivery }) {
  if (delivery.status === "DELIVERED") return <RelativeTime value={delivery.delivered_at} />;
  if (delivery.status === "PENDING" && delivery.attempts > 0) {
    return (
      <span className="text-muted-foreground">
        next try <RelativeTime value={delivery.due_at} />
      </span>
    );
  }
  return <RelativeTime value={delivery.updated_at} />;
}

function RetryButton({ channelId, delivery }: { channelId: string; delivery: Delivery }) {
  const retry = useRetryDelivery(channelId);
  return (
    <Button
      variant="outline"
      size="sm"
      disabled={retry.isPending}
      onClick={(e) => {
        e.stopPropagation();
        retry.mutate(delivery.id, {
          onSuccess: () => toast.success("Delivery queued again"),
          onError: (error) => toast.error(errorMessage(error)),
        });
      }}
    >
      <RotateCwIcon />
      Retry
    </Button>
  );
}

/** A channel's delivery log, newest first; re-read every few seconds while one is in flight. */
export function DeliveryLog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const canWrite = usePermission("notifications:write");
  const [status, setStatus] = useState<DeliveryStatus | undefined>(undefined);
  const [page, setPage] = useState(1);
  const [expanded, setExpanded] = useState<string | null>(null);
  const { data, isPending, error } = useDeliveries(channel.id, {
    page,
    per_page: PER_PAGE,
    status: status ? [status] : undefined,
  });
  const columns = canWrite ? 8 : 7;

  return (
    <Card className="mt-4 overflow-hidden" data-testid="delivery-log">
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-3 border-b pb-4">
        <div>
          <CardTitle>Deliveries of {channel.name}</CardTitle>
          <CardDescription className="mt-1">
            Every message sent to this channel, newest first. Finished ones are kept for 30 days.
          </CardDescription>
        </div>
        <div className="flex items-center gap-2">
          <FilterSelect
            label="Filter deliveries by status"
            allLabel="All statuses"
            value={status}
            options={STATUS_OPTIONS}
            onChange={(v) => {
              setStatus((v as DeliveryStatus | null) ?? undefined);
              setPage(1);
            }}
          />
          <Button variant="ghost" size="icon-sm" aria-label="Close deliveries" onClick={onClose}>
            <XIcon />
          </Button>
        </div>
      </CardHeader>
      <ListTable
        error={error}
        loading={isPending}
        loadingRows={3}
        columns={columns}
        head={
          <>
            <TableHead className="w-8" />
            <TableHead>Event</TableHead>
            <TableHead>Status</TableHead>
            <TableHead className="text-right">Attempts</TableHead>
            <TableHead>Last answer</TableHead>
            <TableHead>Error</TableHead>
            <TableHead>When</TableHead>
            {canWrite ? <TableHead className="w-24" /> : null}
          </>
        }
      >
        {data?.data.map((delivery) => {
          const open = expanded === delivery.id;
          return (
            <ExpandableRow
              key={delivery.id}
              data-testid="delivery-row"
              data-status={delivery.status}
              open={open}
              onToggle={() => setExpanded(open ? null : delivery.id)}
              columns={columns}
              detailClassName="whitespace-normal"
              detail={() => (
                <>
                  <dl className="mb-2 grid grid-cols-[8rem_minmax(0,1fr)] gap-x-3 gap-y-1 text-xs">
                    <dt className="text-muted-foreground">Delivery id</dt>
                    <dd className="font-mono">{delivery.id}</dd>
                    <dt className="text-muted-foreground">Queued</dt>
                    <dd>{formatDateTime(delivery.created_at)}</dd>
                    <dt className="text-muted-foreground">Delivered</dt>
                    <dd>{formatDateTime(delivery.delivered_at)}</dd>
                    {delivery.last_error ? (
                      <>
                        <dt className="text-muted-foreground">Last error</dt>
                        <dd className="break-words whitespace-pre-wrap">{delivery.last_error}</dd>
                      </>
                    ) : null}
                  </dl>
                  <pre className="max-h-64 overflow-auto rounded bg-background p-2 font-mono text-xs whitespace-pre-wrap">
                    {JSON.stringify(delivery.payload, null, 2)}
                  </pre>
                </>
              )}
            >
              <TableCell>
                <span className="inline-flex items-center gap-2">
                  <code className="font-mono text-xs">{delivery.event}</code>
                  {delivery.severity ? <SeverityBadge severity={delivery.severity} /> : null}
                </span>
              </TableCell>
              <TableCell>
                <DeliveryStatusBadge status={delivery.status} />
              </TableCell>
              <TableCell className="text-right tabular-nums">{delivery.attempts}</TableCell>
              <TableCell className="tabular-nums" data-testid="delivery-last-status">
                {delivery.last_status ?? <span className="text-muted-foreground">—</span>}
                {delivery.last_duration_ms !== null ? (
                  <span className="ml-1 text-xs text-muted-foreground">
                    {Math.round(delivery.last_duration_ms)} ms
                  </span>
                ) : null}
              </TableCell>
              <TableCell className="max-w-72 truncate text-destructive" title={delivery.last_error ?? undefined}>
                {delivery.last_error ?? ""}
              </TableCell>
              <TableCell title={formatDateTime(delivery.created_at)}>
                <When delivery={delivery} />
              </TableCell>
              {canWrite ? (
                <TableCell className="text-right">
                  {delivery.status === "FAILED" ? <RetryButton channelId={channel.id} delivery={delivery} /> : null}
                </TableCell>
              ) : null}
            </ExpandableRow>
          );
        })}
      </ListTable>
      {data && data.data.length === 0 ? (
        <EmptyState icon={InboxIcon} title={status ? "No deliveries with this status" : "Nothing sent yet"}>
          {status ? null : "Send a test message, or wait for an alarm this channel cares about."}
        </EmptyState>
      ) : null}
      <ListPagination list={data} multiPageOnly onPage={setPage} />
    </Card>
  );
}
