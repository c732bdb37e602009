/**
 * One WebSocket per tab to `/api/v1/ws` (DESIGN §4), shared by every component through a
 * tiny store. It reconnects with capped, jittered backoff, so a restarted API or a server
 * without the endpoint yet costs a few quiet retries, never a crash or a request storm.
 */
import { API_BASE, refreshSession } from "@/lib/api/client";
import { getSession } from "@/features/auth/session";

export interface TelemetryEvent {
  type: "telemetry";
  device_id: string;
  ts: string;
  values: Record<string, unknown>;
}

export interface DeviceStatusEvent {
  type: "device_status";
  device_id: string;
  status: string;
  last_seen: string | null;
}

export interface OtherEvent {
  type: "alarm" | "command";
  device_id?: string;
  [key: string]: unknown;
}

export type LiveEvent = TelemetryEvent | DeviceStatusEvent | OtherEvent;
export type ReceivedEvent = LiveEvent & { receivedAt: number; seq: number };

/** live: connected; connecting: first try or retrying after a drop; unavailable: failing. */
export type LiveState = "idle" | "connecting" | "live" | "unavailable";

// The feed shows the newest events; more would only cost memory on a wall screen left open.
const FEED_SIZE = 50;
// Backoff: fast first retry for a restarted API, capped so a missing endpoint is asked
// about at most twice a minute.
const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
// Failed attempts in a row before the indicator says "unavailable" rather than "connecting".
const FAILURES_BEFORE_UNAVAILABLE = 2;
// The server's close code for a missing, invalid or expired access token.
const CLOSE_UNAUTHORIZED = 4401;

type Listener = () => void;
type EventHandler = (event: ReceivedEvent) => void;

function wsUrl(token: string): string {
  const base = new URL(API_BASE || window.location.origin, window.location.origin);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  base.pathname = "/api/v1/ws";
  base.search = `?token=${encodeURIComponent(token)}`;
  return base.toString();
}

function isLiveEvent(value: unknown): value is LiveEvent {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

class LiveHub {
  private socket: WebSocket | null = null;
  private retryTimer: number | undefined;
  private failures = 0;
  private refreshedForRetry = false;
  private users = 0;
  private seq = 0;
  private state: LiveState = "idle";
  private feed: ReceivedEvent[] = [];
  private readonly stateListeners = new Set<Listener>();
  private readonly handlers = new Set<EventHandler>();

  getState = (): LiveState => this.state;
  getFeed = (): ReceivedEvent[] => this.feed;

  subscribeState = (listener: Listener): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  onEvent(handler: EventHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Reference-counted: the socket is open while at least one component wants it. */
  acquire(): () => void {
    this.users += 1;
    if (this.users === 1) this.connect();
    return () => {
      this.users -= 1;
      if (this.users === 0) this.stop();
    };
  }

  private setState(state: LiveState): void {
    if (state === this.state) return;
    this.state = state;
    this.stateListeners.forEach((l) => l());
  }

  private connect(): void {
    const token = getSession()?.accessToken;
    if (!token || this.users === 0) return;
    if (this.state !== "unavailable") this.setState("connecting");
    let opened = false;
    const socket = new WebSocket(wsUrl(token));
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.failures = 0;
      this.refreshedForRetry = false;
      this.setState("live");
    };
    socket.onmessage = (message) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(message.data));
      } catch {
        return;
      }
      for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
        if (isLiveEvent(item)) this.dispatch(item);
      }
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      // One refresh per rejection streak: a token refused again right after a refresh is a
      // server-side problem, retried with backoff instead of in a tight loop.
      const retryWithRefresh = close.code === CLOSE_UNAUTHORIZED && !this.refreshedForRetry;
      this.refreshedForRetry = retryWithRefresh;
      if (retryWithRefresh) {
        // Access tokens expire (24 h by default) while a wall screen stays open: rotate and
        // reconnect at once; a failed refresh signs the user out through the session store.
        this.setState("connecting");
        void refreshSession().then((ok) => {
          if (ok) this.connect();
        });
        return;
      }
      if (!opened) this.failures += 1;
      this.setState(this.failures >= FAILURES_BEFORE_UNAVAILABLE ? "unavailable" : "connecting");
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.users === 0) return;
    const base = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** Math.min(this.failures, 5));
    const delay = base / 2 + Math.random() * (base / 2);
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private stop(): void {
    window.clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.failures = 0;
    this.setState("idle");
  }

  private dispatch(event: LiveEvent): void {
    this.seq += 1;
    const received = { ...event, receivedAt: Date.now(), seq: this.seq } as ReceivedEvent;
    this.feed = [received, ...this.feed].slice(0, FEED_SIZE);
    this.handlers.forEach((h) => h(received));
    this.stateListeners.forEach((l) => l());
  }
}

export const liveHub = new LiveHub();
