"use client";

import { PencilIcon, PlusIcon, SirenIcon, Trash2Icon } from "lucide-react";
import { useEffect, useState, type ReactNode } from "react";
import { toast } from "sonner";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice, errorMessage } from "@/components/error-notice";
import { PageHeader } from "@/components/page-header";
import { Pagination } from "@/components/pagination";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { usePermission } from "@/features/auth/hooks";
import { useSiteNames } from "@/features/sites/api";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";

import { useDeleteRule, useRules, useSaveRule, useSetRuleEnabled, type Rule, type RuleListParams } from "./api";
import { DeviceLink, useRecentDeviceNames } from "./devices";
import { RuleForm } from "./rule-form";
import { clearSummary, conditionSummary, escalationSummary, formatDuration, initialRuleValues } from "./rule-values";
import { SeverityBadge } from "./severity";
import { AlarmTabs } from "./tabs";
import { ToggleSwitch } from "./toggle-switch";

const ALL = "__all__";

function RuleDialog({ rule, trigger }: { rule?: Rule; trigger: ReactNode }) {
  const [open, setOpen] = useState(false);
  const save = useSaveRule(rule?.id);
  const formId = rule ? `edit-rule-${rule.id}` : "create-rule";
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) save.reset();
      }}
    >
      <DialogTrigger asChild>{trigger}</DialogTrigger>
      <DialogContent className="sm:max-w-2xl">
        <DialogHeader>
          <DialogTitle>{rule ? `Edit ${rule.name}` : "New alert rule"}</DialogTitle>
          <DialogDescription>
            {rule
              ? "Changes apply to the next telemetry batch; open alarms stay until they clear."
              : "Raise an alarm when telemetry breaches a threshold, or when a device goes silent."}
          </DialogDescription>
        </DialogHeader>
        <RuleForm
          key={open ? "open" : "closed"}
          id={formId}
          editing={!!rule}
          initial={initialRuleValues(rule)}
          error={save.error}
          onSubmit={(body) =>
            save.mutate(body, {
              onSuccess: (saved) => {
                toast.success(rule ? "Rule saved" : `Rule “${saved.name}” created`);
                setOpen(false);
              },
            })
          }
          footer={
            <DialogFooter>
              <Button type="button" variant="outline" onClick={() => setOpen(false)}>
                Cancel
              </Button>
              <Button type="submit" disabled={save.isPending}>
                {save.isPending ? "Saving…" : rule ? "Save" : "Create rule"}
              </Button>
            </DialogFooter>
          }
        />
      </DialogContent>
    </Dialog>
  );
}

function DeleteRuleDialog({ rule }: { rule: Rule }) {
  const [open, setOpen] = useState(false);
  const remove = useDeleteRule();
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) remove.reset();
      }}
    >
      <DialogTrigger asChild>
        <Button variant="ghost" size="icon-sm" aria-label={`Delete ${rule.name}`}>
          <Trash2Icon />
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Delete {rule.name}?</DialogTitle>
          <DialogDescription>
            The rule and all its alarms, open or cleared, with their history, are removed. To stop it for a while,
            disable it instead.
          </DialogDescription>
        </DialogHeader>
        {remove.error ? <ErrorNotice error={remove.error} /> : null}
        <DialogFooter>
          <Button variant="outline" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button
            variant="destructive"
            disabled={remove.isPending}
            onClick={() =>
              remove.mutate(rule.id, {
                onSuccess: () => {
                  toast.success(`${rule.name} deleted`);
                  setOpen(false);
                },
              })
            }
          >
            Delete rule
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function EnabledSwitch({ rule }: { rule: Rule }) {
  const toggle = useSetRuleEnabled();
  return (
    <ToggleSwitch
      // Shows the new state while saving (and until the list is read again).
      checked={toggle.isPending ? !rule.enabled : rule.enabled}
      label={`${rule.name} enabled`}
      disabled={toggle.isPending}
      onChange={(enabled) =>
        toggle.mutate(
          { id: rule.id, enabled },
          {
            onSuccess: (saved) => toast.success(`${saved.name} ${saved.enabled ? "enabled" : "disabled"}`),
            onError: (error) => toast.error(errorMessage(error)),
          },
        )
      }
    />
  );
}

function ScopeCell({ rule, siteNames, deviceNames }: { rule: Rule; siteNames: Map<string, string>; deviceNames: Map<string, string> }) {
  if (rule.device_id) return <DeviceLink id={rule.device_id} known={deviceNames.get(rule.device_id)} className="block max-w-44" />;
  if (rule.device_type) {
    return (
      <span>
        <span className="text-muted-foreground">type </span>
        {rule.device_type}
      </span>
    );
  }
  if (rule.site_id) {
    return (
      <span>
        <span className="text-muted-foreground">site </span>
        {siteNames.get(rule.site_id) ?? rule.site_id.slice(0, 8)}
      </span>
    );
  }
  return <span className="text-muted-foreground">every device</span>;
}

