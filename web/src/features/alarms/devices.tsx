"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { XIcon } from "lucide-react";
import Link from "next/link";
import { useId, useState } from "react";

import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { useTenantId } from "@/features/auth/hooks";
import { deviceKeys, useDevice, useDevices, type DeviceListParams } from "@/features/devices/api";
import { api, unwrap } from "@/lib/api/client";
import { shortId } from "@/lib/format";
import { useDebounced } from "@/lib/use-debounced";
import { cn } from "@/lib/utils";

// Suggestions per keystroke: enough to pick from, small enough to stay one cheap request.
const SUGGESTIONS = 8;

/**
 * Names for the devices of a page of alarms: the 100 most recently active devices in one
 * request (alarmed devices have usually just reported), so rows rarely need a request each.
 */
export function useRecentDeviceNames(): Map<string, string> {
  const { data } = useDevices({ per_page: 100, sort: "-last_seen" });
  return new Map((data?.data ?? []).map((d) => [d.id, d.name]));
}

/** A link to the device page, named from `known` or, failing that, from the device itself. */
export function DeviceLink({ id, known, className }: { id: string; known?: string; className?: string }) {
  const { data: device } = useDevice(known ? null : id);
  const name = known ?? device?.name;
  return (
    <Link
      href={`/devices/view/?id=${id}`}
      className={cn("truncate font-medium hover:underline", !name && "font-mono text-xs", className)}
      onClick={(e) => e.stopPropagation()}
      data-testid="alarm-device"
    >
      {name ?? shortId(id)}
    </Link>
  );
}

/** Devices whose name or DevEUI contains `q`, asked for only while a picker is open. */
function useSuggestions(q: string, enabled: boolean) {
  const tenantId = useTenantId();
  const params: DeviceListParams = { q: q || undefined, per_page: SUGGESTIONS, sort: "name" };
  return useQuery({
    queryKey: deviceKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/devices", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId && enabled,
    placeholderData: keepPreviousData,
  });
}

/** Pick one device by typing part of its name (a fleet is too large for a drop-down). */
export function DevicePicker({
  id,
  value,
  onChange,
  placeholder = "Any device",
  className,
  invalid,
}: {
  id?: string;
  value: string;
  onChange: (deviceId: string) => void;
  placeholder?: string;
  className?: string;
  invalid?: boolean;
}) {
  const listId = useId();
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const q = useDebounced(text.trim(), 250);
  const selected = useDevice(value || null);
  const suggestions = useSuggestions(q, open && !value);

  if (value) {
    return (
      <div
        className={cn(
          "flex h-9 min-w-0 items-center gap-1 rounded-md border border-input bg-background pr-1 pl-3 text-sm shadow-xs",
          className,
        )}
      >
        <span className="min-w-0 flex-1 truncate" data-testid="picked-device">
          {selected.data?.name ?? shortId(value)}
        </span>
        <Button type="button" variant="ghost" size="icon-sm" aria-label="Clear device" onClick={() => onChange("")}>
          <XIcon />
        </Button>
      </div>
    );
  }
  const options = open ? (suggestions.data?.data ?? []) : [];
  return (
    <div className={cn("relative min-w-0", className)}>
      <Input
        id={id}
        role="combobox"
        aria-expanded={options.length > 0}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-invalid={invalid}
        placeholder={placeholder}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        // Late enough for a click on a suggestion to land first.
        onBlur={() => window.setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (e.key === "Escape") setOpen(false);
          if (e.key === "Enter" && options.length > 0) {
            e.preventDefault();
            onChange(options[0]!.id);
            setText("");
            setOpen(false);
          }
        }}
      />
      {options.length > 0 ? (
        <ul
          id={listId}
          role="listbox"
          className="absolute top-full right-0 left-0 z-50 mt-1 max-h-64 overflow-y-auto rounded-md border bg-popover p-1 text-sm shadow-md"
        >
          {options.map((device) => (
            <li key={device.id} role="option" aria-selected={false}>
              <button
                type="button"
                className="flex w-full items-center justify-between gap-2 rounded-sm px-2 py-1.5 text-left hover:bg-accent"
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => {
                  onChange(device.id);
                  setText("");
                  setOpen(false);
                }}
              >
                <span className="truncate">{device.name}</span>
                <span className="shrink-0 text-xs text-muted-foreground">{device.device_type}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
