"use client";

import { DownloadIcon, FileUpIcon, UploadIcon } from "lucide-react";
import { useState } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { ApiError } from "@/lib/api/client";

import { useImportDevices, type ImportedDevice } from "./api";

const TEMPLATE =
  "name,device_type,dev_eui,site_id,tags,expected_interval_s,metadata\n" +
  'boiler-room-1,temperature,0102030405060708,,basement;hvac,300,"{""floor"": -1}"\n';

interface RowError {
  row: number;
  errors: string[];
}

function rowErrors(error: unknown): RowError[] {
  if (!(error instanceof ApiError)) return [];
  const rows = (error.details as { rows?: RowError[] } | null)?.rows;
  return Array.isArray(rows) ? rows : [];
}

function download(filename: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.click();
  URL.revokeObjectURL(url);
}

function csvCell(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function ImportDevicesDialog() {
  const [open, setOpen] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [created, setCreated] = useState<ImportedDevice[] | null>(null);
  const importer = useImportDevices();
  const errors = rowErrors(importer.error);

  function onOpenChange(next: boolean) {
    setOpen(next);
    if (!next) {
      setFile(null);
      setCreated(null);
      importer.reset();
    }
  }

  async function submit() {
    if (!file) return;
    importer.mutate(await file.text(), { onSuccess: setCreated });
  }

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogTrigger asChild>
        <Button variant="outline">
          <UploadIcon />
          Import CSV
        </Button>
      </DialogTrigger>
      <DialogContent className="sm:max-w-2xl" onInteractOutside={(e) => created && e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>Import devices from CSV</DialogTitle>
          <DialogDescription>
            Columns: <code>name</code>, <code>device_type</code>, and optionally <code>dev_eui</code>,{" "}
            <code>site_id</code>, <code>tags</code> (<code>;</code>-separated), <code>expected_interval_s</code>,{" "}
            <code>metadata</code> (JSON). All rows are checked first; nothing is imported unless every row is valid.
          </DialogDescription>
        </DialogHeader>

        {created ? (
          <div className="grid gap-3">
            <p className="text-sm">
              Imported <span className="font-semibold">{created.length}</span> device{created.length === 1 ? "" : "s"}.
              Their tokens are shown only now: download them before closing.
            </p>
            <div className="max-h-64 overflow-y-auto rounded-md border">
              <Table>
                <TableHeader>
                  <TableRow>
                    <TableHead>Row</TableHead>
                    <TableHead>Name</TableHead>
                    <TableHead>Device id</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {created.map((d) => (
                    <TableRow key={d.id}>
                      <TableCell className="tabular-nums">{d.row}</TableCell>
                      <TableCell>{d.name}</TableCell>
                      <TableCell className="font-mono text-xs">{d.id}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </div>
            <DialogFooter>
              <Button
                variant="outline"
                onClick={() =>
                  download(
                    "gito-device-tokens.csv",
                    "row,name,device_id,token\n" +
                      created.map((d) => [String(d.row), csvCell(d.name), d.id, d.token].join(",")).join("\n") +
                      "\n",
                  )
                }
              >
                <DownloadIcon />
                Download tokens
              </Button>
              <Button onClick={() => onOpenChange(false)}>Done</Button>
            </DialogFooter>
          </div>
        ) : (
          <div className="grid gap-4">
            <div className="flex flex-wrap items-center gap-3">
              <Input
                type="file"
                accept=".csv,text/csv"
                aria-label="CSV file"
                className="max-w-sm"
                onChange={(e) => {
                  setFile(e.target.files?.[0] ?? null);
                  importer.reset();
                }}
              />
              <Button variant="link" size="sm" onClick={() => download("gito-devices-template.csv", TEMPLATE)}>
                <FileUpIcon />
                Template
              </Button>
            </div>
            {importer.error ? <ErrorNotice error={importer.error} /> : null}
            {errors.length > 0 ? (
              <div className="max-h-64 overflow-y-auto rounded-md border" data-testid="import-errors">
                <Table>
                  <TableHeader>
                    <TableRow>
                      <TableHead className="w-16">Row</TableHead>
                      <TableHead>Problem</TableHead>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {errors.map((e) => (
                      <TableRow key={e.row}>
                        <TableCell className="align-top tabular-nums">{e.row}</TableCell>
                        <TableCell className="whitespace-normal">
                          <ul className="grid gap-0.5">
                            {e.errors.map((msg) => (
                              <li key={msg}>{msg}</li>
                            ))}
                          </ul>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </div>
            ) : null}
            <DialogFooter>
              <Button variant="outline" onClick={() => onOpenChange(false)}>
                Cancel
              </Button>
              <Button onClick={submit} disabled={!file || importer.isPending}>
                {importer.isPending ? "Importing…" : "Import"}
              </Button>
            </DialogFooter>
          </div>
        )}
      </DialogContent>
    </Dialog>
  );
}
