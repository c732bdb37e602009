"use client";

import { BellRingIcon, KeyRoundIcon, ListIcon, LockIcon, PencilIcon, PlusIcon, SendIcon, Trash2Icon } from "lucide-react";
import { useState, type ComponentProps, type ReactNode } from "react";
import { toast } from "sonner";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice, errorMessage } from "@/components/error-notice";
import { PageHeader } from "@/components/page-header";
import { Pagination } from "@/components/pagination";
import { SecretOnce } from "@/components/secret-once";
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
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { SeverityBadge } from "@/features/alarms/severity";
import { ToggleSwitch } from "@/features/alarms/toggle-switch";
import { useMe, usePermission } from "@/features/auth/hooks";
import { useSiteNames } from "@/features/sites/api";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { cn } from "@/lib/utils";

import {
  useChannels,
  useCreateChannel,
  useDeleteChannel,
  useRotateChannelSecret,
  useTestChannel,
  useUpdateChannel,
  type Channel,
  type ChannelCreate,
  type ChannelListParams,
  type ChannelUpdate,
  type ChannelWithSecret,
} from "./api";
import { ChannelForm, initialChannelValues } from "./channel-form";
import { DeliveryLog } from "./delivery-log";

const ALL = "__all__";
const SECRET_NOTE =
  "Copy it now into the receiver, which verifies X-Gito-Signature with it. It is shown only once and cannot be recovered; rotate it to get a new one.";

function CreateChannelDialog() {
  const [open, setOpen] = useState(false);
  const [created, setCreated] = useState<ChannelWithSecret | null>(null);
  const create = useCreateChannel();

  function onOpenChange(next: boolean) {
    setOpen(next);
    if (!next) {
      // Forget the secret as soon as the dialog closes: it must not linger in memory or UI.
      setCreated(null);
      create.reset();
    }
  }

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button>
          <PlusIcon />
          New channel
        </Button>
      </DialogTrigger>
      <DialogContent className="sm:max-w-xl" onInteractOutside={(e) => created && e.preventDefault()}>
        {created ? (
          <>
            <DialogHeader>
              <DialogTitle>Channel created</DialogTitle>
              <DialogDescription>
                <span className="font-medium text-foreground">{created.name}</span> is told about alarm changes from now
                on.
              </DialogDescription>
            </DialogHeader>
            {created.secret ? <SecretOnce value={created.secret} label="Webhook signing secret" note={SECRET_NOTE} /> : null}
            <DialogFooter>
              <Button onClick={() => onOpenChange(false)}>Done</Button>
            </DialogFooter>
          </>
        ) : (
          <>
            <DialogHeader>
              <DialogTitle>New notification channel</DialogTitle>
              <DialogDescription>A signed webhook or e-mail to people, on alarm changes you choose.</DialogDescription>
            </DialogHeader>
            <ChannelForm
              id="create-channel"
              editing={false}
              initial={initialChannelValues()}
              error={create.error}
              onSubmit={(body) =>
                create.mutate(body, {
                  onSuccess: (channel) => {
                    if (channel.secret) setCreated(channel);
                    else {
                      toast.success(`${channel.name} created`);
                      onOpenChange(false);
                    }
                  },
                })
              }
              footer={
                <DialogFooter>
                  <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
                    Cancel
                  </Button>
                  <Button type="submit" disabled={create.isPending}>
                    {create.isPending ? "Creating…" : "Create channel"}
                  </Button>
                </DialogFooter>
              }
            />
          </>
        )}
      </DialogContent>
    </Dialog>
  );
}

function IconAction({ label, children, ...props }: { label: string; children: ReactNode } & ComponentProps<"button">) {
  return (
    <Button variant="ghost" size="icon-sm" aria-label={label} title={label} {...props}>
      {children}
    </Button>
  );
}

function EditChannelDialog({ channel }: { channel: Channel }) {
  const [open, setOpen] = useState(false);
  const update = useUpdateChannel(channel.id);
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) update.reset();
      }}
    >
      <DialogTrigger asChild>
        <IconAction label={`Edit ${channel.name}`}>
          <PencilIcon />
        </IconAction>
      </DialogTrigger>
      <DialogContent className="sm:max-w-xl">
        <DialogHeader>
          <DialogTitle>Edit {channel.name}</DialogTitle>
        </DialogHeader>
        <ChannelForm
          key={open ? "open" : "closed"}
          id="edit-channel"
          editing
          initial={initialChannelValues(channel)}
          error={update.error}
          onSubmit={(body) => {
            // The type is fixed and the secret changes only by rotation.
            const changes: ChannelUpdate & Partial<Pick<ChannelCreate, "type">> = { ...body };
            delete changes.type;
            delete changes.secret;
            update.mutate(changes, {
              onSuccess: () => {
                toast.success("Channel saved");
                setOpen(false);
              },
            });
          }}
          footer={
            <DialogFooter>
              <Button type="button" variant="outline" onClick={() => setOpen(false)}>
                Cancel
              </Button>
              <Button type="submit" disabled={update.isPending}>
                {update.isPending ? "Saving…" : "Save"}
              </Button>
            </DialogFooter>
          }
        />
      </DialogContent>
    </Dialog>
  );
}

