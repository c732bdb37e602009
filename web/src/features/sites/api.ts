"use client";

import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";

export type Site = components["schemas"]["SiteOut"];
export type SiteCreate = components["schemas"]["SiteCreate"];
export type SiteUpdate = components["schemas"]["SiteUpdate"];

export const siteKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "sites"] as const,
  list: (tenantId: string, params: { page: number; per_page: number; q?: string }) =>
    [...siteKeys.all(tenantId), "list", params] as const,
  options: (tenantId: string) => [...siteKeys.all(tenantId), "options"] as const,
};

export function useSites(params: { page: number; per_page: number; q?: string }) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: siteKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/sites", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

/** Up to 100 sites for pickers and name lookups (a tenant with more gets a search later). */
export function useSiteOptions() {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: siteKeys.options(tenantId ?? ""),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/sites", {
          params: { path: { tenant_id: tenantId! }, query: { per_page: 100 } },
        }),
      ).data,
    enabled: !!tenantId,
    staleTime: 5 * 60_000,
  });
}

export function useSiteNames(): Map<string, string> {
  const { data } = useSiteOptions();
  return new Map((data ?? []).map((site) => [site.id, site.name]));
}

function useInvalidateSites() {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  return () => queryClient.invalidateQueries({ queryKey: siteKeys.all(tenantId ?? "") });
}

export function useSaveSite(id?: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateSites();
  return useMutation({
    mutationFn: async (body: SiteCreate) => {
      const path = { tenant_id: tenantId!, site_id: id ?? "" };
      return id
        ? unwrap(await api.PATCH("/api/v1/tenants/{tenant_id}/sites/{site_id}", { params: { path }, body })).data
        : unwrap(
            await api.POST("/api/v1/tenants/{tenant_id}/sites", { params: { path: { tenant_id: tenantId! } }, body }),
          ).data;
    },
    onSuccess: invalidate,
  });
}

export function useDeleteSite() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateSites();
  return useMutation({
    mutationFn: async (id: string) =>
      unwrap(
        await api.DELETE("/api/v1/tenants/{tenant_id}/sites/{site_id}", {
          params: { path: { tenant_id: tenantId!, site_id: id } },
        }),
      ),
    onSuccess: invalidate,
  });
}
