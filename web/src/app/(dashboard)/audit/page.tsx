import type { Metadata } from "next";
import { Suspense } from "react";

import { AuditLog } from "@/features/audit/audit-log";

export const metadata: Metadata = { title: "Audit log" };

export default function AuditPage() {
  return (
    <Suspense>
      <AuditLog />
    </Suspense>
  );
}
