"use client";

import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components, operations } from "@/lib/api/schema";

export type Alarm = components["schemas"]["AlarmOut"];
export type AlarmEvent = components["schemas"]["AlarmEventOut"];
export type AlarmCounts = components["schemas"]["AlarmCounts"];
export type AlarmStatus = components["schemas"]["AlarmStatus"];
export type Severity = components["schemas"]["Severity"];
export type AlarmListParams = NonNullable<operations["list_alarms"]["parameters"]["query"]>;

export type Rule = components["schemas"]["RuleOut"];
export type RuleCreate = components["schemas"]["RuleCreate"];
export type RuleUpdate = components["schemas"]["RuleUpdate"];
export type RuleListParams = NonNullable<operations["list_alert_rules"]["parameters"]["query"]>;
export type Operator = components["schemas"]["Condition"]["operator"];

/** Worst first, as the counts and filters list them. */
export const SEVERITIES: Severity[] = ["CRITICAL", "MAJOR", "MINOR", "WARNING"];
export const ALARM_STATUSES: AlarmStatus[] = ["ACTIVE", "ACKNOWLEDGED", "CLEARED"];
export const OPEN_STATUSES: AlarmStatus[] = ["ACTIVE", "ACKNOWLEDGED"];
export const OPERATORS: Operator[] = [">", ">=", "<", "<=", "==", "!=", "between", "outside"];

export const alarmKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "alarms"] as const,
  lists: (tenantId: string) => [...alarmKeys.all(tenantId), "list"] as const,
  list: (tenantId: string, params: AlarmListParams) => [...alarmKeys.lists(tenantId), params] as const,
  counts: (tenantId: string) => [...alarmKeys.all(tenantId), "counts"] as const,
  detail: (tenantId: string, id: string) => [...alarmKeys.all(tenantId), "detail", id] as const,
  history: (tenantId: string, id: string) => [...alarmKeys.all(tenantId), "history", id] as const,
};

export const ruleKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "alert-rules"] as const,
  list: (tenantId: string, params: RuleListParams) => [...ruleKeys.all(tenantId), "list", params] as const,
  options: (tenantId: string) => [...ruleKeys.all(tenantId), "options"] as const,
};

export function useAlarms(params: AlarmListParams) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: alarmKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/alarms", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

export function useAlarmCounts() {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: alarmKeys.counts(tenantId ?? ""),
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/tenants/{tenant_id}/alarms/counts", { params: { path: { tenant_id: tenantId! } } }))
        .data,
    enabled: !!tenantId,
  });
}

export function useAlarm(id: string | null) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: alarmKeys.detail(tenantId ?? "", id ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/alarms/{alarm_id}", {
          params: { path: { tenant_id: tenantId!, alarm_id: id! } },
        }),
      ).data,
    enabled: !!tenantId && !!id,
  });
}

export function useAlarmHistory(id: string | null) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: alarmKeys.history(tenantId ?? "", id ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/alarms/{alarm_id}/history", {
          params: { path: { tenant_id: tenantId!, alarm_id: id! } },
        }),
      ).data,
    enabled: !!tenantId && !!id,
  });
}

/** Acknowledge or clear, with an optional comment; the answer is the changed alarm. */
export function useAlarmAction(action: "acknowledge" | "clear") {
  const tenantId = useTenantId();
  const queryClient = useQueryClient();
  return useMutation({
    // `severity`: what the operator was shown; the API refuses (409 ALARM_CHANGED) when the
    // alarm escalated meanwhile, so nobody acknowledges a CRITICAL they saw as MAJOR.
    mutationFn: async ({ id, comment, severity }: { id: string; comment: string; severity: Alarm["severity"] }) => {
      const options = {
        params: { path: { tenant_id: tenantId!, alarm_id: id } },
        body: { comment: comment.trim() || null, severity },
      };
      return unwrap(
        action === "acknowledge"
          ? await api.POST("/api/v1/tenants/{tenant_id}/alarms/{alarm_id}/acknowledge", options)
          : await api.POST("/api/v1/tenants/{tenant_id}/alarms/{alarm_id}/clear", options),
      ).data;
    },
    onSuccess: (alarm) => {
      queryClient.setQueryData(alarmKeys.detail(tenantId ?? "", alarm.id), alarm);
      return queryClient.invalidateQueries({ queryKey: alarmKeys.all(tenantId ?? "") });
    },
    // ALARM_CHANGED (or a status that moved on): show the alarm as it is now.
    onError: () => queryClient.invalidateQueries({ queryKey: alarmKeys.all(tenantId ?? "") }),
  });
}

export function useRules(params: RuleListParams) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: ruleKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/alert-rules", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

/** Up to 100 rules for the alarm list's rule filter. */
export function useRuleOptions() {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: ruleKeys.options(tenantId ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/alert-rules", {
          params: { path: { tenant_id: tenantId! }, query: { per_page: 100 } },
        }),
      ).data,
    enabled: !!tenantId,
    staleTime: 60_000,
  });
}

function useInvalidateRules() {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  return () => queryClient.invalidateQueries({ queryKey: ruleKeys.all(tenantId ?? "") });
}

/** Create (no id) or change a rule. */
export function useSaveRule(id?: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateRules();
  return useMutation({
    mutationFn: async (body: RuleCreate) => {
      if (!id) {
        return unwrap(
          await api.POST("/api/v1/tenants/{tenant_id}/alert-rules", { params: { path: { tenant_id: tenantId! } }, body }),
        ).data;
      }
      // The kind is fixed once created; every other field is sent, so a cleared field clears.
      const update: RuleUpdate & Partial<Pick<RuleCreate, "kind">> = { ...body };
      delete update.kind;
      return unwrap(
        await api.PATCH("/api/v1/tenants/{tenant_id}/alert-rules/{rule_id}", {
          params: { path: { tenant_id: tenantId!, rule_id: id } },
          body: update,
        }),
      ).data;
    },
    onSuccess: invalidate,
  });
}

export function useSetRuleEnabled() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateRules();
  return useMutation({
    mutationFn: async ({ id, enabled }: { id: string; enabled: boolean }) =>
      unwrap(
        await api.PATCH("/api/v1/tenants/{tenant_id}/alert-rules/{rule_id}", {
          params: { path: { tenant_id: tenantId!, rule_id: id } },
          body: { enabled },
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useDeleteRule() {
  const tenantId = useTenantId();
  const queryClient = useQueryClient();
  const invalidate = useInvalidateRules();
  return useMutation({
    mutationFn: async (id: string) =>
      unwrap(
        await api.DELETE("/api/v1/tenants/{tenant_id}/alert-rules/{rule_id}", {
          params: { path: { tenant_id: tenantId!, rule_id: id } },
        }),
      ),
    // Deleting a rule deletes its alarms.
    onSuccess: () =>
      Promise.all([invalidate(), queryClient.invalidateQueries({ queryKey: alarmKeys.all(tenantId ?? "") })]),
  });
}