export function RuleList() {
  const [params, setParams] = useUrlState();
  const canWrite = usePermission("rules:write");
  const siteNames = useSiteNames();
  const deviceNames = useRecentDeviceNames();
  const [search, setSearch] = useState(params.get("q") ?? "");
  const q = useDebounced(search.trim());
  useEffect(() => {
    if (q !== (params.get("q") ?? "")) setParams({ q, page: null });
    // Only the typed value drives this; the URL is the output.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q]);
  const enabledParam = params.get("enabled");
  const query: RuleListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    q: q || undefined,
    enabled: enabledParam === "true" ? true : enabledParam === "false" ? false : undefined,
  };
  const { data, isPending, error } = useRules(query);
  const filtered = !!(query.q || query.enabled !== undefined);
  const columns = canWrite ? 7 : 6;

  return (
    <>
      <PageHeader
        title="Alarms"
        description="Alert rules turn telemetry into alarms"
        actions={
          canWrite ? (
            <RuleDialog
              trigger={
                <Button>
                  <PlusIcon />
                  New rule
                </Button>
              }
            />
          ) : null
        }
      />
      <AlarmTabs />
      <Card className="overflow-hidden">
        <div className="flex flex-wrap items-center gap-2 border-b p-3">
          <Input
            type="search"
            placeholder="Search rule names"
            aria-label="Search rules"
            className="max-w-xs"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <Select value={enabledParam ?? ALL} onValueChange={(v) => setParams({ enabled: v === ALL ? null : v, page: null })}>
            <SelectTrigger className="w-36" aria-label="Filter by state">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ALL}>All rules</SelectItem>
              <SelectItem value="true">Enabled</SelectItem>
              <SelectItem value="false">Disabled</SelectItem>
            </SelectContent>
          </Select>
        </div>
        {error ? (
          <div className="p-4">
            <ErrorNotice error={error} />
          </div>
        ) : (
          <Table>
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Rule</TableHead>
                <TableHead>Applies to</TableHead>
                <TableHead>Condition</TableHead>
                <TableHead>Severity</TableHead>
                <TableHead>Timing</TableHead>
                <TableHead>Enabled</TableHead>
                {canWrite ? <TableHead className="w-20" /> : null}
              </TableRow>
            </TableHeader>
            <TableBody>
              {isPending
                ? Array.from({ length: 4 }, (_, i) => (
                    <TableRow key={i}>
                      <TableCell colSpan={columns}>
                        <Skeleton className="h-5" />
                      </TableCell>
                    </TableRow>
                  ))
                : data?.data.map((rule) => {
                    const escalation = escalationSummary(rule);
                    const clear = clearSummary(rule);
                    return (
                      <TableRow key={rule.id} data-testid="rule-row">
                        <TableCell className="max-w-64">
                          <div className="truncate font-medium">{rule.name}</div>
                          {rule.description ? (
                            <div className="truncate text-xs text-muted-foreground">{rule.description}</div>
                          ) : null}
                        </TableCell>
                        <TableCell>
                          <ScopeCell rule={rule} siteNames={siteNames} deviceNames={deviceNames} />
                        </TableCell>
                        <TableCell className="max-w-72">
                          <div className="truncate font-mono text-xs" data-testid="rule-condition">
                            {conditionSummary(rule)}
                          </div>
                          {clear ? <div className="truncate font-mono text-xs text-muted-foreground">{clear}</div> : null}
                        </TableCell>
                        <TableCell>
                          <div className="flex flex-wrap items-center gap-1">
                            <SeverityBadge severity={rule.severity} />
                            {escalation.map((step) => (
                              <span
                                key={step.severity}
                                className="inline-flex items-center gap-1 text-xs text-muted-foreground"
                                title={`escalates to ${step.severity} at ${step.operand}`}
                              >
                                → <SeverityBadge severity={step.severity} />
                                <span className="font-mono">{step.operand}</span>
                              </span>
                            ))}
                          </div>
                        </TableCell>
                        <TableCell className="text-xs text-muted-foreground">
                          {rule.kind === "no_data" ? (
                            <div>checked by the scheduler</div>
                          ) : rule.duration_s ? (
                            <div>for {formatDuration(rule.duration_s)}</div>
                          ) : (
                            <div>at once</div>
                          )}
                          {rule.cooldown_s ? <div>cooldown {formatDuration(rule.cooldown_s)}</div> : null}
                        </TableCell>
                        <TableCell>
                          {canWrite ? (
                            <EnabledSwitch rule={rule} />
                          ) : rule.enabled ? (
                            <Badge variant="success">enabled</Badge>
                          ) : (
                            <Badge variant="muted">disabled</Badge>
                          )}
                        </TableCell>
                        {canWrite ? (
                          <TableCell>
                            <div className="flex justify-end gap-1">
                              <RuleDialog
                                rule={rule}
                                trigger={
                                  <Button variant="ghost" size="icon-sm" aria-label={`Edit ${rule.name}`}>
                                    <PencilIcon />
                                  </Button>
                                }
                              />
                              <DeleteRuleDialog rule={rule} />
                            </div>
                          </TableCell>
                        ) : null}
                      </TableRow>
                    );
                  })}
            </TableBody>
          </Table>
        )}
        {data && data.data.length === 0 ? (
          <EmptyState icon={SirenIcon} title={filtered ? "No rules match" : "No alert rules yet"}>
            {filtered
              ? "Try another search."
              : canWrite
                ? "Create one: for example, temperature above 8 for 5 minutes on every fridge."
                : "An administrator defines the rules that raise alarms."}
          </EmptyState>
        ) : null}
        {data && data.meta.total > 0 ? (
          <Pagination
            page={data.meta.page}
            perPage={data.meta.per_page}
            total={data.meta.total}
            onPage={(page) => setParams({ page })}
          />
        ) : null}
      </Card>
    </>
  );
}
