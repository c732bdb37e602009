"use client";

import { BellOffIcon } from "lucide-react";
import Link from "next/link";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice } from "@/components/error-notice";
import { ClearFiltersButton, DateRangeFilter, FilterBar, FilterSelect, localToIso } from "@/components/list-filters";
import { ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
import { RelativeTime } from "@/components/relative-time";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Skeleton } from "@/components/ui/skeleton";
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
import { usePermission } from "@/features/auth/hooks";
import { formatDateTime, formatValue } from "@/lib/format";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { cn } from "@/lib/utils";

import { AlarmActions } from "./alarm-actions";
import { AlarmDrawer } from "./alarm-detail";
import {
  OPEN_STATUSES,
  SEVERITIES,
  useAlarmCounts,
  useAlarms,
  useRuleOptions,
  type AlarmListParams,
  type AlarmStatus,
  type Severity,
} from "./api";
import { DeviceLink, DevicePicker, useRecentDeviceNames } from "./devices";
import { useAlarmLiveSync } from "./live";
import { AlarmStatusBadge, SeverityBadge, severityDot, severityLabel } from "./severity";
import { AlarmTabs } from "./tabs";

const SEVERITY_OPTIONS = SEVERITIES.map((s) => ({ value: s, label: severityLabel(s) }));

// `status` in the URL: "open" (the default: active or acknowledged), one status, or "all".
const STATUS_FILTERS: { value: string; label: string; statuses: AlarmStatus[] | undefined }[] = [
  { value: "open", label: "Open", statuses: OPEN_STATUSES },
  { value: "ACTIVE", label: "Active", statuses: ["ACTIVE"] },
  { value: "ACKNOWLEDGED", label: "Acknowledged", statuses: ["ACKNOWLEDGED"] },
  { value: "CLEARED", label: "Cleared", statuses: ["CLEARED"] },
  { value: "all", label: "All statuses", statuses: undefined },
];

function CountCards({ active, onPick }: { active: Severity | undefined; onPick: (severity: Severity | null) => void }) {
  const { data, isPending, error } = useAlarmCounts();
  if (error) return <ErrorNotice error={error} />;
  const cards: { key: Severity | null; label: string; count: number | undefined }[] = [
    { key: null, label: "Open alarms", count: data?.total },
    ...SEVERITIES.map((severity) => ({ key: severity, label: severityLabel(severity), count: data?.[severity] })),
  ];
  return (
    <div className="mb-4 grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-5" data-testid="alarm-counts">
      {cards.map((card) => {
        const selected = card.key === null ? active === undefined : active === card.key;
        return (
          <button
            key={card.key ?? "total"}
            type="button"
            onClick={() => onPick(card.key)}
            aria-pressed={selected}
            className={cn(
              "rounded-lg border bg-card p-4 text-left shadow-xs transition-colors hover:bg-accent/40 focus-visible:ring-2 focus-visible:ring-ring/60 focus-visible:outline-none",
              selected && "ring-2 ring-ring/40",
            )}
          >
            <p className="flex items-center gap-1.5 text-xs font-medium text-muted-foreground">
              {card.key ? <span className={cn("size-2 rounded-full", severityDot(card.key))} /> : null}
              {card.label}
            </p>
            {isPending ? (
              <Skeleton className="mt-2 h-7 w-12" />
            ) : (
              <p
                className={cn(
                  "mt-1 text-2xl font-semibold tabular-nums",
                  card.key === "CRITICAL" && (card.count ?? 0) > 0 && "text-red-600 dark:text-red-400",
                )}
                data-testid={`alarm-count-${card.key ?? "total"}`}
              >
                {(card.count ?? 0).toLocaleString()}
              </p>
            )}
          </button>
        );
      })}
    </div>
  );
}

