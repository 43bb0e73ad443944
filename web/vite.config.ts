/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the app with hot reload and forwards API calls to a running `loopline up`.
const api = process.env.LOOPLINE_URL ?? "http://127.0.0.1:8000";
const apiPaths = ["/btql", "/v1", "/api", "/ping", "/version", "/logs3", "/experiment-comparison2"];

export default defineConfig({
  plugins: [react()],
  server: { proxy: Object.fromEntries(apiPaths.map((p) => [p, api])) },
  build: {
    outDir: "dist",
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
