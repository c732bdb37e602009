"use client";

import { useState, type FormEvent, type ReactNode } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { Field, fieldErrors } from "@/components/field";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { SEVERITIES, type Severity } from "@/features/alarms/api";
import { severityLabel } from "@/features/alarms/severity";
import { useSiteOptions } from "@/features/sites/api";
import { ApiError } from "@/lib/api/client";

import { CHANNEL_EVENTS, DEFAULT_EVENTS, type Channel, type ChannelCreate, type ChannelEvent } from "./api";

export interface ChannelFormValues {
  type: "webhook" | "email";
  name: string;
  url: string;
  secret: string;
  to: string;
  min_severity: Severity;
  site_ids: string[];
  events: ChannelEvent[];
  enabled: boolean;
}

export function initialChannelValues(channel?: Channel): ChannelFormValues {
  return {
    type: channel?.type ?? "webhook",
    name: channel?.name ?? "",
    url: channel?.url ?? "",
    secret: "",
    to: channel?.to?.join(", ") ?? "",
    min_severity: channel?.min_severity ?? "WARNING",
    site_ids: channel?.site_ids ?? [],
    events: channel?.events ?? DEFAULT_EVENTS,
    enabled: channel?.enabled ?? true,
  };
}

/** The body for create; for an edit the caller drops `type` (fixed) and `secret` (rotated). */
export function toChannelBody(v: ChannelFormValues, editing: boolean): ChannelCreate {
  const common = {
    name: v.name.trim() || (editing ? undefined : null),
    min_severity: v.min_severity,
    site_ids: v.site_ids,
    events: v.events,
    enabled: v.enabled,
  };
  if (v.type === "webhook") {
    return { type: "webhook", ...common, url: v.url.trim(), secret: editing ? undefined : v.secret || null };
  }
  return {
    type: "email",
    ...common,
    to: v.to
      .split(/[,;\s]+/)
      .map((a) => a.trim())
      .filter(Boolean),
  };
}

// Severities from the least: "at least MINOR" reads naturally in this order.
const LEAST_FIRST = [...SEVERITIES].reverse();

function channelErrors(error: unknown): { fields: Record<string, string>; general: string[] } {
  if (!(error instanceof ApiError) || error.status !== 422) return { fields: {}, general: [] };
  if (error.code === "WEBHOOK_TARGET_REFUSED") return { fields: { url: error.message }, general: [] };
  if (error.code === "SITE_NOT_FOUND") return { fields: { site_ids: error.message }, general: [] };
  const general = Array.isArray(error.details)
    ? (error.details as { loc?: unknown[]; msg?: string }[])
        .filter((d) => d.msg && (d.loc ?? []).filter((p) => p !== "body").length === 0)
        .map((d) => d.msg!.replace(/^Value error, /, ""))
    : [];
  return { fields: fieldErrors(error.details), general };
}

