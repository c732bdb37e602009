"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ChevronRightIcon, ScrollTextIcon, XIcon } from "lucide-react";
import Link from "next/link";
import { Fragment, useState } from "react";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice } from "@/components/error-notice";
import { PageHeader } from "@/components/page-header";
import { Pagination } from "@/components/pagination";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { operations } from "@/lib/api/schema";
import { formatDateTime } from "@/lib/format";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";
import { cn } from "@/lib/utils";

type AuditQuery = NonNullable<operations["list_audit_log"]["parameters"]["query"]>;

const ALL = "__all__";
const ENTITY_TYPES = ["device", "site", "user", "tenant"];

export const auditKeys = {
  list: (tenantId: string, params: AuditQuery) => ["tenants", tenantId, "audit", params] as const,
};

function useAuditLog(params: AuditQuery) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: auditKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/audit-log", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

function actionVariant(action: string): "success" | "danger" | "warning" | "secondary" {
  if (action.endsWith(".delete")) return "danger";
  if (action.endsWith(".create") || action.endsWith(".import")) return "success";
  if (action.includes("credentials") || action.includes("login")) return "warning";
  return "secondary";
}

/** `datetime-local` input value (local time, no zone) → ISO 8601 with zone for the API. */
function localToIso(value: string | null): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export function AuditLog() {
  const [params, setParams] = useUrlState();
  const [action, setAction] = useState(params.get("action") ?? "");
  const debouncedAction = useDebounced(action.trim());
  const [expanded, setExpanded] = useState<number | null>(null);
  const query: AuditQuery = {
    page: intParam(params, "page", 1),
    per_page: 50,
    action: debouncedAction || undefined,
    entity_type: params.get("entity_type") || undefined,
    entity_id: params.get("entity_id") || undefined,
    from: localToIso(params.get("from")),
    to: localToIso(params.get("to")),
  };
  const { data, isPending, error } = useAuditLog(query);
  const filtered = !!(query.action || query.entity_type || query.entity_id || query.from || query.to);

  return (
    <>
      <PageHeader title="Audit log" description="Every change in this tenant, newest first. Entries cannot be edited." />
      <Card className="overflow-hidden">
        <div className="flex flex-wrap items-center gap-2 border-b p-3">
          <Input
            placeholder="Action, e.g. device.create"
            aria-label="Filter by action"
            className="w-56"
            value={action}
            onChange={(e) => {
              setAction(e.target.value);
              setParams({ page: null });
            }}
          />
          <Select
            value={query.entity_type ?? ALL}
            onValueChange={(v) => setParams({ entity_type: v === ALL ? null : v, page: null })}
          >
            <SelectTrigger className="w-36" aria-label="Filter by entity type">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ALL}>All entities</SelectItem>
              {ENTITY_TYPES.map((t) => (
                <SelectItem key={t} value={t}>
                  {t}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
          <label className="flex items-center gap-1.5 text-sm text-muted-foreground">
            From
            <Input
              type="datetime-local"
              className="w-52"
              value={params.get("from") ?? ""}
              onChange={(e) => setParams({ from: e.target.value, page: null })}
            />
          </label>
          <label className="flex items-center gap-1.5 text-sm text-muted-foreground">
            To
            <Input
              type="datetime-local"
              className="w-52"
              value={params.get("to") ?? ""}
              onChange={(e) => setParams({ to: e.target.value, page: null })}
            />
          </label>
          {filtered ? (
            <Button
              variant="ghost"
              size="sm"
              onClick={() => {
                setAction("");
                setParams({ entity_type: null, entity_id: null, from: null, to: null, page: null });
              }}
            >
              <XIcon />
              Clear
            </Button>
          ) : null}
        </div>
        {error ? (
          <div className="p-4">
            <ErrorNotice error={error} />
          </div>
        ) : (
          <Table>
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead className="w-8" />
                <TableHead>Time</TableHead>
                <TableHead>Actor</TableHead>
                <TableHead>Action</TableHead>
                <TableHead>Entity</TableHead>
                <TableHead>Client IP</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {isPending
                ? Array.from({ length: 6 }, (_, i) => (
                    <TableRow key={i}>
                      <TableCell colSpan={6}>
                        <Skeleton className="h-5" />
                      </TableCell>
                    </TableRow>
                  ))
                : data?.data.map((entry) => {
                    const open = expanded === entry.id;
                    const hasChanges = Object.keys(entry.changes).length > 0;
                    return (
                      <Fragment key={entry.id}>
                        <TableRow
                          className={cn(hasChanges && "cursor-pointer")}
                          onClick={() => hasChanges && setExpanded(open ? null : entry.id)}
                        >
                          <TableCell>
                            {hasChanges ? (
                              <ChevronRightIcon
                                className={cn("size-4 text-muted-foreground transition-transform", open && "rotate-90")}
                              />
                            ) : null}
                          </TableCell>
                          <TableCell className="text-muted-foreground tabular-nums">{formatDateTime(entry.created_at)}</TableCell>
                          <TableCell>{entry.actor_email ?? <span className="text-muted-foreground">system</span>}</TableCell>
                          <TableCell>
                            <Badge variant={actionVariant(entry.action)} className="font-mono">
                              {entry.action}
                            </Badge>
                          </TableCell>
                          <TableCell>
                            <span className="text-muted-foreground">{entry.entity_type}</span>{" "}
                            {entry.entity_id ? (
                              entry.entity_type === "device" && !entry.action.endsWith(".delete") ? (
                                <Link
                                  className="font-mono text-xs hover:underline"
                                  href={`/devices/view/?id=${entry.entity_id}`}
                                  onClick={(e) => e.stopPropagation()}
                                >
                                  {entry.entity_id.slice(0, 8)}
                                </Link>
                              ) : (
                                <span className="font-mono text-xs">{entry.entity_id.slice(0, 8)}</span>
                              )
                            ) : null}
                          </TableCell>
                          <TableCell className="font-mono text-xs text-muted-foreground">{entry.client_ip ?? "—"}</TableCell>
                        </TableRow>
                        {open ? (
                          <TableRow className="bg-muted/30 hover:bg-muted/30">
                            <TableCell />
                            <TableCell colSpan={5}>
                              <pre className="max-h-64 overflow-auto font-mono text-xs whitespace-pre-wrap">
                                {JSON.stringify(entry.changes, null, 2)}
                              </pre>
                              {entry.request_id ? (
                                <p className="mt-1 text-xs text-muted-foreground">request {entry.request_id}</p>
                              ) : null}
                            </TableCell>
                          </TableRow>
                        ) : null}
                      </Fragment>
                    );
                  })}
            </TableBody>
          </Table>
        )}
        {data && data.data.length === 0 ? (
          <EmptyState icon={ScrollTextIcon} title={filtered ? "No entries match these filters" : "No entries yet"} />
        ) : null}
        {data && data.meta.total > 0 ? (
          <Pagination
            page={data.meta.page}
            perPage={data.meta.per_page}
            total={data.meta.total}
            onPage={(page) => setParams({ page })}
          />
        ) : null}
      </Card>
    </>
  );
}