export function AlarmList() {
  const [params, setParams] = useUrlState();
  const canAck = usePermission("alarms:ack");
  const deviceNames = useRecentDeviceNames();
  const { data: rules } = useRuleOptions();
  useAlarmLiveSync();

  const statusFilter = STATUS_FILTERS.find((f) => f.value === params.get("status")) ?? STATUS_FILTERS[0]!;
  const severity = (SEVERITIES as string[]).includes(params.get("severity") ?? "")
    ? (params.get("severity") as Severity)
    : undefined;
  const query: AlarmListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    status: statusFilter.statuses,
    severity: severity ? [severity] : undefined,
    device_id: params.get("device_id") || undefined,
    rule_id: params.get("rule_id") || undefined,
    from: localToIso(params.get("from")),
    to: localToIso(params.get("to")),
  };
  const { data, isPending, isFetching, error } = useAlarms(query);
  const filtered = !!(
    params.get("status") ||
    severity ||
    query.device_id ||
    query.rule_id ||
    query.from ||
    query.to
  );
  const columns = canAck ? 10 : 9;

  return (
    <>
      <PageHeader
        title="Alarms"
        description="Raised by alert rules from incoming telemetry; updates live"
      />
      <AlarmTabs />
      <CountCards
        active={severity}
        onPick={(picked) => setParams({ severity: picked, status: null, page: null })}
      />
      <Card className="overflow-hidden">
        <FilterBar>
          <Select value={statusFilter.value} onValueChange={(v) => setParams({ status: v === "open" ? null : v, page: null })}>
            <SelectTrigger className="w-40" aria-label="Filter by status">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              {STATUS_FILTERS.map((f) => (
                <SelectItem key={f.value} value={f.value}>
                  {f.label}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
          <FilterSelect
            label="Filter by severity"
            allLabel="All severities"
            value={severity}
            options={SEVERITY_OPTIONS}
            onChange={(v) => setParams({ severity: v, page: null })}
          />
          <DevicePicker
            className="w-52"
            value={query.device_id ?? ""}
            onChange={(id) => setParams({ device_id: id, page: null })}
          />
          <FilterSelect
            label="Filter by rule"
            allLabel="All rules"
            className="w-48"
            value={query.rule_id}
            options={(rules ?? []).map((rule) => ({ value: rule.id, label: rule.name }))}
            onChange={(v) => setParams({ rule_id: v, page: null })}
          />
          <DateRangeFilter
            from={params.get("from") ?? ""}
            to={params.get("to") ?? ""}
            fromTitle="Alarms still occurring since"
            toTitle="Alarms raised before"
            onChange={(range) => setParams({ ...range, page: null })}
          />
          {filtered ? (
            <ClearFiltersButton
              onClear={() =>
                setParams({ status: null, severity: null, device_id: null, rule_id: null, from: null, to: null, page: null })
              }
            />
          ) : null}
        </FilterBar>

        <ListTable
          error={error}
          loading={isPending}
          loadingRows={5}
          columns={columns}
          className={isFetching && !isPending ? "opacity-80 transition-opacity" : undefined}
          bodyTestId="alarm-rows"
          head={
            <>
              <TableHead>Severity</TableHead>
              <TableHead>Rule</TableHead>
              <TableHead>Device</TableHead>
              <TableHead>Status</TableHead>
              <TableHead className="text-right">Count</TableHead>
              <TableHead>First</TableHead>
              <TableHead>Last</TableHead>
              <TableHead>Last value</TableHead>
              {canAck ? <TableHead className="w-44" /> : null}
              <TableHead className="w-16" />
            </>
          }
        >
          {data?.data.map((alarm) => (
            <TableRow
              key={alarm.id}
              data-testid="alarm-row"
              data-alarm-id={alarm.id}
              className="cursor-pointer"
              onClick={() => setParams({ alarm: alarm.id })}
            >
              <TableCell>
                <SeverityBadge severity={alarm.severity} />
              </TableCell>
              <TableCell className="max-w-56 truncate font-medium" data-testid="alarm-rule">
                {alarm.rule_name}
              </TableCell>
              <TableCell className="max-w-48">
                <DeviceLink id={alarm.device_id} known={deviceNames.get(alarm.device_id)} className="block" />
              </TableCell>
              <TableCell>
                <AlarmStatusBadge status={alarm.status} />
              </TableCell>
              <TableCell className="text-right tabular-nums" data-testid="alarm-count">
                {alarm.count.toLocaleString()}
              </TableCell>
              <TableCell title={formatDateTime(alarm.first_occurrence)}>
                <RelativeTime value={alarm.first_occurrence} />
              </TableCell>
              <TableCell title={formatDateTime(alarm.last_occurrence)}>
                <RelativeTime value={alarm.last_occurrence} />
              </TableCell>
              <TableCell className="max-w-40 truncate" data-testid="alarm-value">
                {alarm.field ? <span className="text-muted-foreground">{alarm.field} </span> : null}
                <span className="font-mono text-xs">{formatValue(alarm.last_value)}</span>
              </TableCell>
              {canAck ? (
                <TableCell>
                  <AlarmActions alarm={alarm} compact />
                </TableCell>
              ) : null}
              <TableCell>
                <Button
                  variant="ghost"
                  size="sm"
                  onClick={(e) => {
                    e.stopPropagation();
                    setParams({ alarm: alarm.id });
                  }}
                >
                  Details
                </Button>
              </TableCell>
            </TableRow>
          ))}
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={BellOffIcon} title={filtered ? "No alarms match these filters" : "No open alarms"}>
            {filtered ? (
              "Try other filters, or clear them."
            ) : (
              <>
                Alarms appear here the moment a device breaches an{" "}
                <Link href="/alarms/rules/" className="underline underline-offset-2">
                  alert rule
                </Link>
                .
              </>
            )}
          </EmptyState>
        ) : null}
        <ListPagination
          list={data}
          onPage={(page) => setParams({ page })}
          onPerPage={(perPage) => setParams({ per_page: perPage, page: null })}
        />
      </Card>
      <AlarmDrawer id={params.get("alarm")} onClose={() => setParams({ alarm: null })} deviceNames={deviceNames} />
    </>
  );
}
