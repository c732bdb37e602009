"use client";

import type { ReactNode } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { useDialogState } from "@/components/form-dialog";
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

/**
 * Asks before a destructive action (delete, rotate a credential) and runs it through `mutation`;
 * its error shows in the dialog. Closing the dialog resets the mutation, which forgets its error
 * and its answer (a rotated secret must not linger in memory or come back on the next open).
 */
export function ConfirmDialog({
  trigger,
  title,
  description,
  confirmLabel,
  pendingLabel,
  mutation,
  onConfirm,
  result,
}: {
  trigger: ReactNode;
  title: ReactNode;
  description: ReactNode;
  confirmLabel: string;
  /** The confirm button's text while the action runs ("Rotating…"); without it the label stays. */
  pendingLabel?: string;
  mutation: { isPending: boolean; error: unknown; reset: () => void };
  /** Runs the action; `close` closes the dialog (after a delete, say). */
  onConfirm: (close: () => void) => void;
  /** What the action answered that must be read before leaving (a new secret): shown with a
   * single Done button, and an outside click does not close the dialog. */
  result?: ReactNode;
}) {
  const { open, onOpenChange, close } = useDialogState(mutation.reset);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>{trigger}</DialogTrigger>
      <DialogContent onInteractOutside={(e) => result && e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription>{description}</DialogDescription>
        </DialogHeader>
        {mutation.error ? <ErrorNotice error={mutation.error} /> : null}
        {result}
        <DialogFooter>
          {result ? (
            <Button onClick={close}>Done</Button>
          ) : (
            <>
              <Button variant="outline" onClick={close}>
                Cancel
              </Button>
              <Button variant="destructive" disabled={mutation.isPending} onClick={() => onConfirm(close)}>
                {mutation.isPending && pendingLabel ? pendingLabel : confirmLabel}
              </Button>
            </>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
