/**
 * The alert-rule form's values, the request body built from them, the summary shown in the
 * rule list, and the mapping of the API's 422 `details` onto the form's fields.
 */
import { ApiError } from "@/lib/api/client";
import { formatValue } from "@/lib/format";

import type { Operator, Rule, RuleCreate, Severity } from "./api";

export type Scope = "all" | "device" | "device_type" | "site";

export interface Operand {
  operator: Operator;
  /** The value as typed, for every operator but a range. */
  value: string;
  /** A range's bounds (`between`, `outside`). */
  low: string;
  high: string;
}

export interface EscalationRow extends Operand {
  severity: Severity;
}

export interface RuleFormValues {
  name: string;
  description: string;
  kind: "threshold" | "no_data";
  scope: Scope;
  device_id: string;
  device_type: string;
  site_id: string;
  field: string;
  condition: Operand;
  severity: Severity;
  escalation: EscalationRow[];
  duration_s: string;
  clear: boolean;
  clear_condition: Operand;
  cooldown_s: string;
  no_data_mode: "seconds" | "factor";
  no_data_s: string;
  no_data_factor: string;
  enabled: boolean;
}

export const RANGE_OPERATORS: Operator[] = ["between", "outside"];

function operand(condition: Record<string, unknown> | null | undefined, fallback: Operator): Operand {
  const operator = (condition?.operator as Operator | undefined) ?? fallback;
  const value = condition?.value;
  if (Array.isArray(value)) {
    return { operator, value: "", low: String(value[0] ?? ""), high: String(value[1] ?? "") };
  }
  // A string that reads as a number or boolean is quoted, so saving it again keeps it a string.
  const text =
    value === undefined || value === null
      ? ""
      : typeof value === "string" && parseScalar(value) !== value
        ? JSON.stringify(value)
        : String(value);
  return { operator, value: text, low: "", high: "" };
}

export function initialRuleValues(rule?: Rule): RuleFormValues {
  const scope: Scope = rule?.device_id ? "device" : rule?.device_type ? "device_type" : rule?.site_id ? "site" : "all";
  return {
    name: rule?.name ?? "",
    description: rule?.description ?? "",
    kind: rule?.kind === "no_data" ? "no_data" : "threshold",
    scope,
    device_id: rule?.device_id ?? "",
    device_type: rule?.device_type ?? "",
    site_id: rule?.site_id ?? "",
    field: String(rule?.condition?.field ?? ""),
    condition: operand(rule?.condition, ">"),
    severity: rule?.severity ?? "MAJOR",
    escalation: (rule?.escalation ?? []).map((t) => ({
      ...operand(t, ">"),
      severity: (t.severity as Severity | undefined) ?? "CRITICAL",
    })),
    duration_s: rule?.duration_s ? String(rule.duration_s) : "",
    clear: !!rule?.clear_condition,
    clear_condition: operand(rule?.clear_condition, "<"),
    cooldown_s: rule?.cooldown_s ? String(rule.cooldown_s) : "",
    no_data_mode: rule?.no_data_factor ? "factor" : "seconds",
    no_data_s: rule?.no_data_s ? String(rule.no_data_s) : "",
    no_data_factor: rule?.no_data_factor ? String(rule.no_data_factor) : "",
    enabled: rule?.enabled ?? true,
  };
}

function parseNumber(text: string): number | string {
  const trimmed = text.trim();
  const number = Number(trimmed);
  return trimmed !== "" && Number.isFinite(number) ? number : trimmed;
}

/** `30` is a number, `true`/`false` booleans, `"30"` (quoted) or any other text a string. */
export function parseScalar(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) return trimmed.slice(1, -1);
  return parseNumber(trimmed);
}

/** The operand as the API takes it; a value that cannot be right is sent as typed, so the
 * API's 422 says what is wrong next to the field. */
export function operandValue(o: Operand): unknown {
  if (RANGE_OPERATORS.includes(o.operator)) return [parseNumber(o.low), parseNumber(o.high)];
  if ([">", ">=", "<", "<="].includes(o.operator)) return parseNumber(o.value);
  return parseScalar(o.value);
}

function seconds(text: string): number {
  return text.trim() === "" ? 0 : Number(text);
}

function optionalNumber(text: string): number | null {
  return text.trim() === "" ? null : Number(text);
}

