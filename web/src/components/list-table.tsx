"use client";

import { ChevronRightIcon } from "lucide-react";
import type { ComponentProps, ReactNode } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { Pagination } from "@/components/pagination";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHeader, TableRow } from "@/components/ui/table";
import { cn } from "@/lib/utils";

/**
 * The table of a list page: the error in its place when the list could not be read, otherwise
 * the column heads (`head`) and the rows (`children`), with skeleton rows while the first page
 * loads.
 */
export function ListTable({
  error,
  loading,
  loadingRows,
  columns,
  head,
  className,
  bodyTestId,
  children,
}: {
  error: unknown;
  loading: boolean;
  /** How many skeleton rows stand in for the rows while loading. */
  loadingRows: number;
  /** How many columns the table has (the skeleton rows span them all). */
  columns: number;
  head: ReactNode;
  className?: string;
  bodyTestId?: string;
  children: ReactNode;
}) {
  if (error) {
    return (
      <div className="p-4">
        <ErrorNotice error={error} />
      </div>
    );
  }
  return (
    <Table className={className}>
      <TableHeader>
        <TableRow className="hover:bg-transparent">{head}</TableRow>
      </TableHeader>
      <TableBody data-testid={bodyTestId}>
        {loading
          ? Array.from({ length: loadingRows }, (_, i) => (
              <TableRow key={i}>
                <TableCell colSpan={columns}>
                  <Skeleton className="h-5" />
                </TableCell>
              </TableRow>
            ))
          : children}
      </TableBody>
    </Table>
  );
}

/**
 * A row that a click opens to a detail row under it, with a chevron in its first cell (which the
 * table's head leaves empty). One that is not `expandable` neither opens nor shows the chevron.
 */
export function ExpandableRow({
  open,
  onToggle,
  expandable = true,
  columns,
  detail,
  detailClassName,
  className,
  children,
  ...props
}: Omit<ComponentProps<typeof TableRow>, "onClick"> & {
  open: boolean;
  onToggle: () => void;
  expandable?: boolean;
  /** How many columns the table has (the detail spans all but the chevron's). */
  columns: number;
  /** Renders the detail, only while open. */
  detail: () => ReactNode;
  detailClassName?: string;
}) {
  return (
    <>
      <TableRow className={cn(expandable && "cursor-pointer", className)} onClick={() => expandable && onToggle()} {...props}>
        <TableCell>
          {expandable ? (
            <ChevronRightIcon className={cn("size-4 text-muted-foreground transition-transform", open && "rotate-90")} />
          ) : null}
        </TableCell>
        {children}
      </TableRow>
      {open && expandable ? (
        <TableRow className="bg-muted/30 hover:bg-muted/30">
          <TableCell />
          <TableCell colSpan={columns - 1} className={detailClassName}>
            {detail()}
          </TableCell>
        </TableRow>
      ) : null}
    </>
  );
}

interface PageMeta {
  page: number;
  per_page: number;
  total: number;
}

/**
 * Pagination under a list once a page of it has been read and it is not empty (with
 * `multiPageOnly`, only when it has more than one page).
 */
export function ListPagination({
  list,
  onPage,
  onPerPage,
  multiPageOnly = false,
}: {
  list: { meta: PageMeta } | undefined;
  onPage: (page: number) => void;
  onPerPage?: (perPage: number) => void;
  multiPageOnly?: boolean;
}) {
  if (!list) return null;
  const { page, per_page, total } = list.meta;
  if (total <= (multiPageOnly ? per_page : 0)) return null;
  return <Pagination page={page} perPage={per_page} total={total} onPage={onPage} onPerPage={onPerPage} />;
}
