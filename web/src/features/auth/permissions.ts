/**
 * The role → permission matrix, generated from `gito.auth.permissions.MATRIX` by
 * `npm run gen:api`. The UI hides what a role may not do; the API still enforces it.
 */
import matrix from "@/lib/permissions.json";

export type Permission =
  | "tenants:manage"
  | "tenant:read"
  | "users:read"
  | "users:write"
  | "sites:read"
  | "sites:write"
  | "devices:read"
  | "devices:write"
  | "devices:credentials"
  | "audit:read"
  | "alarms:read"
  | "alarms:ack"
  | "rules:write"
  | "notifications:read"
  | "notifications:write";

const table = matrix as Record<string, string[]>;

export function allows(role: string | undefined, permission: Permission): boolean {
  return role !== undefined && (table[role]?.includes(permission) ?? false);
}
