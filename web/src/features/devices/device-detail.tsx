"use client";

import { ArrowLeftIcon, SearchXIcon } from "lucide-react";
import Link from "next/link";
import type { ReactNode } from "react";

import { CopyButton } from "@/components/copy-button";
import { EmptyState } from "@/components/empty-state";
import { ErrorNotice } from "@/components/error-notice";
import { RelativeTime } from "@/components/relative-time";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { usePermission } from "@/features/auth/hooks";
import { HealthCard } from "@/features/health/health-card";
import { useSiteNames } from "@/features/sites/api";
import { LatestValues, TelemetryPanel } from "@/features/telemetry/telemetry-panel";
import { ApiError } from "@/lib/api/client";
import { formatDateTime, formatValue } from "@/lib/format";

import { useDevice } from "./api";
import { DeleteDeviceDialog, EditDeviceDialog, RotateCredentialsDialog } from "./device-actions";
import { Battery, StatusBadge } from "./status";

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-muted-foreground">{label}</dt>
      <dd className="min-w-0 truncate">{children}</dd>
    </>
  );
}

function BackLink() {
  return (
    <Link
      href="/devices/"
      className="mb-3 inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground"
    >
      <ArrowLeftIcon className="size-4" />
      Devices
    </Link>
  );
}

export function DeviceDetail({ id }: { id: string | null }) {
  const { data: device, isPending, error } = useDevice(id);
  const canWrite = usePermission("devices:write");
  const canRotate = usePermission("devices:credentials");
  const siteNames = useSiteNames();

  if (!id || (error instanceof ApiError && error.status === 404)) {
    return (
      <>
        <BackLink />
        <Card>
          <EmptyState icon={SearchXIcon} title="Device not found">
            It may have been deleted, or it belongs to a site you cannot see.
          </EmptyState>
        </Card>
      </>
    );
  }
  if (error) return <ErrorNotice error={error} />;
  if (isPending || !device) {
    return (
      <div className="grid gap-4">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-48" />
      </div>
    );
  }

  const metadata = Object.entries(device.metadata);
  return (
    <>
      <BackLink />
      <div className="mb-5 flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <div className="flex items-center gap-3">
            <h1 className="truncate text-xl font-semibold tracking-tight" data-testid="device-name">
              {device.name}
            </h1>
            <StatusBadge status={device.status} />
          </div>
          <p className="mt-1 text-sm text-muted-foreground">
            {device.device_type} · last seen <RelativeTime value={device.last_seen} />
          </p>
        </div>
        <div className="flex flex-wrap gap-2">
          {canWrite ? <EditDeviceDialog device={device} /> : null}
          {canRotate ? <RotateCredentialsDialog device={device} /> : null}
          {canWrite ? <DeleteDeviceDialog device={device} /> : null}
        </div>
      </div>

      <div className="grid gap-4 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <CardTitle>Details</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-[10rem_minmax(0,1fr)] gap-x-4 gap-y-2.5 text-sm">
              <Row label="Device id">
                <span className="-my-1 inline-flex items-center gap-1">
                  <code className="truncate font-mono text-xs">{device.id}</code>
                  <CopyButton value={device.id} label="Copy device id" compact />
                </span>
              </Row>
              <Row label="DevEUI">{device.dev_eui ? <code className="font-mono text-xs">{device.dev_eui}</code> : "—"}</Row>
              <Row label="Site">
                {device.site_id ? (
                  <Link className="hover:underline" href={`/devices/?site_id=${device.site_id}`}>
                    {siteNames.get(device.site_id) ?? device.site_id}
                  </Link>
                ) : (
                  "—"
                )}
              </Row>
              <Row label="Battery">
                <Battery level={device.battery_level} />
              </Row>
              <Row label="Expected interval">
                {device.expected_interval_s ? `${device.expected_interval_s.toLocaleString()} s` : "—"}
              </Row>
              <Row label="Last seen">{formatDateTime(device.last_seen)}</Row>
              <Row label="Created">{formatDateTime(device.created_at)}</Row>
              <Row label="Updated">{formatDateTime(device.updated_at)}</Row>
              <Row label="Tags">
                {device.tags.length ? (
                  <span className="flex flex-wrap gap-1">
                    {device.tags.map((tag) => (
                      <Badge key={tag} variant="outline" className="font-normal">
                        {tag}
                      </Badge>
                    ))}
                  </span>
                ) : (
                  "—"
                )}
              </Row>
            </dl>
            {metadata.length ? (
              <>
                <h4 className="mt-5 mb-2 text-xs font-medium tracking-wide text-muted-foreground uppercase">Metadata</h4>
                <dl className="grid grid-cols-[10rem_minmax(0,1fr)] gap-x-4 gap-y-1.5 text-sm">
                  {metadata.map(([key, value]) => (
                    <Row key={key} label={key}>
                      <span className="font-mono text-xs">{formatValue(value)}</span>
                    </Row>
                  ))}
                </dl>
              </>
            ) : null}
          </CardContent>
        </Card>
        <div className="grid content-start gap-4">
          <HealthCard deviceId={device.id} />
          <LatestValues deviceId={device.id} />
        </div>
        <div className="lg:col-span-3">
          <TelemetryPanel deviceId={device.id} />
        </div>
      </div>
    </>
  );
}
