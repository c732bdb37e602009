"use client";

import { BellRingIcon, KeyRoundIcon, ListIcon, LockIcon, PencilIcon, PlusIcon, SendIcon, Trash2Icon } from "lucide-react";
import { useState, type ComponentProps, type ReactNode } from "react";
import { toast } from "sonner";

import { ConfirmDialog } from "@/components/confirm-dialog";
import { EmptyState } from "@/components/empty-state";
import { EnabledBadge, EnabledSwitch } from "@/components/enabled-switch";
import { errorMessage } from "@/components/error-notice";
import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { EnabledFilter, FilterBar, FilterSelect, parseEnabled } from "@/components/list-filters";
import { ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
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
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
import { SeverityBadge } from "@/features/alarms/severity";
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

const TYPE_OPTIONS = [
  { value: "webhook", label: "Webhooks" },
  { value: "email", label: "E-mail" },
];
const SECRET_NOTE =
  "Copy it now into the receiver, which verifies X-Gito-Signature with it. It is shown only once and cannot be recovered; rotate it to get a new one.";

function CreateChannelDialog() {
  const [created, setCreated] = useState<ChannelWithSecret | null>(null);
  const create = useCreateChannel();
  // Forget the secret as soon as the dialog closes: it must not linger in memory or UI.
  const { open, onOpenChange, close } = useDialogState(() => {
    setCreated(null);
    create.reset();
  });

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
              <Button onClick={close}>Done</Button>
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
                      close();
                    }
                  },
                })
              }
              footer={
                <FormDialogFooter
                  onCancel={close}
                  pending={create.isPending}
                  submitLabel="Create channel"
                  pendingLabel="Creating…"
                />
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
  const update = useUpdateChannel(channel.id);
  const { open, onOpenChange, close } = useDialogState(update.reset);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
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
                close();
              },
            });
          }}
          footer={
            <FormDialogFooter onCancel={close} pending={update.isPending} submitLabel="Save" pendingLabel="Saving…" />
          }
        />
      </DialogContent>
    </Dialog>
  );
}

function RotateSecretDialog({ channel }: { channel: Channel }) {
  const rotate = useRotateChannelSecret(channel.id);
  const secret = rotate.data?.secret;
  return (
    <ConfirmDialog
      trigger={
        <IconAction label={`Rotate secret of ${channel.name}`}>
          <KeyRoundIcon />
        </IconAction>
      }
      title={secret ? "New signing secret" : "Rotate signing secret?"}
      description={
        secret
          ? "Requests are signed with this secret from now on. Update the receiver."
          : `The receiver of ${channel.name} rejects new requests until it has the new secret.`
      }
      confirmLabel="Rotate secret"
      pendingLabel="Rotating…"
      mutation={rotate}
      onConfirm={() => rotate.mutate()}
      result={secret ? <SecretOnce value={secret} label="Webhook signing secret" note={SECRET_NOTE} /> : undefined}
    />
  );
}

function DeleteChannelDialog({ channel, onDeleted }: { channel: Channel; onDeleted: () => void }) {
  const remove = useDeleteChannel(channel.id);
  return (
    <ConfirmDialog
      trigger={
        <IconAction label={`Delete ${channel.name}`}>
          <Trash2Icon />
        </IconAction>
      }
      title={`Delete ${channel.name}?`}
      description="Nothing more is sent to it, and its delivery log is removed. To pause it, disable it instead."
      confirmLabel="Delete channel"
      mutation={remove}
      onConfirm={(close) =>
        remove.mutate(undefined, {
          onSuccess: () => {
            toast.success(`${channel.name} deleted`);
            close();
            onDeleted();
          },
        })
      }
    />
  );
}

function ChannelSwitch({ channel }: { channel: Channel }) {
  const update = useUpdateChannel(channel.id);
  return <EnabledSwitch item={channel} mutation={update} variables={(enabled) => ({ enabled })} />;
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
  const query: ChannelListParams = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    type: type === "webhook" || type === "email" ? type : undefined,
    enabled: parseEnabled(params.get("enabled")),
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
        <FilterBar>
          <FilterSelect
            label="Filter by type"
            allLabel="All types"
            value={query.type}
            options={TYPE_OPTIONS}
            onChange={(v) => setParams({ type: v, page: null })}
          />
          <EnabledFilter
            allLabel="All channels"
            value={query.enabled}
            onChange={(enabled) => setParams({ enabled, page: null })}
          />
        </FilterBar>
        <ListTable
          error={error}
          loading={isPending}
          loadingRows={3}
          columns={columns}
          head={
            <>
              <TableHead>Channel</TableHead>
              <TableHead>Sends to</TableHead>
              <TableHead>Alarms</TableHead>
              <TableHead>Enabled</TableHead>
              <TableHead />
              <TableHead />
              {canWrite ? <TableHead className="w-28" /> : null}
            </>
          }
        >
          {data?.data.map((channel) => (
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
                {canWrite ? <ChannelSwitch channel={channel} /> : <EnabledBadge enabled={channel.enabled} />}
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
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={BellRingIcon} title={filtered ? "No channels match" : "No notification channels yet"}>
            {filtered
              ? "Try other filters."
              : "Add a webhook (e.g. your on-call tool) or an e-mail list to hear about alarms as they happen."}
          </EmptyState>
        ) : null}
        <ListPagination list={data} multiPageOnly onPage={(page) => setParams({ page })} />
      </Card>
      {selected ? <DeliveryLog key={selected.id} channel={selected} onClose={() => setParams({ channel: null })} /> : null}
    </>
  );
}
