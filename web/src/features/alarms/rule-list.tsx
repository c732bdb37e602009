"use client";

import { PencilIcon, PlusIcon, SirenIcon, Trash2Icon } from "lucide-react";
import { useEffect, useState, type ReactNode } from "react";
import { toast } from "sonner";

import { ConfirmDialog } from "@/components/confirm-dialog";
import { EmptyState } from "@/components/empty-state";
import { EnabledBadge, EnabledSwitch } from "@/components/enabled-switch";
import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { EnabledFilter, FilterBar, parseEnabled } from "@/components/list-filters";
import { ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle, DialogTrigger } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
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

function RuleDialog({ rule, trigger }: { rule?: Rule; trigger: ReactNode }) {
  const save = useSaveRule(rule?.id);
  const { open, onOpenChange, close } = useDialogState(save.reset);
  const formId = rule ? `edit-rule-${rule.id}` : "create-rule";
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
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
                close();
              },
            })
          }
          footer={
            <FormDialogFooter
              onCancel={close}
              pending={save.isPending}
              submitLabel={rule ? "Save" : "Create rule"}
              pendingLabel="Saving…"
            />
          }
        />
      </DialogContent>
    </Dialog>
  );
}

function DeleteRuleDialog({ rule }: { rule: Rule }) {
  const remove = useDeleteRule();
  return (
    <ConfirmDialog
      trigger={
        <Button variant="ghost" size="icon-sm" aria-label={`Delete ${rule.name}`}>
          <Trash2Icon />
        </Button>
      }
      title={`Delete ${rule.name}?`}
      description="The rule and all its alarms, open or cleared, with their history, are removed. To stop it for a while, disable it instead."
      confirmLabel="Delete rule"
      mutation={remove}
      onConfirm={(close) =>
        remove.mutate(rule.id, {
          onSuccess: () => {
            toast.success(`${rule.name} deleted`);
            close();
          },
        })
      }
    />
  );
}

function RuleSwitch({ rule }: { rule: Rule }) {
  const toggle = useSetRuleEnabled();
  return <EnabledSwitch item={rule} mutation={toggle} variables={(enabled) => ({ id: rule.id, enabled })} />;
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
  const query: RuleListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    q: q || undefined,
    enabled: parseEnabled(params.get("enabled")),
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
        <FilterBar>
          <Input
            type="search"
            placeholder="Search rule names"
            aria-label="Search rules"
            className="max-w-xs"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <EnabledFilter
            allLabel="All rules"
            value={query.enabled}
            onChange={(enabled) => setParams({ enabled, page: null })}
          />
        </FilterBar>
        <ListTable
          error={error}
          loading={isPending}
          loadingRows={4}
          columns={columns}
          head={
            <>
              <TableHead>Rule</TableHead>
              <TableHead>Applies to</TableHead>
              <TableHead>Condition</TableHead>
              <TableHead>Severity</TableHead>
              <TableHead>Timing</TableHead>
              <TableHead>Enabled</TableHead>
              {canWrite ? <TableHead className="w-20" /> : null}
            </>
          }
        >
          {data?.data.map((rule) => {
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
                  {canWrite ? <RuleSwitch rule={rule} /> : <EnabledBadge enabled={rule.enabled} />}
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
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={SirenIcon} title={filtered ? "No rules match" : "No alert rules yet"}>
            {filtered
              ? "Try another search."
              : canWrite
                ? "Create one: for example, temperature above 8 for 5 minutes on every fridge."
                : "An administrator defines the rules that raise alarms."}
          </EmptyState>
        ) : null}
        <ListPagination list={data} onPage={(page) => setParams({ page })} />
      </Card>
    </>
  );
}
