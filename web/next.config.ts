import type { NextConfig } from "next";

// A static export: the Gito API serves `out/` at `/` on its own port, so the dashboard needs
// no Node.js at run time. Detail pages take their id from the query string
// (`/devices/view?id=...`) because a static export cannot prerender dynamic segments.
const nextConfig: NextConfig = {
  output: "export",
  // `devices/index.html` rather than `devices.html`: Starlette's StaticFiles(html=True)
  // resolves directory indexes, not extension-less names.
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
