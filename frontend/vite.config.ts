import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// In `npm run dev` the UI talks to a real gateway through this proxy, so the app itself only ever
// uses relative `/api/v1/...` paths and works unchanged when the gateway serves `dist/` at `/`.
const gateway = process.env.SWARMSCOPE_GATEWAY_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  base: '/',
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      '/healthz': { target: gateway, changeOrigin: true },
      '/readyz': { target: gateway, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
