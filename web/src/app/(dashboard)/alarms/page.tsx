import type { Metadata } from "next";
import { Suspense } from "react";

import { AlarmList } from "@/features/alarms/alarm-list";

export const metadata: Metadata = { title: "Alarms" };

export default function AlarmsPage() {
  return (
    <Suspense>
      <AlarmList />
    </Suspense>
  );
}
