import Link from "next/link";

import { Button } from "@/components/ui/button";

export default function NotFound() {
  return (
    <div className="flex min-h-screen flex-col items-center justify-center gap-3 px-4 text-center">
      <p className="text-sm font-medium text-muted-foreground">404</p>
      <h1 className="text-xl font-semibold">This page does not exist</h1>
      <p className="max-w-sm text-sm text-muted-foreground">The link may be outdated. Everything is reachable from the dashboard.</p>
      <Button asChild className="mt-2">
        <Link href="/">Go to the dashboard</Link>
      </Button>
    </div>
  );
}
