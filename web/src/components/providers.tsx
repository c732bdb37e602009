"use client";

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Toaster } from "sonner";

import { ApiError } from "@/lib/api/client";

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            // Live events patch the cache; refetching on every tab focus would only spend the
            // tenant's rate limit (60 req/min by default).
            staleTime: 30_000,
            refetchOnWindowFocus: false,
            // 4xx answers do not improve with retries; network blips and 5xx might.
            retry: (count, error) => count < 2 && !(error instanceof ApiError && error.status < 500),
          },
        },
      }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      {children}
      <Toaster position="bottom-right" richColors closeButton />
    </QueryClientProvider>
  );
}
