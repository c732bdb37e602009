"use client";

import { MoreHorizontalIcon, PlusIcon, UsersIcon } from "lucide-react";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice, errorMessage } from "@/components/error-notice";
import { Field, fieldErrors } from "@/components/field";
import { FormDialogFooter, useDialogState } from "@/components/form-dialog";
import { FilterBar, FilterSelect } from "@/components/list-filters";
import { ListPagination, ListTable } from "@/components/list-table";
import { PageHeader } from "@/components/page-header";
import { RelativeTime } from "@/components/relative-time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle, DialogTrigger } from "@/components/ui/dialog";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { Input } from "@/components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "@/components/ui/select";
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
import { useMe, usePermission } from "@/features/auth/hooks";
import { useSiteNames } from "@/features/sites/api";
import { SiteChecklist } from "@/features/sites/site-checklist";
import { ApiError } from "@/lib/api/client";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";

import {
  ROLES,
  SITE_SCOPED,
  useCreateUser,
  useDeleteUser,
  useUpdateUser,
  useUsers,
  type Role,
  type UserOut,
} from "./api";

const ROLE_OPTIONS = [{ value: "SUPER_ADMIN", label: "Super admin" }, ...ROLES];

function roleLabel(role: string): string {
  return ROLES.find((r) => r.value === role)?.label ?? role.replaceAll("_", " ").toLowerCase();
}