export function ChannelForm({
  id,
  initial,
  editing,
  onSubmit,
  error,
  footer,
}: {
  id: string;
  initial: ChannelFormValues;
  editing: boolean;
  onSubmit: (body: ChannelCreate) => void;
  error: unknown;
  footer: ReactNode;
}) {
  const [v, setValues] = useState(initial);
  const { data: sites } = useSiteOptions();
  const { fields: errors, general } = channelErrors(error);
  const set = <K extends keyof ChannelFormValues>(key: K, value: ChannelFormValues[K]) =>
    setValues((old) => ({ ...old, [key]: value }));
  const unmapped = error && general.length === 0 && Object.keys(errors).length === 0;

  function submit(event: FormEvent) {
    event.preventDefault();
    onSubmit(toChannelBody(v, editing));
  }

  return (
    <form id={id} onSubmit={submit} className="grid gap-4" noValidate>
      {unmapped ? <ErrorNotice error={error} /> : null}
      {general.map((message) => (
        <ErrorNotice key={message} error={new Error(message)} />
      ))}
      <div className="grid gap-4 sm:grid-cols-[10rem_minmax(0,1fr)]">
        <Field id={`${id}-type`} label="Type" hint={editing ? "Fixed once created" : undefined}>
          <Select value={v.type} disabled={editing} onValueChange={(t) => set("type", t as ChannelFormValues["type"])}>
            <SelectTrigger id={`${id}-type`}>
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value="webhook">Webhook</SelectItem>
              <SelectItem value="email">E-mail</SelectItem>
            </SelectContent>
          </Select>
        </Field>
        <Field id={`${id}-name`} label="Name (optional)" error={errors.name}>
          <Input
            id={`${id}-name`}
            placeholder={v.type === "webhook" ? "e.g. On-call" : "e.g. Operations team"}
            value={v.name}
            aria-invalid={!!errors.name}
            onChange={(e) => set("name", e.target.value)}
          />
        </Field>
      </div>
      {v.type === "webhook" ? (
        <>
          <Field
            id={`${id}-url`}
            label="URL"
            hint="Gito POSTs signed JSON here (redirects are not followed)"
            error={errors.url}
          >
            <Input
              id={`${id}-url`}
              type="url"
              autoFocus={!editing}
              placeholder="https://ops.example.com/gito"
              value={v.url}
              aria-invalid={!!errors.url}
              onChange={(e) => set("url", e.target.value)}
            />
          </Field>
          {editing ? null : (
            <Field
              id={`${id}-secret`}
              label="Signing secret (optional)"
              hint="16–256 characters; leave empty and Gito generates one. Shown once."
              error={errors.secret}
            >
              <Input
                id={`${id}-secret`}
                type="password"
                autoComplete="new-password"
                value={v.secret}
                aria-invalid={!!errors.secret}
                onChange={(e) => set("secret", e.target.value)}
              />
            </Field>
          )}
        </>
      ) : (
        <Field id={`${id}-to`} label="Recipients" hint="Up to 20 addresses, separated by commas" error={errors.to}>
          <Textarea
            id={`${id}-to`}
            className="min-h-14"
            placeholder="ops@example.com, lead@example.com"
            value={v.to}
            aria-invalid={!!errors.to}
            onChange={(e) => set("to", e.target.value)}
          />
        </Field>
      )}

      <fieldset className="grid gap-3 rounded-md border p-3">
        <legend className="px-1 text-xs font-medium tracking-wide text-muted-foreground uppercase">Which alarms</legend>
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id={`${id}-severity`} label="Least severity" error={errors.min_severity}>
            <Select value={v.min_severity} onValueChange={(s) => set("min_severity", s as Severity)}>
              <SelectTrigger id={`${id}-severity`}>
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {LEAST_FIRST.map((s) => (
                  <SelectItem key={s} value={s}>
                    {s === "WARNING" ? "Warning (all alarms)" : `${severityLabel(s)} and worse`}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </Field>
          <Field id={`${id}-events`} label="Changes" error={errors.events}>
            <div className="flex flex-wrap gap-x-4 gap-y-1.5 pt-1" id={`${id}-events`}>
              {CHANNEL_EVENTS.map((event) => (
                <label key={event.value} className="flex items-center gap-1.5 text-sm">
                  <input
                    type="checkbox"
                    className="size-4 accent-primary"
                    checked={v.events.includes(event.value)}
                    onChange={(e) =>
                      set(
                        "events",
                        e.target.checked ? [...v.events, event.value] : v.events.filter((x) => x !== event.value),
                      )
                    }
                  />
                  {event.label}
                </label>
              ))}
            </div>
          </Field>
        </div>
        <Field
          id={`${id}-sites`}
          label="Sites"
          hint={v.site_ids.length ? undefined : "None ticked: alarms of every site"}
          error={errors.site_ids}
        >
          {sites?.length ? (
            <div className="grid max-h-36 gap-1 overflow-y-auto rounded-md border p-2 sm:grid-cols-2" id={`${id}-sites`}>
              {sites.map((site) => (
                <label key={site.id} className="flex items-center gap-2 text-sm">
                  <input
                    type="checkbox"
                    className="size-4 accent-primary"
                    checked={v.site_ids.includes(site.id)}
                    onChange={(e) =>
                      set(
                        "site_ids",
                        e.target.checked ? [...v.site_ids, site.id] : v.site_ids.filter((x) => x !== site.id),
                      )
                    }
                  />
                  <span className="truncate">{site.name}</span>
                </label>
              ))}
            </div>
          ) : (
            <p className="text-sm text-muted-foreground">No sites yet: every alarm of the tenant.</p>
          )}
        </Field>
      </fieldset>
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          className="size-4 accent-primary"
          checked={v.enabled}
          onChange={(e) => set("enabled", e.target.checked)}
        />
        Enabled
      </label>
      {footer}
    </form>
  );
}
