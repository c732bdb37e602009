"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useCallback, useSyncExternalStore } from "react";

import { api, unwrap } from "@/lib/api/client";

import { allows, type Permission } from "./permissions";
import { getSession, setSession, subscribeSession, type Session } from "./session";

/** `undefined` while the stored session is not read yet (prerender, first paint). */
export function useSession(): Session | null | undefined {
  return useSyncExternalStore(subscribeSession, getSession, () => undefined);
}

export const meKey = ["auth", "me"] as const;

/** The caller as the server sees them now (role changes apply without a new login). */
export function useMe() {
  const session = useSession();
  return useQuery({
    queryKey: meKey,
    queryFn: async () => unwrap(await api.GET("/api/v1/auth/me")).data,
    enabled: !!session,
    staleTime: 60_000,
  });
}

export function usePermission(permission: Permission): boolean {
  const { data: me } = useMe();
  return allows(me?.role, permission);
}

export function useTenantId(): string | undefined {
  return useMe().data?.tenant_id;
}

export function useLogout(): () => Promise<void> {
  const router = useRouter();
  const queryClient = useQueryClient();
  return useCallback(async () => {
    const session = getSession();
    if (session) {
      // Revoke server-side too; the local sign-out happens whatever the answer.
      await api.POST("/api/v1/auth/logout", { body: { refresh_token: session.refreshToken } }).catch(() => undefined);
    }
    setSession(null);
    queryClient.clear();
    router.replace("/login/");
  }, [queryClient, router]);
}

/** The caller's tenant (its name heads every page). */
export function useTenant() {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: ["tenants", tenantId ?? "", "self"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/tenants/{tenant_id}", { params: { path: { tenant_id: tenantId! } } })).data,
    enabled: !!tenantId,
    staleTime: 10 * 60_000,
  });
}
