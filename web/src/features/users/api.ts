"use client";

import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";

export type UserOut = components["schemas"]["UserOut"];
export type UserCreate = components["schemas"]["UserCreate"];
export type UserUpdate = components["schemas"]["UserUpdate"];
export type Role = components["schemas"]["Role"];

export const ROLES: { value: Role; label: string; help: string }[] = [
  { value: "TENANT_ADMIN", label: "Tenant admin", help: "Everything in this tenant" },
  { value: "SITE_ADMIN", label: "Site admin", help: "Devices of assigned sites" },
  { value: "CLIENT", label: "Client", help: "Reads and operates assigned sites" },
  { value: "VIEWER", label: "Viewer", help: "Read-only" },
];

export const SITE_SCOPED: Role[] = ["SITE_ADMIN", "CLIENT"];

export const userKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "users"] as const,
  list: (tenantId: string, params: { page: number; per_page: number; q?: string; role?: Role }) =>
    [...userKeys.all(tenantId), "list", params] as const,
};

export function useUsers(params: { page: number; per_page: number; q?: string; role?: Role }) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: userKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/users", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

function useInvalidateUsers() {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  return () => queryClient.invalidateQueries({ queryKey: userKeys.all(tenantId ?? "") });
}

export function useCreateUser() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateUsers();
  return useMutation({
    mutationFn: async (body: UserCreate) =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/users", { params: { path: { tenant_id: tenantId! } }, body }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useUpdateUser() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateUsers();
  return useMutation({
    mutationFn: async ({ id, body }: { id: string; body: UserUpdate }) =>
      unwrap(
        await api.PATCH("/api/v1/tenants/{tenant_id}/users/{user_id}", {
          params: { path: { tenant_id: tenantId!, user_id: id } },
          body,
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useDeleteUser() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateUsers();
  return useMutation({
    mutationFn: async (id: string) =>
      unwrap(
        await api.DELETE("/api/v1/tenants/{tenant_id}/users/{user_id}", {
          params: { path: { tenant_id: tenantId!, user_id: id } },
        }),
      ),
    onSuccess: invalidate,
  });
}
