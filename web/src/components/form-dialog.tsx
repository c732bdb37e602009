"use client";

import { useState, type ReactNode } from "react";

import { Button } from "@/components/ui/button";
import { DialogFooter } from "@/components/ui/dialog";

/**
 * Open state of a dialog that forgets what it holds when it closes: `onClose` runs however it
 * closes (Cancel, Done, Escape, the close button, an outside click, `close()` after a save), so a
 * mutation's error or a shown-once secret never outlives the dialog.
 */
export function useDialogState(onClose?: () => void) {
  const [open, setOpen] = useState(false);
  function onOpenChange(next: boolean) {
    setOpen(next);
    if (!next) onClose?.();
  }
  return { open, onOpenChange, close: () => onOpenChange(false) };
}

/**
 * The props of a create/edit form shown in a dialog: the values it starts from, the save's error
 * (shown next to the fields it names) and the dialog's buttons, which sit inside the form so that
 * submit submits it.
 */
export interface DialogFormProps<Values, Body> {
  id: string;
  initial: Values;
  editing: boolean;
  onSubmit: (body: Body) => void;
  error: unknown;
  footer: ReactNode;
}

/** Cancel and submit at the foot of a dialog's form; submit is disabled while saving. */
export function FormDialogFooter({
  onCancel,
  pending,
  submitLabel,
  pendingLabel,
}: {
  onCancel: () => void;
  pending: boolean;
  submitLabel: string;
  /** The submit button's text while saving ("Saving…"); without it the label stays. */
  pendingLabel?: string;
}) {
  return (
    <DialogFooter>
      <Button type="button" variant="outline" onClick={onCancel}>
        Cancel
      </Button>
      <Button type="submit" disabled={pending}>
        {pending && pendingLabel ? pendingLabel : submitLabel}
      </Button>
    </DialogFooter>
  );
}
