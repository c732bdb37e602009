"use client";

import { CheckCheckIcon, CheckIcon } from "lucide-react";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";

import { ErrorNotice } from "@/components/error-notice";
import { Field } from "@/components/field";
import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle, DialogTrigger } from "@/components/ui/dialog";
import { Textarea } from "@/components/ui/textarea";
import { usePermission } from "@/features/auth/hooks";

import { useAlarmAction, type Alarm } from "./api";

const COPY = {
  acknowledge: {
    button: "Acknowledge",
    title: "Acknowledge alarm",
    description: "Tell the team someone is on it. The alarm keeps counting and still clears on its own.",
    done: "Alarm acknowledged",
    icon: CheckIcon,
  },
  clear: {
    button: "Clear",
    title: "Clear alarm",
    description: "Close the alarm by hand. If the device is still in breach, a new alarm is raised.",
    done: "Alarm cleared",
    icon: CheckCheckIcon,
  },
} as const;

function ActionDialog({ alarm, action, compact }: { alarm: Alarm; action: "acknowledge" | "clear"; compact?: boolean }) {
  const [comment, setComment] = useState("");
  const mutation = useAlarmAction(action);
  const { open, onOpenChange, close } = useDialogState(() => {
    setComment("");
    mutation.reset();
  });
  const copy = COPY[action];
  const Icon = copy.icon;

  function submit(event: FormEvent) {
    event.preventDefault();
    mutation.mutate(
      { id: alarm.id, comment, severity: alarm.severity },
      {
        onSuccess: () => {
          toast.success(copy.done);
          close();
        },
      },
    );
  }

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button
          variant={action === "acknowledge" ? "outline" : "ghost"}
          size="sm"
          onClick={(e) => e.stopPropagation()}
          aria-label={compact ? `${copy.button} ${alarm.rule_name}` : undefined}
        >
          <Icon />
          {copy.button}
        </Button>
      </DialogTrigger>
      <DialogContent onClick={(e) => e.stopPropagation()}>
        <DialogHeader>
          <DialogTitle>{copy.title}</DialogTitle>
          <DialogDescription>
            <span className="font-medium text-foreground">{alarm.rule_name}</span> · {copy.description}
          </DialogDescription>
        </DialogHeader>
        <form className="grid gap-4" onSubmit={submit}>
          {mutation.error ? <ErrorNotice error={mutation.error} /> : null}
          <Field id={`${action}-comment`} label="Comment (optional)" hint="Kept in the alarm's history">
            <Textarea
              id={`${action}-comment`}
              autoFocus
              maxLength={2000}
              value={comment}
              onChange={(e) => setComment(e.target.value)}
            />
          </Field>
          <FormDialogFooter
            onCancel={close}
            pending={mutation.isPending}
            submitLabel={copy.button}
            pendingLabel="Saving…"
          />
        </form>
      </DialogContent>
    </Dialog>
  );
}

/** Acknowledge (active alarms) and clear (open alarms), for roles with `alarms:ack`. */
export function AlarmActions({ alarm, compact }: { alarm: Alarm; compact?: boolean }) {
  const canAck = usePermission("alarms:ack");
  if (!canAck || alarm.status === "CLEARED") return null;
  return (
    <div className="flex items-center justify-end gap-1">
      {alarm.status === "ACTIVE" ? <ActionDialog alarm={alarm} action="acknowledge" compact={compact} /> : null}
      <ActionDialog alarm={alarm} action="clear" compact={compact} />
    </div>
  );
}
