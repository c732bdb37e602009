import { KeyRoundIcon } from "lucide-react";

import { CopyButton } from "@/components/copy-button";

/** A secret the server shows once (a device token, a webhook signing secret): this is the one
 * chance to copy it. */
export function SecretOnce({
  value,
  label = "Device token",
  note = "Copy it now and store it on the device. It is shown only once and cannot be recovered.",
}: {
  value: string;
  label?: string;
  note?: string;
}) {
  return (
    <div className="rounded-md border border-amber-500/40 bg-amber-500/8 p-3" data-testid="secret-once">
      <div className="mb-2 flex items-center gap-2 text-sm font-medium">
        <KeyRoundIcon className="size-4 text-amber-600" />
        {label}
      </div>
      <div className="flex items-center gap-2">
        <code
          className="min-w-0 flex-1 truncate rounded bg-background px-2 py-1.5 font-mono text-xs"
          data-testid="secret-value"
          title={value}
        >
          {value}
        </code>
        <CopyButton value={value} />
      </div>
      <p className="mt-2 text-xs text-muted-foreground">{note}</p>
    </div>
  );
}