function RotateSecretDialog({ channel }: { channel: Channel }) {
  const [open, setOpen] = useState(false);
  const rotate = useRotateChannelSecret(channel.id);
  const secret = rotate.data?.secret;
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        // Drop the secret from memory once the dialog closes.
        if (!next) rotate.reset();
      }}
    >
      <DialogTrigger asChild>
        <IconAction label={`Rotate secret of ${channel.name}`}>
          <KeyRoundIcon />
        </IconAction>
      </DialogTrigger>
      <DialogContent onInteractOutside={(e) => secret && e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>{secret ? "New signing secret" : "Rotate signing secret?"}</DialogTitle>
          <DialogDescription>
            {secret
              ? "Requests are signed with this secret from now on. Update the receiver."
              : `The receiver of ${channel.name} rejects new requests until it has the new secret.`}
          </DialogDescription>
        </DialogHeader>
        {rotate.error ? <ErrorNotice error={rotate.error} /> : null}
        {secret ? <SecretOnce value={secret} label="Webhook signing secret" note={SECRET_NOTE} /> : null}
        <DialogFooter>
          {secret ? (
            <Button onClick={() => setOpen(false)}>Done</Button>
          ) : (
            <>
              <Button variant="outline" onClick={() => setOpen(false)}>
                Cancel
              </Button>
              <Button variant="destructive" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
                {rotate.isPending ? "Rotating…" : "Rotate secret"}
              </Button>
            </>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function DeleteChannelDialog({ channel, onDeleted }: { channel: Channel; onDeleted: () => void }) {
  const [open, setOpen] = useState(false);
  const remove = useDeleteChannel(channel.id);
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <IconAction label={`Delete ${channel.name}`}>
          <Trash2Icon />
        </IconAction>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Delete {channel.name}?</DialogTitle>
          <DialogDescription>
            Nothing more is sent to it, and its delivery log is removed. To pause it, disable it instead.
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
              remove.mutate(undefined, {
                onSuccess: () => {
                  toast.success(`${channel.name} deleted`);
                  setOpen(false);
                  onDeleted();
                },
              })
            }
          >
            Delete channel
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function EnabledSwitch({ channel }: { channel: Channel }) {
  const update = useUpdateChannel(channel.id);
  return (
    <ToggleSwitch
      checked={update.isPending ? !channel.enabled : channel.enabled}
      label={`${channel.name} enabled`}
      disabled={update.isPending}
      onChange={(enabled) =>
        update.mutate(
          { enabled },
          {
            onSuccess: (saved) => toast.success(`${saved.name} ${saved.enabled ? "enabled" : "disabled"}`),
            onError: (error) => toast.error(errorMessage(error)),
          },
        )
      }
    />
  );
}

function TestButton({ channel, onSent }: { channel: Channel; onSent: () => void }) {
  const test = useTestChannel(channel.id);
  return (
    <Button
      variant="outline"
      size="sm"
      disabled={test.isPending || !channel.enabled}
      title={channel.enabled ? "Queue a test message through the real delivery path" : "Enable the channel first"}
      onClick={() =>
        test.mutate(undefined, {
          onSuccess: () => {
            toast.success("Test message queued");
            onSent();
          },
          onError: (error) => toast.error(errorMessage(error)),
        })
      }
    >
      <SendIcon />
      Send test
    </Button>
  );
}

function Target({ channel }: { channel: Channel }) {
  if (channel.type === "webhook") {
    return (
      <span className="inline-flex min-w-0 items-center gap-1.5">
        <span className="truncate font-mono text-xs" title={channel.url ?? undefined}>
          {channel.url}
        </span>
        {channel.has_secret ? (
          <span title="Signed (X-Gito-Signature)">
            <LockIcon className="size-3.5 text-muted-foreground" />
          </span>
        ) : null}
      </span>
    );
  }
  return (
    <span className="truncate text-xs" title={channel.to?.join(", ")}>
      {channel.to?.join(", ")}
    </span>
  );
}

export function ChannelList() {
  const [params, setParams] = useUrlState();
  const { data: me } = useMe();
  const canRead = usePermission("notifications:read");
  const canWrite = usePermission("notifications:write");
  const siteNames = useSiteNames();
  const type = params.get("type");
  const enabledParam = params.get("enabled");
  const query: ChannelListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    type: type === "webhook" || type === "email" ? type : undefined,
    enabled: enabledParam === "true" ? true : enabledParam === "false" ? false : undefined,
  };
  const { data, isPending, error } = useChannels(query);
  const selectedId = params.get("channel");
  const selected = data?.data.find((c) => c.id === selectedId) ?? null;
  const filtered = !!(query.type || query.enabled !== undefined);
  const columns = canWrite ? 7 : 6;

  if (me && !canRead) {
    return (
      <>
        <PageHeader title="Notifications" />
        <Card>
          <EmptyState icon={LockIcon} title="Only tenant administrators manage notification channels">
            A channel&apos;s address and recipients are the tenant&apos;s operational secrets.
          </EmptyState>
        </Card>
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="Notifications"
        description="Webhooks and e-mail told about alarm changes"
        actions={canWrite ? <CreateChannelDialog /> : null}
      />
      <Card className="overflow-hidden">
        <div className="flex flex-wrap items-center gap-2 border-b p-3">
          <Select value={query.type ?? ALL} onValueChange={(v) => setParams({ type: v === ALL ? null : v, page: null })}>
            <SelectTrigger className="w-36" aria-label="Filter by type">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ALL}>All types</SelectItem>
              <SelectItem value="webhook">Webhooks</SelectItem>
              <SelectItem value="email">E-mail</SelectItem>
            </SelectContent>
          </Select>
          <Select value={enabledParam ?? ALL} onValueChange={(v) => setParams({ enabled: v === ALL ? null : v, page: null })}>
            <SelectTrigger className="w-36" aria-label="Filter by state">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ALL}>All channels</SelectItem>
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
                <TableHead>Channel</TableHead>
                <TableHead>Sends to</TableHead>
                <TableHead>Alarms</TableHead>
                <TableHead>Enabled</TableHead>
                <TableHead />
                <TableHead />
                {canWrite ? <TableHead className="w-28" /> : null}
              </TableRow>
            </TableHeader>
            <TableBody>
              {isPending
                ? Array.from({ length: 3 }, (_, i) => (
                    <TableRow key={i}>
                      <TableCell colSpan={columns}>
                        <Skeleton className="h-5" />
                      </TableCell>
                    </TableRow>
                  ))
                : data?.data.map((channel) => (
                    <TableRow
                      key={channel.id}
                      data-testid="channel-row"
                      className={cn(channel.id === selectedId && "bg-muted/50")}
                    >
                      <TableCell className="max-w-56">
                        <div className="truncate font-medium">{channel.name}</div>
                        <Badge variant="secondary" className="mt-0.5">
                          {channel.type === "webhook" ? "webhook" : "e-mail"}
                        </Badge>
                      </TableCell>
                      <TableCell className="max-w-72">
                        <Target channel={channel} />
                      </TableCell>
                      <TableCell className="text-xs text-muted-foreground">
                        <div className="flex items-center gap-1.5">
                          <SeverityBadge severity={channel.min_severity} />
                          {channel.min_severity === "WARNING" ? "all" : "and worse"}
                        </div>
                        <div className="mt-1 max-w-64 truncate">
                          {channel.events.join(", ")}
                          {channel.site_ids.length
                            ? ` · ${channel.site_ids.map((id) => siteNames.get(id) ?? id.slice(0, 8)).join(", ")}`
                            : " · every site"}
                        </div>
                      </TableCell>
                      <TableCell>
                        {canWrite ? (
                          <EnabledSwitch channel={channel} />
                        ) : channel.enabled ? (
                          <Badge variant="success">enabled</Badge>
                        ) : (
                          <Badge variant="muted">disabled</Badge>
                        )}
                      </TableCell>
                      <TableCell>
                        {canWrite ? <TestButton channel={channel} onSent={() => setParams({ channel: channel.id })} /> : null}
                      </TableCell>
                      <TableCell>
                        <Button
                          variant={channel.id === selectedId ? "secondary" : "ghost"}
                          size="sm"
                          onClick={() => setParams({ channel: channel.id === selectedId ? null : channel.id })}
                        >
                          <ListIcon />
                          Deliveries
                        </Button>
                      </TableCell>
                      {canWrite ? (
                        <TableCell>
                          <div className="flex justify-end gap-0.5">
                            <EditChannelDialog channel={channel} />
                            {channel.type === "webhook" ? <RotateSecretDialog channel={channel} /> : null}
                            <DeleteChannelDialog
                              channel={channel}
                              onDeleted={() => channel.id === selectedId && setParams({ channel: null })}
                            />
                          </div>
                        </TableCell>
                      ) : null}
                    </TableRow>
                  ))}
            </TableBody>
          </Table>
        )}
        {data && data.data.length === 0 ? (
          <EmptyState icon={BellRingIcon} title={filtered ? "No channels match" : "No notification channels yet"}>
            {filtered
              ? "Try other filters."
              : "Add a webhook (e.g. your on-call tool) or an e-mail list to hear about alarms as they happen."}
          </EmptyState>
        ) : null}
        {data && data.meta.total > data.meta.per_page ? (
          <Pagination
            page={data.meta.page}
            perPage={data.meta.per_page}
            total={data.meta.total}
            onPage={(page) => setParams({ page })}
          />
        ) : null}
      </Card>
      {selected ? <DeliveryLog key={selected.id} channel={selected} onClose={() => setParams({ channel: null })} /> : null}
    </>
  );
}
