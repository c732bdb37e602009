import type { Metadata } from "next";
import { Suspense } from "react";

import { DeviceList } from "@/features/devices/device-list";

export const metadata: Metadata = { title: "Devices" };

export default function DevicesPage() {
  return (
    <Suspense>
      <DeviceList />
    </Suspense>
  );
}
