"use client";

import { KeyRoundIcon, PencilIcon, Trash2Icon } from "lucide-react";
import { useRouter } from "next/navigation";
import { toast } from "sonner";

import { ConfirmDialog } from "@/components/confirm-dialog";
import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { SecretOnce } from "@/components/secret-once";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogHeader, DialogTitle, DialogTrigger } from "@/components/ui/dialog";

import { useDeleteDevice, useRotateCredentials, useUpdateDevice, type Device } from "./api";
import { DeviceForm, initialValues } from "./device-form";

export function EditDeviceDialog({ device }: { device: Device }) {
  const update = useUpdateDevice(device.id);
  const { open, onOpenChange, close } = useDialogState(update.reset);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button variant="outline">
          <PencilIcon />
          Edit
        </Button>
      </DialogTrigger>
      <DialogContent className="sm:max-w-xl">
        <DialogHeader>
          <DialogTitle>Edit device</DialogTitle>
        </DialogHeader>
        <DeviceForm
          key={open ? "open" : "closed"}
          id="edit-device"
          initial={initialValues(device)}
          error={update.error}
          onSubmit={(body) =>
            update.mutate(body, {
              onSuccess: () => {
                close();
                toast.success("Device saved");
              },
            })
          }
          footer={
            <FormDialogFooter onCancel={close} pending={update.isPending} submitLabel="Save" pendingLabel="Saving…" />
          }
        />
      </DialogContent>
    </Dialog>
  );
}

export function RotateCredentialsDialog({ device }: { device: Device }) {
  const rotate = useRotateCredentials(device.id);
  const token = rotate.data?.token;
  return (
    <ConfirmDialog
      trigger={
        <Button variant="outline">
          <KeyRoundIcon />
          Rotate token
        </Button>
      }
      title={token ? "New device token" : "Rotate device token?"}
      description={
        token
          ? "The previous token no longer works. Update the device now."
          : `${device.name} is disconnected at its next report until it is configured with the new token.`
      }
      confirmLabel="Rotate token"
      pendingLabel="Rotating…"
      mutation={rotate}
      onConfirm={() => rotate.mutate()}
      result={token ? <SecretOnce value={token} label="New device token" /> : undefined}
    />
  );
}

export function DeleteDeviceDialog({ device }: { device: Device }) {
  const remove = useDeleteDevice(device.id);
  const router = useRouter();
  return (
    <ConfirmDialog
      trigger={
        <Button variant="ghost" className="text-destructive hover:text-destructive">
          <Trash2Icon />
          Delete
        </Button>
      }
      title={`Delete ${device.name}?`}
      description="The device, its credentials and its telemetry are removed. This cannot be undone."
      confirmLabel="Delete device"
      mutation={remove}
      onConfirm={() =>
        remove.mutate(undefined, {
          onSuccess: () => {
            toast.success(`${device.name} deleted`);
            router.replace("/devices/");
          },
        })
      }
    />
  );
}
