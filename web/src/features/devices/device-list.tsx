"use client";

import { CpuIcon, SearchIcon } from "lucide-react";
import Link from "next/link";
import { useEffect, useState } from "react";

import { EmptyState } from "@/components/empty-state";
import { ClearFiltersButton, FilterBar, FilterSelect } from "@/components/list-filters";
import { ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
import { RelativeTime } from "@/components/relative-time";
import { SortHeader } from "@/components/sort-header";
import { Badge } from "@/components/ui/badge";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
import { usePermission } from "@/features/auth/hooks";
import { useSiteNames, useSiteOptions } from "@/features/sites/api";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";

import { DEVICE_STATUSES, useDevices, type DeviceListParams, type DeviceSort, type DeviceStatus } from "./api";
import { CreateDeviceDialog } from "./create-device-dialog";
import { ImportDevicesDialog } from "./import-dialog";
import { Battery, StatusBadge } from "./status";

const STATUS_OPTIONS = DEVICE_STATUSES.map((s) => ({ value: s, label: s[0]!.toUpperCase() + s.slice(1) }));

export function DeviceList() {
  const [params, setParams] = useUrlState();
  const canWrite = usePermission("devices:write");
  const { data: sites } = useSiteOptions();
  const siteNames = useSiteNames();

  const [search, setSearch] = useState(params.get("q") ?? "");
  const [type, setType] = useState(params.get("device_type") ?? "");
  const debouncedSearch = useDebounced(search.trim());
  const debouncedType = useDebounced(type.trim());
  useEffect(() => {
    if (debouncedSearch !== (params.get("q") ?? "") || debouncedType !== (params.get("device_type") ?? "")) {
      setParams({ q: debouncedSearch, device_type: debouncedType, page: null });
    }
    // Only the typed values drive this; the URL is the output.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debouncedSearch, debouncedType]);

  const query: DeviceListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    q: params.get("q") || undefined,
    status: (params.get("status") as DeviceStatus | null) || undefined,
    device_type: params.get("device_type") || undefined,
    site_id: params.get("site_id") || undefined,
    sort: (params.get("sort") as DeviceSort | null) || "name",
  };
  const { data, isPending, isFetching, error } = useDevices(query);
  const filtered = !!(query.q || query.status || query.device_type || query.site_id);

  return (
    <>
      <PageHeader
        title="Devices"
        description={data ? `${data.meta.total.toLocaleString()} ${filtered ? "matching" : "in total"}` : " "}
        actions={
          canWrite ? (
            <>
              <ImportDevicesDialog />
              <CreateDeviceDialog />
            </>
          ) : null
        }
      />
      <Card className="overflow-hidden">
        <FilterBar>
          <div className="relative min-w-56 flex-1">
            <SearchIcon className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
            <Input
              type="search"
              placeholder="Search name or DevEUI"
              aria-label="Search devices"
              className="pl-8"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
            />
          </div>
          <FilterSelect
            label="Filter by status"
            allLabel="All statuses"
            value={query.status}
            options={STATUS_OPTIONS}
            onChange={(v) => setParams({ status: v, page: null })}
          />
          <Input
            placeholder="Type"
            aria-label="Filter by type"
            className="w-36"
            value={type}
            onChange={(e) => setType(e.target.value)}
          />
          <FilterSelect
            label="Filter by site"
            allLabel="All sites"
            className="w-44"
            value={query.site_id}
            options={(sites ?? []).map((site) => ({ value: site.id, label: site.name }))}
            onChange={(v) => setParams({ site_id: v, page: null })}
          />
          {filtered ? (
            <ClearFiltersButton
              onClear={() => {
                setSearch("");
                setType("");
                setParams({ q: null, status: null, device_type: null, site_id: null, page: null });
              }}
            />
          ) : null}
        </FilterBar>

        <ListTable
          error={error}
          loading={isPending}
          loadingRows={6}
          columns={7}
          className={isFetching && !isPending ? "opacity-70 transition-opacity" : undefined}
          bodyTestId="device-rows"
          head={
            <>
              <SortHeader field="name" sort={query.sort!} onSort={(sort) => setParams({ sort })}>
                Name
              </SortHeader>
              <SortHeader field="status" sort={query.sort!} onSort={(sort) => setParams({ sort })}>
                Status
              </SortHeader>
              <SortHeader field="device_type" sort={query.sort!} onSort={(sort) => setParams({ sort })}>
                Type
              </SortHeader>
              <TableHead>Site</TableHead>
              <SortHeader field="last_seen" sort={query.sort!} onSort={(sort) => setParams({ sort })}>
                Last seen
              </SortHeader>
              <TableHead>Battery</TableHead>
              <TableHead>Tags</TableHead>
            </>
          }
        >
          {data?.data.map((device) => (
            <TableRow key={device.id} data-testid="device-row">
              <TableCell className="max-w-72">
                <Link
                  href={`/devices/view/?id=${device.id}`}
                  className="block truncate font-medium hover:underline"
                >
                  {device.name}
                </Link>
                {device.dev_eui ? (
                  <div className="font-mono text-xs text-muted-foreground">{device.dev_eui}</div>
                ) : null}
              </TableCell>
              <TableCell>
                <StatusBadge status={device.status} />
              </TableCell>
              <TableCell className="text-muted-foreground">{device.device_type}</TableCell>
              <TableCell className="max-w-48 truncate">
                {device.site_id ? (
                  siteNames.get(device.site_id) ?? <span className="text-muted-foreground">—</span>
                ) : (
                  <span className="text-muted-foreground">—</span>
                )}
              </TableCell>
              <TableCell>
                <RelativeTime value={device.last_seen} />
              </TableCell>
              <TableCell>
                <Battery level={device.battery_level} />
              </TableCell>
              <TableCell className="max-w-56">
                <div className="flex gap-1 overflow-hidden">
                  {device.tags.slice(0, 3).map((tag) => (
                    <Badge key={tag} variant="outline" className="font-normal">
                      {tag}
                    </Badge>
                  ))}
                  {device.tags.length > 3 ? (
                    <span className="text-xs text-muted-foreground">+{device.tags.length - 3}</span>
                  ) : null}
                </div>
              </TableCell>
            </TableRow>
          ))}
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={CpuIcon} title={filtered ? "No devices match these filters" : "No devices yet"}>
            {filtered
              ? "Try a different search or clear the filters."
              : canWrite
                ? "Create one, or import many from a CSV file."
                : "Devices appear here once an administrator registers them."}
          </EmptyState>
        ) : null}
        <ListPagination
          list={data}
          onPage={(page) => setParams({ page })}
          onPerPage={(perPage) => setParams({ per_page: perPage, page: null })}
        />
      </Card>
    </>
  );
}
