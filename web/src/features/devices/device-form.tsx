"use client";

import { useState, type FormEvent } from "react";

import { Field, fieldErrors } from "@/components/field";
import { ErrorNotice } from "@/components/error-notice";
import type { DialogFormProps } from "@/components/form-dialog";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { useSiteOptions } from "@/features/sites/api";
import { ApiError } from "@/lib/api/client";

import type { Device, DeviceCreate } from "./api";

const NO_SITE = "__none__";
// Suggestions only: any type name is accepted.
const COMMON_TYPES = ["sensor", "temperature", "humidity", "air-quality", "meter", "tracker", "gateway", "actuator"];

export interface DeviceFormValues {
  name: string;
  device_type: string;
  dev_eui: string;
  site_id: string;
  tags: string;
  expected_interval_s: string;
  metadata: string;
}

export function initialValues(device?: Device): DeviceFormValues {
  return {
    name: device?.name ?? "",
    device_type: device?.device_type ?? "",
    dev_eui: device?.dev_eui ?? "",
    site_id: device?.site_id ?? "",
    tags: device?.tags.join(", ") ?? "",
    expected_interval_s: device?.expected_interval_s ? String(device.expected_interval_s) : "",
    metadata: device && Object.keys(device.metadata).length ? JSON.stringify(device.metadata, null, 2) : "",
  };
}

/** Form values to the request body; throws a readable error for bad local input. */
export function toBody(values: DeviceFormValues): DeviceCreate {
  let metadata: Record<string, unknown> = {};
  if (values.metadata.trim()) {
    try {
      metadata = JSON.parse(values.metadata);
    } catch {
      throw new FormError({ metadata: "Not valid JSON" });
    }
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      throw new FormError({ metadata: "Must be a JSON object, like {\"floor\": 2}" });
    }
  }
  return {
    name: values.name.trim(),
    device_type: values.device_type.trim(),
    dev_eui: values.dev_eui.trim() || null,
    site_id: values.site_id || null,
    tags: values.tags
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
    expected_interval_s: values.expected_interval_s ? Number(values.expected_interval_s) : null,
    metadata,
  };
}

export class FormError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super("invalid input");
  }
}

export function DeviceForm({
  id,
  initial,
  onSubmit,
  error,
  footer,
}: Omit<DialogFormProps<DeviceFormValues, DeviceCreate>, "editing">) {
  const [values, setValues] = useState(initial);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const { data: sites } = useSiteOptions();
  const serverErrors = error instanceof ApiError && error.status === 422 ? fieldErrors(error.details) : {};
  const errors = { ...serverErrors, ...localErrors };
  const set = (key: keyof DeviceFormValues) => (value: string) => setValues((v) => ({ ...v, [key]: value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    setLocalErrors({});
    try {
      onSubmit(toBody(values));
    } catch (e) {
      if (e instanceof FormError) setLocalErrors(e.fields);
      else throw e;
    }
  }

  const unmappedError = error && !(error instanceof ApiError && Object.keys(serverErrors).length > 0);
  return (
    <form id={id} onSubmit={submit} className="grid gap-4" noValidate>
      {unmappedError ? <ErrorNotice error={error} /> : null}
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id={`${id}-name`} label="Name" error={errors.name}>
          <Input
            id={`${id}-name`}
            name="name"
            required
            autoFocus
            value={values.name}
            onChange={(e) => set("name")(e.target.value)}
            aria-invalid={!!errors.name}
          />
        </Field>
        <Field id={`${id}-type`} label="Type" error={errors.device_type}>
          <Input
            id={`${id}-type`}
            name="device_type"
            required
            list={`${id}-types`}
            value={values.device_type}
            onChange={(e) => set("device_type")(e.target.value)}
            aria-invalid={!!errors.device_type}
          />
          <datalist id={`${id}-types`}>
            {COMMON_TYPES.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </Field>
        <Field id={`${id}-site`} label="Site" error={errors.site_id}>
          <Select value={values.site_id || NO_SITE} onValueChange={(v) => set("site_id")(v === NO_SITE ? "" : v)}>
            <SelectTrigger id={`${id}-site`}>
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={NO_SITE}>No site</SelectItem>
              {(sites ?? []).map((site) => (
                <SelectItem key={site.id} value={site.id}>
                  {site.name}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
        </Field>
        <Field id={`${id}-eui`} label="DevEUI (LoRaWAN)" hint="16 hex digits" error={errors.dev_eui}>
          <Input
            id={`${id}-eui`}
            name="dev_eui"
            className="font-mono"
            value={values.dev_eui}
            onChange={(e) => set("dev_eui")(e.target.value)}
            aria-invalid={!!errors.dev_eui}
          />
        </Field>
        <Field id={`${id}-tags`} label="Tags" hint="Comma-separated" error={errors.tags}>
          <Input id={`${id}-tags`} name="tags" value={values.tags} onChange={(e) => set("tags")(e.target.value)} />
        </Field>
        <Field
          id={`${id}-interval`}
          label="Expected interval (s)"
          hint="Marks the device offline when it stays silent longer"
          error={errors.expected_interval_s}
        >
          <Input
            id={`${id}-interval`}
            name="expected_interval_s"
            type="number"
            min={1}
            value={values.expected_interval_s}
            onChange={(e) => set("expected_interval_s")(e.target.value)}
          />
        </Field>
      </div>
      <Field id={`${id}-metadata`} label="Metadata (JSON object)" error={errors.metadata}>
        <Textarea
          id={`${id}-metadata`}
          name="metadata"
          className="font-mono text-xs"
          placeholder='{"floor": 2, "room": "B-204"}'
          value={values.metadata}
          onChange={(e) => set("metadata")(e.target.value)}
          aria-invalid={!!errors.metadata}
        />
      </Field>
      {footer}
    </form>
  );
}
