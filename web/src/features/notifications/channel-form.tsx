"use client";

import type { FormEvent } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { CheckboxLabel, Field, FieldGroup, fieldErrors, toggled, useFormValues } from "@/components/field";
import type { DialogFormProps } from "@/components/form-dialog";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { SEVERITIES, type Severity } from "@/features/alarms/api";
import { severityLabel } from "@/features/alarms/severity";
import { SiteChecklist } from "@/features/sites/site-checklist";
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

export function ChannelForm({ id, initial, editing, onSubmit, error, footer }: DialogFormProps<ChannelFormValues, ChannelCreate>) {
  const [v, set] = useFormValues(initial);
  const { fields: errors, general } = channelErrors(error);
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

      <FieldGroup title="Which alarms">
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
                <CheckboxLabel
                  key={event.value}
                  className="gap-1.5"
                  checked={v.events.includes(event.value)}
                  onChange={(on) => set("events", toggled(v.events, event.value, on))}
                >
                  {event.label}
                </CheckboxLabel>
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
          <SiteChecklist
            id={`${id}-sites`}
            className="max-h-36 sm:grid-cols-2"
            value={v.site_ids}
            onChange={(ids) => set("site_ids", ids)}
            empty="No sites yet: every alarm of the tenant."
          />
        </Field>
      </FieldGroup>
      <CheckboxLabel checked={v.enabled} onChange={(enabled) => set("enabled", enabled)}>
        Enabled
      </CheckboxLabel>
      {footer}
    </form>
  );
}
