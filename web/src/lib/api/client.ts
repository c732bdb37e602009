/**
 * The typed API client (openapi-fetch over the generated `schema.d.ts`) and the one fetch
 * that every request goes through: it adds the bearer token and, on a 401, rotates the
 * refresh token once and retries, so an expired access token never reaches the UI.
 */
import createClient from "openapi-fetch";

import { getSession, setSession, type Session } from "@/features/auth/session";

import type { paths } from "./schema";

/** Empty: the dashboard is served by the API on the same origin. Set for `next dev`. */
export const API_BASE = process.env.NEXT_PUBLIC_GITO_API_URL ?? "";

export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, body: Partial<ErrorBody> | undefined) {
    super(body?.message ?? `request failed with status ${status}`);
    this.status = status;
    this.code = body?.code ?? "HTTP_ERROR";
    this.details = body?.details;
  }

  /** True when the server has no such route (an older server), not a missing resource. */
  get isMissingEndpoint(): boolean {
    return (this.status === 404 && this.code === "NOT_FOUND") || this.status === 405;
  }
}

const AUTH_PATHS = ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"];

let refreshing: Promise<string | null> | null = null;

async function refreshAccessToken(session: Session): Promise<string | null> {
  try {
    const response = await fetch(`${API_BASE}/api/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refreshToken }),
    });
    if (!response.ok) return null;
    const { data } = await response.json();
    setSession({ accessToken: data.access_token, refreshToken: data.refresh_token, user: data.user });
    return data.access_token as string;
  } catch {
    return null;
  }
}

/** One refresh at a time: parallel 401s must not each spend the (single-use) refresh token. */
function refreshOnce(session: Session): Promise<string | null> {
  refreshing ??= refreshAccessToken(session).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Rotate the tokens now (the WebSocket was closed for an expired token). */
export async function refreshSession(): Promise<boolean> {
  const session = getSession();
  if (!session) return false;
  const token = await refreshOnce(session);
  if (!token) setSession(null);
  return !!token;
}

function withToken(request: Request, token: string | undefined): Request {
  const headers = new Headers(request.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

export async function authorizedFetch(request: Request): Promise<Response> {
  const session = getSession();
  const retry = request.clone();
  const response = await fetch(withToken(request, session?.accessToken));
  const path = new URL(request.url, window.location.origin).pathname;
  if (response.status !== 401 || !session || AUTH_PATHS.includes(path)) return response;
  // Another request may have refreshed while this one was in flight: reuse its token.
  const latest = getSession();
  const token = latest && latest.accessToken !== session.accessToken ? latest.accessToken : await refreshOnce(session);
  if (!token) {
    setSession(null);
    return response;
  }
  return fetch(withToken(retry, token));
}

export const api = createClient<paths>({ baseUrl: API_BASE, fetch: authorizedFetch });

/** The body of a successful openapi-fetch answer, or an `ApiError` thrown. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  if (result.response.ok && result.response.status === 204) return undefined as T;
  const body = (result.error as { error?: ErrorBody } | undefined)?.error;
  throw new ApiError(result.response.status, body);
}
