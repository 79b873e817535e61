import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Dev: `npm run dev:web` proxies /api to a running Basalt (BASALT_DEV_API, default :3000).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/api': process.env.BASALT_DEV_API ?? 'http://localhost:3000' },
  },
});
