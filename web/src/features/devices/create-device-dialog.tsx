"use client";

import { PlusIcon } from "lucide-react";
import Link from "next/link";
import { useState } from "react";

import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { SecretOnce } from "@/components/secret-once";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";

import { useCreateDevice, type DeviceWithToken } from "./api";
import { DeviceForm, initialValues } from "./device-form";

export function CreateDeviceDialog() {
  const [created, setCreated] = useState<DeviceWithToken | null>(null);
  const create = useCreateDevice();
  // Forget the token as soon as the dialog closes: it must not linger in memory or UI.
  const { open, onOpenChange, close } = useDialogState(() => {
    setCreated(null);
    create.reset();
  });

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button>
          <PlusIcon />
          New device
        </Button>
      </DialogTrigger>
      <DialogContent className="sm:max-w-xl" onInteractOutside={(e) => created && e.preventDefault()}>
        {created ? (
          <>
            <DialogHeader>
              <DialogTitle>Device created</DialogTitle>
              <DialogDescription>
                <span className="font-medium text-foreground">{created.name}</span> is registered. Configure it with
                its id and this token.
              </DialogDescription>
            </DialogHeader>
            <div className="grid gap-1 text-sm">
              <span className="text-muted-foreground">Device id (MQTT username)</span>
              <code className="font-mono text-xs">{created.id}</code>
            </div>
            <SecretOnce value={created.token} />
            <DialogFooter>
              <Button variant="outline" asChild>
                <Link href={`/devices/view/?id=${created.id}`}>Open device</Link>
              </Button>
              <Button onClick={close}>Done</Button>
            </DialogFooter>
          </>
        ) : (
          <>
            <DialogHeader>
              <DialogTitle>New device</DialogTitle>
              <DialogDescription>Register a device; its token is shown once after creation.</DialogDescription>
            </DialogHeader>
            <DeviceForm
              id="create-device"
              initial={initialValues()}
              error={create.error}
              onSubmit={(body) => create.mutate(body, { onSuccess: setCreated })}
              footer={
                <FormDialogFooter
                  onCancel={close}
                  pending={create.isPending}
                  submitLabel="Create device"
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