export function toRuleBody(v: RuleFormValues): RuleCreate {
  const body = {
    name: v.name.trim(),
    description: v.description.trim() || null,
    kind: v.kind,
    device_id: v.scope === "device" ? v.device_id || null : null,
    device_type: v.scope === "device_type" ? v.device_type.trim() || null : null,
    site_id: v.scope === "site" ? v.site_id || null : null,
    severity: v.severity,
    enabled: v.enabled,
  };
  if (v.kind === "threshold") {
    return {
      ...body,
      condition: { field: v.field.trim(), operator: v.condition.operator, value: operandValue(v.condition) },
      escalation: v.escalation.map((row) => ({ operator: row.operator, value: operandValue(row), severity: row.severity })),
      duration_s: seconds(v.duration_s),
      clear_condition: v.clear
        ? { operator: v.clear_condition.operator, value: operandValue(v.clear_condition) }
        : null,
      cooldown_s: seconds(v.cooldown_s),
      no_data_s: null,
      no_data_factor: null,
    };
  }
  return {
    ...body,
    condition: null,
    escalation: [],
    duration_s: 0,
    clear_condition: null,
    cooldown_s: seconds(v.cooldown_s),
    no_data_s: v.no_data_mode === "seconds" ? optionalNumber(v.no_data_s) : null,
    no_data_factor: v.no_data_mode === "factor" ? optionalNumber(v.no_data_factor) : null,
  };
}

/** Which form field a 422 location belongs to: `condition`, `escalation.1`, `name`, ...;
 * "" for the rule as a whole. */
function fieldKey(loc: unknown[]): string {
  const path = (loc[0] === "body" ? loc.slice(1) : loc).map(String);
  const [head, second] = path;
  if (!head) return "";
  if (head === "condition") return second === "field" ? "field" : "condition";
  if (head === "escalation") return second !== undefined && /^\d+$/.test(second) ? `escalation.${second}` : "escalation";
  return head;
}

export interface RuleErrors {
  fields: Record<string, string>;
  /** Messages about the rule as a whole (e.g. "each threshold ... needs its own severity"). */
  general: string[];
}

export function ruleErrors(error: unknown): RuleErrors {
  const out: RuleErrors = { fields: {}, general: [] };
  if (!(error instanceof ApiError) || error.status !== 422) return out;
  if (error.code === "DEVICE_NOT_FOUND") out.fields.device_id = error.message;
  else if (error.code === "SITE_NOT_FOUND") out.fields.site_id = error.message;
  if (!Array.isArray(error.details)) return out;
  for (const item of error.details as { loc?: unknown[]; msg?: string }[]) {
    if (!item.msg) continue;
    const message = item.msg.replace(/^Value error, /, "");
    const key = fieldKey(item.loc ?? []);
    if (!key) out.general.push(message);
    else if (!out.fields[key]) out.fields[key] = message;
  }
  return out;
}

// ----- display -------------------------------------------------------------------------------

function formatOperand(condition: Record<string, unknown>): string {
  const value = condition.value;
  if (Array.isArray(value)) return `${condition.operator} [${value.map(formatValue).join(", ")}]`;
  return `${condition.operator} ${typeof value === "string" ? JSON.stringify(value) : formatValue(value)}`;
}

export function formatDuration(s: number): string {
  if (s <= 0) return "0 s";
  if (s % 86_400 === 0) return `${s / 86_400} d`;
  if (s % 3_600 === 0) return `${s / 3_600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s.toLocaleString()} s`;
}

/** "temperature > 8", "silent > 15 min", "silent > 3 × expected interval". */
export function conditionSummary(rule: Rule): string {
  if (rule.kind === "no_data") {
    if (rule.no_data_factor) return `silent > ${formatValue(rule.no_data_factor)} × expected interval`;
    return `silent > ${formatDuration(rule.no_data_s ?? 0)}`;
  }
  if (!rule.condition) return "—";
  return `${String(rule.condition.field)} ${formatOperand(rule.condition)}`;
}

export function escalationSummary(rule: Rule): { operand: string; severity: Severity }[] {
  return rule.escalation.map((t) => ({ operand: formatOperand(t), severity: t.severity as Severity }));
}

export function clearSummary(rule: Rule): string | null {
  return rule.clear_condition ? `clears ${formatOperand(rule.clear_condition)}` : null;
}
