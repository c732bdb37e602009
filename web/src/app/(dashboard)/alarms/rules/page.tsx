import type { Metadata } from "next";
import { Suspense } from "react";

import { RuleList } from "@/features/alarms/rule-list";

export const metadata: Metadata = { title: "Alert rules" };

export default function AlertRulesPage() {
  return (
    <Suspense>
      <RuleList />
    </Suspense>
  );
}
