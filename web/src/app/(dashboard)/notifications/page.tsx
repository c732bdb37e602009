import type { Metadata } from "next";
import { Suspense } from "react";

import { ChannelList } from "@/features/notifications/channel-list";

export const metadata: Metadata = { title: "Notifications" };

export default function NotificationsPage() {
  return (
    <Suspense>
      <ChannelList />
    </Suspense>
  );
}
