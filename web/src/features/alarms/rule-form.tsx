"use client";

import { PlusIcon, Trash2Icon } from "lucide-react";
import type { FormEvent, ReactNode } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { CheckboxLabel, Field, FieldError, FieldGroup, useFormValues } from "@/components/field";
import type { DialogFormProps } from "@/components/form-dialog";
import { Input } from "@/components/ui/input";
import { Button } from "@/components/ui/button";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { useSiteOptions } from "@/features/sites/api";
import { ApiError } from "@/lib/api/client";

import { OPERATORS, SEVERITIES, type Operator, type RuleCreate, type Severity } from "./api";
import { DevicePicker } from "./devices";
import { severityLabel } from "./severity";
import {
  RANGE_OPERATORS,
  formatDuration,
  ruleErrors,
  toRuleBody,
  type EscalationRow,
  type Operand,
  type RuleFormValues,
  type Scope,
} from "./rule-values";

// The API takes at most 8 escalation thresholds, each with a severity of its own; with the
// condition's, four severities exist, so three further thresholds is the useful maximum.
const MAX_ESCALATION = SEVERITIES.length - 1;

const OPERATOR_LABEL: Record<Operator, string> = {
  ">": "> greater than",
  ">=": "≥ at least",
  "<": "< less than",
  "<=": "≤ at most",
  "==": "= equals",
  "!=": "≠ differs from",
  between: "between (inclusive)",
  outside: "outside",
};

const SCOPES: { value: Scope; label: string }[] = [
  { value: "all", label: "Every device" },
  { value: "device_type", label: "Devices of a type" },
  { value: "site", label: "Devices of a site" },
  { value: "device", label: "One device" },
];

function SeveritySelect({
  id,
  value,
  onChange,
  label = "Severity",
}: {
  id: string;
  value: Severity;
  onChange: (s: Severity) => void;
  label?: string;
}) {
  return (
    <Select value={value} onValueChange={(v) => onChange(v as Severity)}>
      <SelectTrigger id={id} aria-label={label} className="w-32">
        <SelectValue />
      </SelectTrigger>
      <SelectContent>
        {SEVERITIES.map((s) => (
          <SelectItem key={s} value={s}>
            {severityLabel(s)}
          </SelectItem>
        ))}
      </SelectContent>
    </Select>
  );
}

/** An operator and its value: one input, or two for a range. */
function OperandInputs({
  id,
  value,
  onChange,
  label,
  invalid,
}: {
  id: string;
  value: Operand;
  onChange: (next: Operand) => void;
  label: string;
  invalid?: boolean;
}) {
  const range = RANGE_OPERATORS.includes(value.operator);
  return (
    <div className="flex min-w-0 flex-1 gap-2">
      <Select value={value.operator} onValueChange={(v) => onChange({ ...value, operator: v as Operator })}>
        <SelectTrigger id={`${id}-operator`} aria-label={`${label} operator`} className="w-40 shrink-0">
          <SelectValue />
        </SelectTrigger>
        <SelectContent>
          {OPERATORS.map((op) => (
            <SelectItem key={op} value={op}>
              {OPERATOR_LABEL[op]}
            </SelectItem>
          ))}
        </SelectContent>
      </Select>
      {range ? (
        <>
          <Input
            id={`${id}-low`}
            aria-label={`${label} low`}
            inputMode="decimal"
            placeholder="low"
            value={value.low}
            aria-invalid={invalid}
            onChange={(e) => onChange({ ...value, low: e.target.value })}
          />
          <Input
            aria-label={`${label} high`}
            inputMode="decimal"
            placeholder="high"
            value={value.high}
            aria-invalid={invalid}
            onChange={(e) => onChange({ ...value, high: e.target.value })}
          />
        </>
      ) : (
        <Input
          id={`${id}-value`}
          aria-label={`${label} value`}
          placeholder="value"
          value={value.value}
          aria-invalid={invalid}
          onChange={(e) => onChange({ ...value, value: e.target.value })}
        />
      )}
    </div>
  );
}

