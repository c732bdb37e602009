/**
 * The signed-in session: tokens and the user from the login answer.
 *
 * Kept in memory and mirrored to sessionStorage, so a reload keeps the operator signed in
 * while closing the tab ends the session; nothing lands in localStorage or a cookie that
 * other tabs or later visits would pick up.
 */
import type { components } from "@/lib/api/schema";

export type User = components["schemas"]["UserOut"];

export interface Session {
  accessToken: string;
  refreshToken: string;
  user: User;
}

const STORAGE_KEY = "gito.session";

type Listener = () => void;

let current: Session | null = null;
let loaded = false;
const listeners = new Set<Listener>();

function load(): void {
  if (loaded || typeof window === "undefined") return;
  loaded = true;
  try {
    const raw = window.sessionStorage.getItem(STORAGE_KEY);
    current = raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    current = null;
  }
}

export function getSession(): Session | null {
  load();
  return current;
}

export function setSession(session: Session | null): void {
  load();
  current = session;
  try {
    if (session) window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage may be full or disabled (private mode): the in-memory copy still works.
  }
  listeners.forEach((listener) => listener());
}

export function subscribeSession(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
