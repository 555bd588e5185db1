// The dashboard's build. Output goes to examples/dashboard/dist, which examples/server.ts serves.
import react from '@vitejs/plugin-react'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
  // During `vite dev`, the API and the stream come from the example server.
  server: { proxy: { '/api': { target: 'http://localhost:3000', ws: true } } }
})
