"use client";

import type { UseMutationResult } from "@tanstack/react-query";
import { toast } from "sonner";

import { errorMessage } from "@/components/error-notice";
import { ToggleSwitch } from "@/components/toggle-switch";
import { Badge } from "@/components/ui/badge";

interface Switchable {
  name: string;
  enabled: boolean;
}

/**
 * Switches one list row (a rule, a channel) on or off in place through `mutation`, which
 * answers with the saved row. While saving it shows the new state and takes no clicks.
 */
export function EnabledSwitch<V>({
  item,
  mutation,
  variables,
}: {
  item: Switchable;
  mutation: Pick<UseMutationResult<Switchable, Error, V>, "isPending" | "mutate">;
  /** The mutation's variables that set `enabled`. */
  variables: (enabled: boolean) => V;
}) {
  return (
    <ToggleSwitch
      // Shows the new state while saving (and until the list is read again).
      checked={mutation.isPending ? !item.enabled : item.enabled}
      label={`${item.name} enabled`}
      disabled={mutation.isPending}
      onChange={(enabled) =>
        mutation.mutate(variables(enabled), {
          onSuccess: (saved) => toast.success(`${saved.name} ${saved.enabled ? "enabled" : "disabled"}`),
          onError: (error) => toast.error(errorMessage(error)),
        })
      }
    />
  );
}

/** The enabled state for those who cannot change it. */
export function EnabledBadge({ enabled }: { enabled: boolean }) {
  return enabled ? <Badge variant="success">enabled</Badge> : <Badge variant="muted">disabled</Badge>;
}
