"use client";

import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { DeviceDetail } from "@/features/devices/device-detail";

// `/devices/view?id=...`: a static export cannot prerender one page per device id.
function DevicePageContent() {
  return <DeviceDetail id={useSearchParams().get("id")} />;
}

export default function DevicePage() {
  return (
    <Suspense>
      <DevicePageContent />
    </Suspense>
  );
}