function CreateUserDialog() {
  const [email, setEmail] = useState("");
  const [fullName, setFullName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("VIEWER");
  const [siteIds, setSiteIds] = useState<string[]>([]);
  const create = useCreateUser();
  const errors = create.error instanceof ApiError ? fieldErrors(create.error.details) : {};

  function reset() {
    setEmail("");
    setFullName("");
    setPassword("");
    setRole("VIEWER");
    setSiteIds([]);
    create.reset();
  }
  const { open, onOpenChange, close } = useDialogState(reset);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      {
        email: email.trim(),
        password,
        role,
        full_name: fullName.trim() || null,
        site_ids: SITE_SCOPED.includes(role) ? siteIds : [],
      },
      {
        onSuccess: (user) => {
          toast.success(`${user.email} can now sign in`);
          close();
        },
      },
    );
  }

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button>
          <PlusIcon />
          New user
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>New user</DialogTitle>
          <DialogDescription>They sign in with this e-mail and password.</DialogDescription>
        </DialogHeader>
        <form className="grid gap-4" onSubmit={submit} noValidate>
          {create.error && Object.keys(errors).length === 0 ? <ErrorNotice error={create.error} /> : null}
          <Field id="user-email" label="E-mail" error={errors.email}>
            <Input id="user-email" type="email" autoFocus value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field id="user-name" label="Full name" error={errors.full_name}>
            <Input id="user-name" value={fullName} onChange={(e) => setFullName(e.target.value)} />
          </Field>
          <Field id="user-password" label="Password" hint="At least 8 characters" error={errors.password}>
            <Input
              id="user-password"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <Field id="user-role" label="Role" hint={ROLES.find((r) => r.value === role)?.help} error={errors.role}>
            <Select value={role} onValueChange={(v) => setRole(v as Role)}>
              <SelectTrigger id="user-role">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {ROLES.map((r) => (
                  <SelectItem key={r.value} value={r.value}>
                    {r.label}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </Field>
          {SITE_SCOPED.includes(role) ? (
            <Field id="user-sites" label="Sites" error={errors.site_ids}>
              <SiteChecklist value={siteIds} onChange={setSiteIds} empty="No sites yet." />
            </Field>
          ) : null}
          <FormDialogFooter
            onCancel={close}
            pending={create.isPending}
            submitLabel="Create user"
            pendingLabel="Creating…"
          />
        </form>
      </DialogContent>
    </Dialog>
  );
}

function UserMenu({ user, isSelf }: { user: UserOut; isSelf: boolean }) {
  const update = useUpdateUser();
  const remove = useDeleteUser();
  const onError = (error: unknown) => toast.error(errorMessage(error));
  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon-sm" aria-label={`Actions for ${user.email}`}>
          <MoreHorizontalIcon />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end">
        <DropdownMenuLabel className="text-xs text-muted-foreground">Change role</DropdownMenuLabel>
        {ROLES.filter((r) => r.value !== user.role).map((r) => (
          <DropdownMenuItem
            key={r.value}
            disabled={isSelf}
            onSelect={() => update.mutate({ id: user.id, body: { role: r.value } }, { onError })}
          >
            {r.label}
          </DropdownMenuItem>
        ))}
        <DropdownMenuSeparator />
        <DropdownMenuItem
          disabled={isSelf}
          onSelect={() => update.mutate({ id: user.id, body: { is_active: !user.is_active } }, { onError })}
        >
          {user.is_active ? "Deactivate" : "Activate"}
        </DropdownMenuItem>
        <DropdownMenuItem
          variant="destructive"
          disabled={isSelf}
          onSelect={() => {
            if (window.confirm(`Delete ${user.email}? They can no longer sign in.`)) {
              remove.mutate(user.id, { onError, onSuccess: () => toast.success(`${user.email} deleted`) });
            }
          }}
        >
          Delete
        </DropdownMenuItem>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

export function UserList() {
  const [params, setParams] = useUrlState();
  const canWrite = usePermission("users:write");
  const { data: me } = useMe();
  const siteNames = useSiteNames();
  const [search, setSearch] = useState(params.get("q") ?? "");
  const q = useDebounced(search.trim());
  const query = {
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    q: q || undefined,
    role: (params.get("role") as Role | null) || undefined,
  };
  const { data, isPending, error } = useUsers(query);

  return (
    <>
      <PageHeader title="Users" description="People who can sign in to this tenant" actions={canWrite ? <CreateUserDialog /> : null} />
      <Card className="overflow-hidden">
        <FilterBar>
          <Input
            type="search"
            placeholder="Search e-mail or name"
            aria-label="Search users"
            className="max-w-xs"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
              setParams({ page: null });
            }}
          />
          <FilterSelect
            label="Filter by role"
            allLabel="All roles"
            className="w-40"
            value={query.role}
            options={ROLE_OPTIONS}
            onChange={(v) => setParams({ role: v, page: null })}
          />
        </FilterBar>
        <ListTable
          error={error}
          loading={isPending}
          loadingRows={4}
          columns={6}
          head={
            <>
              <TableHead>User</TableHead>
              <TableHead>Role</TableHead>
              <TableHead>Sites</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Last sign-in</TableHead>
              {canWrite ? <TableHead className="w-10" /> : null}
            </>
          }
        >
          {data?.data.map((user) => (
            <TableRow key={user.id}>
              <TableCell>
                <div className="font-medium">{user.full_name || user.email}</div>
                {user.full_name ? <div className="text-xs text-muted-foreground">{user.email}</div> : null}
              </TableCell>
              <TableCell>
                <Badge variant="secondary">{roleLabel(user.role)}</Badge>
              </TableCell>
              <TableCell className="max-w-56 truncate text-muted-foreground">
                {SITE_SCOPED.includes(user.role)
                  ? user.site_ids.map((id) => siteNames.get(id) ?? id.slice(0, 8)).join(", ") || "none"
                  : "all"}
              </TableCell>
              <TableCell>
                {user.is_active ? <Badge variant="success">active</Badge> : <Badge variant="muted">inactive</Badge>}
              </TableCell>
              <TableCell>
                <RelativeTime value={user.last_login_at} />
              </TableCell>
              {canWrite ? (
                <TableCell>
                  <UserMenu user={user} isSelf={user.id === me?.id} />
                </TableCell>
              ) : null}
            </TableRow>
          ))}
        </ListTable>
        {data && data.data.length === 0 ? <EmptyState icon={UsersIcon} title="No users match" /> : null}
        <ListPagination list={data} onPage={(page) => setParams({ page })} />
      </Card>
    </>
  );
}
