"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ScrollTextIcon } from "lucide-react";
import Link from "next/link";
import { useState } from "react";

import { EmptyState } from "@/components/empty-state";
import { ClearFiltersButton, DateRangeFilter, FilterBar, FilterSelect, localToIso } from "@/components/list-filters";
import { ExpandableRow, ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
import { Badge } from "@/components/ui/badge";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { TableCell, TableHead } from "@/components/ui/table";
import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { operations } from "@/lib/api/schema";
import { formatDateTime } from "@/lib/format";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";

type AuditQuery = NonNullable<operations["list_audit_log"]["parameters"]["query"]>;

const ENTITY_TYPES = ["device", "site", "user", "tenant"].map((t) => ({ value: t, label: t }));

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
        <FilterBar>
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
          <FilterSelect
            label="Filter by entity type"
            allLabel="All entities"
            value={query.entity_type}
            options={ENTITY_TYPES}
            onChange={(v) => setParams({ entity_type: v, page: null })}
          />
          <DateRangeFilter
            from={params.get("from") ?? ""}
            to={params.get("to") ?? ""}
            onChange={(range) => setParams({ ...range, page: null })}
          />
          {filtered ? (
            <ClearFiltersButton
              onClear={() => {
                setAction("");
                setParams({ entity_type: null, entity_id: null, from: null, to: null, page: null });
              }}
            />
          ) : null}
        </FilterBar>
        <ListTable
          error={error}
          loading={isPending}
          loadingRows={6}
          columns={6}
          head={
            <>
              <TableHead className="w-8" />
              <TableHead>Time</TableHead>
              <TableHead>Actor</TableHead>
              <TableHead>Action</TableHead>
              <TableHead>Entity</TableHead>
              <TableHead>Client IP</TableHead>
            </>
          }
        >
          {data?.data.map((entry) => {
            const open = expanded === entry.id;
            return (
              <ExpandableRow
                key={entry.id}
                open={open}
                onToggle={() => setExpanded(open ? null : entry.id)}
                expandable={Object.keys(entry.changes).length > 0}
                columns={6}
                detail={() => (
                  <>
                    <pre className="max-h-64 overflow-auto font-mono text-xs whitespace-pre-wrap">
                      {JSON.stringify(entry.changes, null, 2)}
                    </pre>
                    {entry.request_id ? (
                      <p className="mt-1 text-xs text-muted-foreground">request {entry.request_id}</p>
                    ) : null}
                  </>
                )}
              >
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
              </ExpandableRow>
            );
          })}
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={ScrollTextIcon} title={filtered ? "No entries match these filters" : "No entries yet"} />
        ) : null}
        <ListPagination list={data} onPage={(page) => setParams({ page })} />
      </Card>
    </>
  );
}
