"use client";

import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { useTenantId } from "@/features/auth/hooks";
import { api, unwrap } from "@/lib/api/client";
import type { components, operations } from "@/lib/api/schema";

export type Channel = components["schemas"]["ChannelOut"];
export type ChannelWithSecret = components["schemas"]["ChannelWithSecret"];
export type ChannelCreate = components["schemas"]["ChannelCreate"];
export type ChannelUpdate = components["schemas"]["ChannelUpdate"];
export type ChannelEvent = components["schemas"]["ChannelEvent"];
export type Delivery = components["schemas"]["DeliveryOut"];
export type DeliveryStatus = components["schemas"]["DeliveryStatus"];
export type ChannelListParams = NonNullable<operations["list_notification_channels"]["parameters"]["query"]>;
export type DeliveryListParams = NonNullable<operations["list_notification_deliveries"]["parameters"]["query"]>;

export const CHANNEL_EVENTS: { value: ChannelEvent; label: string }[] = [
  { value: "raised", label: "Raised" },
  { value: "escalated", label: "Escalated" },
  { value: "cleared", label: "Cleared" },
  { value: "acknowledged", label: "Acknowledged" },
];
export const DEFAULT_EVENTS: ChannelEvent[] = ["raised", "escalated", "cleared"];
export const DELIVERY_STATUSES: DeliveryStatus[] = ["PENDING", "SENDING", "DELIVERED", "FAILED"];

// While a delivery is still being attempted its log is re-read this often (no live events
// exist for deliveries); a finished log is not polled.
const IN_FLIGHT_POLL_MS = 2_000;

export const channelKeys = {
  all: (tenantId: string) => ["tenants", tenantId, "notification-channels"] as const,
  list: (tenantId: string, params: ChannelListParams) => [...channelKeys.all(tenantId), "list", params] as const,
  deliveries: (tenantId: string, channelId: string, params: DeliveryListParams) =>
    [...channelKeys.all(tenantId), "deliveries", channelId, params] as const,
  allDeliveries: (tenantId: string, channelId: string) =>
    [...channelKeys.all(tenantId), "deliveries", channelId] as const,
};

export function useChannels(params: ChannelListParams) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: channelKeys.list(tenantId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/notification-channels", {
          params: { path: { tenant_id: tenantId! }, query: params },
        }),
      ),
    enabled: !!tenantId,
    placeholderData: keepPreviousData,
  });
}

export function useDeliveries(channelId: string | null, params: DeliveryListParams) {
  const tenantId = useTenantId();
  return useQuery({
    queryKey: channelKeys.deliveries(tenantId ?? "", channelId ?? "", params),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}/deliveries", {
          params: { path: { tenant_id: tenantId!, channel_id: channelId! }, query: params },
        }),
      ),
    enabled: !!tenantId && !!channelId,
    placeholderData: keepPreviousData,
    refetchInterval: (query) =>
      query.state.data?.data.some((d) => d.status === "PENDING" || d.status === "SENDING") ? IN_FLIGHT_POLL_MS : false,
  });
}

function useInvalidateChannels() {
  const queryClient = useQueryClient();
  const tenantId = useTenantId();
  return () => queryClient.invalidateQueries({ queryKey: channelKeys.all(tenantId ?? "") });
}

export function useCreateChannel() {
  const tenantId = useTenantId();
  const invalidate = useInvalidateChannels();
  return useMutation({
    mutationFn: async (body: ChannelCreate) =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/notification-channels", {
          params: { path: { tenant_id: tenantId! } },
          body,
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useUpdateChannel(id: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateChannels();
  return useMutation({
    mutationFn: async (body: ChannelUpdate) =>
      unwrap(
        await api.PATCH("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}", {
          params: { path: { tenant_id: tenantId!, channel_id: id } },
          body,
        }),
      ).data,
    onSuccess: invalidate,
  });
}

export function useDeleteChannel(id: string) {
  const tenantId = useTenantId();
  const invalidate = useInvalidateChannels();
  return useMutation({
    mutationFn: async () =>
      unwrap(
        await api.DELETE("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}", {
          params: { path: { tenant_id: tenantId!, channel_id: id } },
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useRotateChannelSecret(id: string) {
  const tenantId = useTenantId();
  return useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}/rotate-secret", {
          params: { path: { tenant_id: tenantId!, channel_id: id } },
        }),
      ).data,
  });
}

/** Queues a `test` message through the real path; the answer is the queued delivery. */
export function useTestChannel(id: string) {
  const tenantId = useTenantId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}/test", {
          params: { path: { tenant_id: tenantId!, channel_id: id } },
        }),
      ).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: channelKeys.allDeliveries(tenantId ?? "", id) }),
  });
}

export function useRetryDelivery(channelId: string) {
  const tenantId = useTenantId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (deliveryId: string) =>
      unwrap(
        await api.POST("/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}/deliveries/{delivery_id}/retry", {
          params: { path: { tenant_id: tenantId!, channel_id: channelId, delivery_id: deliveryId } },
        }),
      ).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: channelKeys.allDeliveries(tenantId ?? "", channelId) }),
  });
}
