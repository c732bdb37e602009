"use client";

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import type { Series } from "./api";

// Distinct on light and dark backgrounds, and for the common forms of colour blindness.
export const SERIES_COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"];

const AXIS = { stroke: "#8a8a8a", grid: { stroke: "rgba(128,128,128,0.14)", width: 1 }, ticks: { show: false } };

function toNumber(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return null;
}

/** uPlot wants one shared x array: union of timestamps, gaps as null per series. */
export function alignSeries(series: Series, keys: string[]): uPlot.AlignedData {
  const xs = new Set<number>();
  const byKey = keys.map((key) => {
    const points = new Map<number, number | null>();
    for (const point of series[key] ?? []) {
      const t = Date.parse(point.ts) / 1000;
      if (Number.isNaN(t)) continue;
      xs.add(t);
      points.set(t, toNumber(point.value));
    }
    return points;
  });
  const x = [...xs].sort((a, b) => a - b);
  return [x, ...byKey.map((points) => x.map((t) => points.get(t) ?? null))];
}

export function TelemetryChart({ series, keys, height = 280 }: { series: Series; keys: string[]; height?: number }) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const keysSignature = keys.join("\u0000");

  // (Re)create the plot when the set of series changes; data updates go through setData.
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: element.clientWidth || 600,
      height,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales: { x: { time: true } },
      axes: [AXIS, { ...AXIS, size: 56 }],
      series: [
        {},
        ...keysSignature.split("\u0000").map((key, i) => ({
          label: key,
          stroke: SERIES_COLORS[i % SERIES_COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: false },
        })),
      ],
    };
    const instance = new uPlot(options, [[]], element);
    plot.current = instance;
    const observer = new ResizeObserver(() => {
      instance.setSize({ width: element.clientWidth, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      instance.destroy();
      plot.current = null;
    };
  }, [keysSignature, height]);

  useEffect(() => {
    plot.current?.setData(alignSeries(series, keysSignature.split("\u0000")));
  }, [series, keysSignature]);

  return <div ref={container} className="w-full" data-testid="telemetry-chart" />;
}
