"use client";

import { KeyRoundIcon, PencilIcon, Trash2Icon } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { toast } from "sonner";

import { ErrorNotice } from "@/components/error-notice";
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

import { useDeleteDevice, useRotateCredentials, useUpdateDevice, type Device } from "./api";
import { DeviceForm, initialValues } from "./device-form";

export function EditDeviceDialog({ device }: { device: Device }) {
  const [open, setOpen] = useState(false);
  const update = useUpdateDevice(device.id);
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) update.reset();
      }}
    >
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
                setOpen(false);
                toast.success("Device saved");
              },
            })
          }
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

export function RotateCredentialsDialog({ device }: { device: Device }) {
  const [open, setOpen] = useState(false);
  const rotate = useRotateCredentials(device.id);
  const token = rotate.data?.token;
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        // Drop the token from memory once the dialog closes.
        if (!next) rotate.reset();
      }}
    >
      <DialogTrigger asChild>
        <Button variant="outline">
          <KeyRoundIcon />
          Rotate token
        </Button>
      </DialogTrigger>
      <DialogContent onInteractOutside={(e) => token && e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>{token ? "New device token" : "Rotate device token?"}</DialogTitle>
          <DialogDescription>
            {token
              ? "The previous token no longer works. Update the device now."
              : `${device.name} is disconnected at its next report until it is configured with the new token.`}
          </DialogDescription>
        </DialogHeader>
        {rotate.error ? <ErrorNotice error={rotate.error} /> : null}
        {token ? <SecretOnce value={token} label="New device token" /> : null}
        <DialogFooter>
          {token ? (
            <Button onClick={() => setOpen(false)}>Done</Button>
          ) : (
            <>
              <Button variant="outline" onClick={() => setOpen(false)}>
                Cancel
              </Button>
              <Button variant="destructive" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
                {rotate.isPending ? "Rotating…" : "Rotate token"}
              </Button>
            </>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function DeleteDeviceDialog({ device }: { device: Device }) {
  const [open, setOpen] = useState(false);
  const remove = useDeleteDevice(device.id);
  const router = useRouter();
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button variant="ghost" className="text-destructive hover:text-destructive">
          <Trash2Icon />
          Delete
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Delete {device.name}?</DialogTitle>
          <DialogDescription>
            The device, its credentials and its telemetry are removed. This cannot be undone.
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
                  toast.success(`${device.name} deleted`);
                  router.replace("/devices/");
                },
              })
            }
          >
            Delete device
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
