"use client";

import { MapPinIcon, PencilIcon, PlusIcon, Trash2Icon } from "lucide-react";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";

import { EmptyState } from "@/components/empty-state";
import { ErrorNotice, errorMessage } from "@/components/error-notice";
import { Field, fieldErrors } from "@/components/field";
import { FormDialogFooter } from "@/components/form-dialog";
import { PageHeader } from "@/components/page-header";
import { ListPagination, ListTable } from "@/components/list-table";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Dialog, DialogContent, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { TableCell, TableHead, TableRow } from "@/components/ui/table";
import { usePermission } from "@/features/auth/hooks";
import { ApiError } from "@/lib/api/client";
import { formatDateTime } from "@/lib/format";
import { intParam, useUrlState } from "@/lib/use-url-state";
import { useDebounced } from "@/lib/use-debounced";

import { useDeleteSite, useSaveSite, useSites, type Site } from "./api";

function SiteDialog({ site, open, onOpenChange }: { site?: Site; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [name, setName] = useState(site?.name ?? "");
  const [description, setDescription] = useState(site?.description ?? "");
  const [latitude, setLatitude] = useState(site?.latitude?.toString() ?? "");
  const [longitude, setLongitude] = useState(site?.longitude?.toString() ?? "");
  const save = useSaveSite(site?.id);
  const errors = save.error instanceof ApiError ? fieldErrors(save.error.details) : {};

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate(
      {
        name: name.trim(),
        description: description.trim() || null,
        latitude: latitude ? Number(latitude) : null,
        longitude: longitude ? Number(longitude) : null,
      },
      {
        onSuccess: () => {
          toast.success(site ? "Site saved" : `Site ${name.trim()} created`);
          onOpenChange(false);
        },
      },
    );
  }

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{site ? "Edit site" : "New site"}</DialogTitle>
        </DialogHeader>
        <form className="grid gap-4" onSubmit={submit} noValidate>
          {save.error && Object.keys(errors).length === 0 ? <ErrorNotice error={save.error} /> : null}
          <Field id="site-name" label="Name" error={errors.name}>
            <Input id="site-name" autoFocus value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field id="site-description" label="Description" error={errors.description}>
            <Input id="site-description" value={description} onChange={(e) => setDescription(e.target.value)} />
          </Field>
          <div className="grid grid-cols-2 gap-4">
            <Field id="site-lat" label="Latitude" error={errors.latitude}>
              <Input id="site-lat" type="number" step="any" value={latitude} onChange={(e) => setLatitude(e.target.value)} />
            </Field>
            <Field id="site-lon" label="Longitude" error={errors.longitude}>
              <Input id="site-lon" type="number" step="any" value={longitude} onChange={(e) => setLongitude(e.target.value)} />
            </Field>
          </div>
          <FormDialogFooter
            onCancel={() => onOpenChange(false)}
            pending={save.isPending}
            submitLabel={site ? "Save" : "Create site"}
          />
        </form>
      </DialogContent>
    </Dialog>
  );
}

export function SiteList() {
  const [params, setParams] = useUrlState();
  const canWrite = usePermission("sites:write");
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim());
  const [editing, setEditing] = useState<Site | "new" | null>(null);
  const remove = useDeleteSite();
  const { data, isPending, error } = useSites({
    page: intParam(params, "page", 1),
    per_page: intParam(params, "per_page", 20),
    q: q || undefined,
  });

  return (
    <>
      <PageHeader
        title="Sites"
        description="Places that group devices; site admins and clients see only their sites"
        actions={
          canWrite ? (
            <Button onClick={() => setEditing("new")}>
              <PlusIcon />
              New site
            </Button>
          ) : null
        }
      />
      {editing ? (
        <SiteDialog
          key={editing === "new" ? "new" : editing.id}
          site={editing === "new" ? undefined : editing}
          open
          onOpenChange={(open) => !open && setEditing(null)}
        />
      ) : null}
      <Card className="overflow-hidden">
        <div className="border-b p-3">
          <Input
            type="search"
            placeholder="Search sites"
            aria-label="Search sites"
            className="max-w-xs"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
              setParams({ page: null });
            }}
          />
        </div>
        <ListTable
          error={error}
          loading={isPending}
          loadingRows={3}
          columns={5}
          head={
            <>
              <TableHead>Name</TableHead>
              <TableHead>Description</TableHead>
              <TableHead>Location</TableHead>
              <TableHead>Created</TableHead>
              {canWrite ? <TableHead className="w-24" /> : null}
            </>
          }
        >
          {data?.data.map((site) => (
            <TableRow key={site.id}>
              <TableCell className="font-medium">
                <Link className="hover:underline" href={`/devices/?site_id=${site.id}`} title="Devices at this site">
                  {site.name}
                </Link>
              </TableCell>
              <TableCell className="max-w-80 truncate text-muted-foreground">{site.description || "—"}</TableCell>
              <TableCell className="font-mono text-xs text-muted-foreground">
                {site.latitude !== null && site.longitude !== null
                  ? `${site.latitude.toFixed(4)}, ${site.longitude.toFixed(4)}`
                  : "—"}
              </TableCell>
              <TableCell className="text-muted-foreground">{formatDateTime(site.created_at)}</TableCell>
              {canWrite ? (
                <TableCell className="text-right">
                  <Button variant="ghost" size="icon-sm" aria-label={`Edit ${site.name}`} onClick={() => setEditing(site)}>
                    <PencilIcon />
                  </Button>
                  <Button
                    variant="ghost"
                    size="icon-sm"
                    aria-label={`Delete ${site.name}`}
                    onClick={() => {
                      if (window.confirm(`Delete site ${site.name}? Its devices stay, without a site.`)) {
                        remove.mutate(site.id, {
                          onError: (e) => toast.error(errorMessage(e)),
                          onSuccess: () => toast.success(`${site.name} deleted`),
                        });
                      }
                    }}
                  >
                    <Trash2Icon />
                  </Button>
                </TableCell>
              ) : null}
            </TableRow>
          ))}
        </ListTable>
        {data && data.data.length === 0 ? (
          <EmptyState icon={MapPinIcon} title={q ? "No sites match" : "No sites yet"} />
        ) : null}
        <ListPagination list={data} onPage={(page) => setParams({ page })} />
      </Card>
    </>
  );
}
