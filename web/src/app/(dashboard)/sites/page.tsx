import type { Metadata } from "next";
import { Suspense } from "react";

import { SiteList } from "@/features/sites/site-list";

export const metadata: Metadata = { title: "Sites" };

export default function SitesPage() {
  return (
    <Suspense>
      <SiteList />
    </Suspense>
  );
}