/** A control whose label is its `aria-label`, with its error under it. */
function Unlabelled({ error, children }: { error?: string; children: ReactNode }) {
  return (
    <div className="grid gap-1.5">
      {children}
      <FieldError message={error} />
    </div>
  );
}

/** A number of seconds; the hint says how long that is once it is a whole number. */
function SecondsField({
  id,
  label,
  hint,
  value,
  error,
  onChange,
}: {
  id: string;
  label: string;
  hint: string;
  value: string;
  error?: string;
  onChange: (value: string) => void;
}) {
  const n = Number(value);
  return (
    <Field
      id={id}
      label={label}
      hint={value.trim() && Number.isInteger(n) && n > 0 ? `${hint} (= ${formatDuration(n)})` : hint}
      error={error}
    >
      <Input
        id={id}
        type="number"
        min={0}
        placeholder="0"
        value={value}
        aria-invalid={!!error}
        onChange={(e) => onChange(e.target.value)}
      />
    </Field>
  );
}

export function RuleForm({ id, initial, editing, onSubmit, error, footer }: DialogFormProps<RuleFormValues, RuleCreate>) {
  const [v, set, setValues] = useFormValues(initial);
  const { data: sites } = useSiteOptions();
  const { fields: errors, general } = ruleErrors(error);
  const setRow = (index: number, row: EscalationRow) =>
    setValues((old) => ({ ...old, escalation: old.escalation.map((r, i) => (i === index ? row : r)) }));
  const unusedSeverity = () =>
    SEVERITIES.find((s) => s !== v.severity && !v.escalation.some((r) => r.severity === s)) ?? "CRITICAL";
  // A 422 without field details (a scope the caller may not use, ...) is shown as a whole.
  const unmapped =
    error && !(error instanceof ApiError && error.status === 422 && (general.length || Object.keys(errors).length));

  function submit(event: FormEvent) {
    event.preventDefault();
    onSubmit(toRuleBody(v));
  }
  // Both kinds of rule have a cooldown.
  const cooldown = (
    <SecondsField
      id={`${id}-cooldown`}
      label="Cooldown (s)"
      hint="No new alarm this long after a clear"
      value={v.cooldown_s}
      error={errors.cooldown_s}
      onChange={(value) => set("cooldown_s", value)}
    />
  );

  return (
    <form id={id} onSubmit={submit} className="grid gap-4" noValidate>
      {unmapped ? <ErrorNotice error={error} /> : null}
      {general.length ? (
        <div
          role="alert"
          className="rounded-md border border-destructive/30 bg-destructive/8 px-3 py-2 text-sm text-destructive"
          data-testid="rule-errors"
        >
          {general.map((message) => (
            <p key={message}>{message}</p>
          ))}
        </div>
      ) : null}
      <div className="grid gap-4 sm:grid-cols-[minmax(0,1fr)_12rem]">
        <Field id={`${id}-name`} label="Name" error={errors.name}>
          <Input
            id={`${id}-name`}
            autoFocus
            value={v.name}
            aria-invalid={!!errors.name}
            onChange={(e) => set("name", e.target.value)}
          />
        </Field>
        <Field id={`${id}-kind`} label="Kind" hint={editing ? "Fixed once created" : undefined} error={errors.kind}>
          <Select value={v.kind} disabled={editing} onValueChange={(k) => set("kind", k as RuleFormValues["kind"])}>
            <SelectTrigger id={`${id}-kind`}>
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value="threshold">Threshold</SelectItem>
              <SelectItem value="no_data">No data</SelectItem>
            </SelectContent>
          </Select>
        </Field>
      </div>
      <Field id={`${id}-description`} label="Description (optional)" error={errors.description}>
        <Textarea
          id={`${id}-description`}
          className="min-h-14"
          value={v.description}
          onChange={(e) => set("description", e.target.value)}
        />
      </Field>

      <FieldGroup title="Applies to">
        <div className="grid gap-3 sm:grid-cols-[12rem_minmax(0,1fr)]">
          <Select value={v.scope} onValueChange={(s) => set("scope", s as Scope)}>
            <SelectTrigger aria-label="Scope">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              {SCOPES.map((s) => (
                <SelectItem key={s.value} value={s.value}>
                  {s.label}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
          {v.scope === "device_type" ? (
            <Unlabelled error={errors.device_type}>
              <Input
                aria-label="Device type"
                placeholder="e.g. fridge"
                value={v.device_type}
                aria-invalid={!!errors.device_type}
                onChange={(e) => set("device_type", e.target.value)}
              />
            </Unlabelled>
          ) : v.scope === "site" ? (
            <Unlabelled error={errors.site_id}>
              <Select value={v.site_id} onValueChange={(s) => set("site_id", s)}>
                <SelectTrigger aria-label="Site" aria-invalid={!!errors.site_id}>
                  <SelectValue placeholder="Pick a site" />
                </SelectTrigger>
                <SelectContent>
                  {(sites ?? []).map((site) => (
                    <SelectItem key={site.id} value={site.id}>
                      {site.name}
                    </SelectItem>
                  ))}
                </SelectContent>
              </Select>
            </Unlabelled>
          ) : v.scope === "device" ? (
            <Unlabelled error={errors.device_id}>
              <DevicePicker
                value={v.device_id}
                onChange={(d) => set("device_id", d)}
                placeholder="Search a device"
                invalid={!!errors.device_id}
              />
            </Unlabelled>
          ) : (
            <p className="self-center text-sm text-muted-foreground">Every device of the tenant, now and later.</p>
          )}
        </div>
      </FieldGroup>

      {v.kind === "threshold" ? (
        <>
          <FieldGroup title="Condition">
            <Unlabelled error={errors.field}>
              <Input
                id={`${id}-field`}
                aria-label="Telemetry field"
                placeholder="telemetry field, e.g. temperature"
                className="sm:max-w-72"
                value={v.field}
                aria-invalid={!!errors.field}
                onChange={(e) => set("field", e.target.value)}
              />
            </Unlabelled>
            <Unlabelled error={errors.condition ?? errors.severity}>
              <div className="flex flex-wrap items-center gap-2">
                <OperandInputs
                  id={`${id}-condition`}
                  label="Condition"
                  value={v.condition}
                  invalid={!!errors.condition}
                  onChange={(c) => set("condition", c)}
                />
                <SeveritySelect id={`${id}-severity`} value={v.severity} onChange={(s) => set("severity", s)} />
                {/* Lines the row up with the escalation rows' remove buttons. */}
                <span className="w-7 shrink-0" />
              </div>
            </Unlabelled>
            <p className="text-xs text-muted-foreground">
              Numbers compare as numbers; <code>true</code>/<code>false</code> are booleans; other text (or a quoted
              value like <code>&quot;30&quot;</code>) is a string. Dotted fields reach nested values.
            </p>
          </FieldGroup>

          <FieldGroup title="Escalation">
            {v.escalation.length === 0 ? (
              <p className="text-sm text-muted-foreground">
                Further thresholds on the same field raise the alarm&apos;s severity while it is open.
              </p>
            ) : null}
            {v.escalation.map((row, index) => (
              <div key={index} className="grid gap-1.5" data-testid="escalation-row">
                <div className="flex flex-wrap items-center gap-2">
                  <OperandInputs
                    id={`${id}-escalation-${index}`}
                    label={`Escalation ${index + 1}`}
                    value={row}
                    invalid={!!errors[`escalation.${index}`]}
                    onChange={(next) => setRow(index, { ...row, ...next })}
                  />
                  <SeveritySelect
                    id={`${id}-escalation-${index}-severity`}
                    label={`Escalation ${index + 1} severity`}
                    value={row.severity}
                    onChange={(severity) => setRow(index, { ...row, severity })}
                  />
                  <Button
                    type="button"
                    variant="ghost"
                    size="icon-sm"
                    aria-label={`Remove escalation ${index + 1}`}
                    onClick={() => set("escalation", v.escalation.filter((_, i) => i !== index))}
                  >
                    <Trash2Icon />
                  </Button>
                </div>
                <FieldError message={errors[`escalation.${index}`]} />
              </div>
            ))}
            <FieldError message={errors.escalation} />
            {v.escalation.length < MAX_ESCALATION ? (
              <div>
                <Button
                  type="button"
                  variant="outline"
                  size="sm"
                  onClick={() =>
                    set("escalation", [
                      ...v.escalation,
                      { ...v.condition, value: "", low: "", high: "", severity: unusedSeverity() },
                    ])
                  }
                >
                  <PlusIcon />
                  Add escalation
                </Button>
              </div>
            ) : null}
          </FieldGroup>

          <FieldGroup title="Timing and clearing">
            <div className="grid gap-4 sm:grid-cols-2">
              <SecondsField
                id={`${id}-duration`}
                label="Duration (s)"
                hint="Breach must hold this long before an alarm"
                value={v.duration_s}
                error={errors.duration_s}
                onChange={(value) => set("duration_s", value)}
              />
              {cooldown}
            </div>
            <Unlabelled error={errors.clear_condition}>
              <CheckboxLabel checked={v.clear} onChange={(clear) => set("clear", clear)}>
                Clear only when (hysteresis)
              </CheckboxLabel>
              {v.clear ? (
                <OperandInputs
                  id={`${id}-clear`}
                  label="Clear condition"
                  value={v.clear_condition}
                  invalid={!!errors.clear_condition}
                  onChange={(c) => set("clear_condition", c)}
                />
              ) : (
                <p className="text-xs text-muted-foreground">Without one, the first reading that does not breach clears.</p>
              )}
            </Unlabelled>
          </FieldGroup>
        </>
      ) : (
        <FieldGroup title="Silence">
          <div className="grid gap-3 sm:grid-cols-[16rem_minmax(0,1fr)]">
            <Select
              value={v.no_data_mode}
              onValueChange={(mode) => set("no_data_mode", mode as RuleFormValues["no_data_mode"])}
            >
              <SelectTrigger aria-label="No-data window">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                <SelectItem value="seconds">Silent longer than (s)</SelectItem>
                <SelectItem value="factor">Silent longer than × expected interval</SelectItem>
              </SelectContent>
            </Select>
            {v.no_data_mode === "seconds" ? (
              <Unlabelled error={errors.no_data_s}>
                <Input
                  aria-label="Silence (s)"
                  type="number"
                  min={1}
                  placeholder="e.g. 900"
                  value={v.no_data_s}
                  aria-invalid={!!errors.no_data_s}
                  onChange={(e) => set("no_data_s", e.target.value)}
                />
              </Unlabelled>
            ) : (
              <Unlabelled error={errors.no_data_factor}>
                <Input
                  aria-label="Silence factor"
                  type="number"
                  min={0}
                  step="any"
                  placeholder="e.g. 3"
                  value={v.no_data_factor}
                  aria-invalid={!!errors.no_data_factor}
                  onChange={(e) => set("no_data_factor", e.target.value)}
                />
              </Unlabelled>
            )}
          </div>
          <div className="grid gap-4 sm:grid-cols-2">
            <Field id={`${id}-severity`} label="Severity" error={errors.severity}>
              <SeveritySelect id={`${id}-severity`} value={v.severity} onChange={(s) => set("severity", s)} />
            </Field>
            {cooldown}
          </div>
          <p className="text-xs text-muted-foreground">
            The scheduler checks silence periodically; a factor rule ignores devices without an expected interval.
          </p>
        </FieldGroup>
      )}

      <CheckboxLabel checked={v.enabled} onChange={(enabled) => set("enabled", enabled)}>
        Enabled
      </CheckboxLabel>
      {footer}
    </form>
  );
}
