"use client";

import {
  ActivityIcon,
  BellIcon,
  CpuIcon,
  LayoutDashboardIcon,
  LogOutIcon,
  MapPinIcon,
  ScrollTextIcon,
  SirenIcon,
  UsersIcon,
  type LucideIcon,
} from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";

import { Button } from "@/components/ui/button";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { Skeleton } from "@/components/ui/skeleton";
import { useLogout, useMe, useSession, useTenant } from "@/features/auth/hooks";
import { allows, type Permission } from "@/features/auth/permissions";
import { useLiveCacheSync } from "@/features/live/cache-sync";
import { useLiveConnection, useLiveState } from "@/features/live/hooks";
import { cn } from "@/lib/utils";

interface NavItem {
  href: string;
  label: string;
  icon: LucideIcon;
  permission: Permission;
}

const NAV: NavItem[] = [
  { href: "/", label: "Overview", icon: LayoutDashboardIcon, permission: "devices:read" },
  { href: "/devices/", label: "Devices", icon: CpuIcon, permission: "devices:read" },
  { href: "/alarms/", label: "Alarms", icon: SirenIcon, permission: "alarms:read" },
  { href: "/sites/", label: "Sites", icon: MapPinIcon, permission: "sites:read" },
  { href: "/users/", label: "Users", icon: UsersIcon, permission: "users:read" },
  { href: "/notifications/", label: "Notifications", icon: BellIcon, permission: "notifications:read" },
  { href: "/audit/", label: "Audit log", icon: ScrollTextIcon, permission: "audit:read" },
];

function isActive(pathname: string, href: string): boolean {
  if (href === "/") return pathname === "/";
  return pathname === href || pathname.startsWith(href) || `${pathname}/` === href;
}

function LiveIndicator() {
  const state = useLiveState();
  const label = { idle: "Offline", connecting: "Connecting…", live: "Live", unavailable: "Live updates unavailable" }[state];
  return (
    <span className="inline-flex items-center gap-2 text-xs text-muted-foreground" data-testid="live-state" data-state={state}>
      <span className="relative flex size-2">
        {state === "live" ? <span className="absolute inline-flex size-full animate-ping rounded-full bg-emerald-400 opacity-60" /> : null}
        <span
          className={cn(
            "relative inline-flex size-2 rounded-full",
            state === "live" ? "bg-emerald-500" : state === "connecting" ? "bg-amber-400" : "bg-zinc-400",
          )}
        />
      </span>
      {label}
    </span>
  );
}

function TenantName() {
  const { data: tenant } = useTenant();
  return (
    <div className="flex min-w-0 items-center gap-2 text-sm">
      <span className="font-semibold md:hidden">Gito</span>
      <span className="text-muted-foreground md:hidden">/</span>
      <span className="truncate font-medium" data-testid="tenant-name">
        {tenant?.name}
      </span>
    </div>
  );
}

function UserMenu() {
  const { data: me } = useMe();
  const logout = useLogout();
  const initials = (me?.full_name || me?.email || "?").slice(0, 2).toUpperCase();
  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" className="h-9 gap-2 px-2" aria-label="Account">
          <span className="flex size-7 items-center justify-center rounded-full bg-secondary text-xs font-semibold">{initials}</span>
          <span className="hidden max-w-48 truncate text-sm sm:inline">{me?.email}</span>
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end" className="w-60">
        <DropdownMenuLabel>
          <div className="truncate font-medium">{me?.full_name || me?.email}</div>
          <div className="text-xs font-normal text-muted-foreground">{me?.role.replaceAll("_", " ").toLowerCase()}</div>
        </DropdownMenuLabel>
        <DropdownMenuSeparator />
        <DropdownMenuItem onSelect={() => void logout()}>
          <LogOutIcon />
          Sign out
        </DropdownMenuItem>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

function Sidebar({ role }: { role: string | undefined }) {
  const pathname = usePathname();
  return (
    // The outer box spans the page's full height (its colour and border reach the bottom of
    // long pages); the inner one stays in view while scrolling.
    <div className="hidden w-56 shrink-0 border-r bg-sidebar md:block">
      <aside className="sticky top-0 flex h-screen flex-col">
        <Link href="/" className="flex h-14 items-center gap-2 px-5 font-semibold tracking-tight">
          <span className="flex size-7 items-center justify-center rounded-md bg-primary text-primary-foreground">
            <ActivityIcon className="size-4" />
          </span>
          Gito
        </Link>
        <nav className="grid gap-0.5 px-3 py-2" aria-label="Main">
          {NAV.filter((item) => allows(role, item.permission)).map((item) => (
            <Link
              key={item.href}
              href={item.href}
              className={cn(
                "flex items-center gap-2.5 rounded-md px-2.5 py-1.5 text-sm text-muted-foreground transition-colors hover:bg-accent hover:text-foreground",
                isActive(pathname, item.href) && "bg-accent font-medium text-foreground",
              )}
            >
              <item.icon className="size-4" />
              {item.label}
            </Link>
          ))}
        </nav>
      </aside>
    </div>
  );
}

function MobileNav({ role }: { role: string | undefined }) {
  const pathname = usePathname();
  return (
    <nav className="flex gap-1 overflow-x-auto border-b px-3 py-2 md:hidden" aria-label="Main">
      {NAV.filter((item) => allows(role, item.permission)).map((item) => (
        <Link
          key={item.href}
          href={item.href}
          className={cn(
            "rounded-md px-2.5 py-1 text-sm whitespace-nowrap text-muted-foreground",
            isActive(pathname, item.href) && "bg-accent text-foreground",
          )}
        >
          {item.label}
        </Link>
      ))}
    </nav>
  );
}

/** Signed-in layout: redirects to /login without a session, opens the live connection. */
export function AppShell({ children }: { children: ReactNode }) {
  const session = useSession();
  const router = useRouter();
  const pathname = usePathname();
  const me = useMe();
  useLiveConnection(!!session);
  useLiveCacheSync();

  useEffect(() => {
    if (session === null) {
      const next = pathname && pathname !== "/" ? `?next=${encodeURIComponent(pathname + window.location.search)}` : "";
      router.replace(`/login/${next}`);
    }
  }, [session, router, pathname]);

  if (!session) {
    return (
      <div className="flex min-h-screen items-center justify-center">
        <Skeleton className="h-6 w-40" />
      </div>
    );
  }
  return (
    <div className="flex min-h-screen">
      <Sidebar role={me.data?.role} />
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="sticky top-0 z-30 flex h-14 items-center justify-between gap-4 border-b bg-background/90 px-4 backdrop-blur md:px-6">
          <TenantName />
          <div className="flex items-center gap-4">
            <LiveIndicator />
            <UserMenu />
          </div>
        </header>
        <MobileNav role={me.data?.role} />
        <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-6 md:px-6">{children}</main>
      </div>
    </div>
  );
}
