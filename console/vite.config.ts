// The web console: a static build served by the API at /console.
// React's JSX goes through esbuild's own transform; no plugin needed.
// The build also carries ReDoc's standalone bundle (the `redoc` package, pinned
// in package.json) into dist/redoc/, which the API serves at /redoc: the
// browser loads it from the API itself, never from a CDN.
import { defineConfig, type Plugin } from 'vite';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function redocBundle(): Plugin {
  const from = (file: string) => readFileSync(fileURLToPath(new URL(`../node_modules/redoc/${file}`, import.meta.url)));
  return {
    name: 'kubekloud-redoc-bundle',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'redoc/redoc.standalone.js', source: from('bundles/redoc.standalone.js') });
      this.emitFile({ type: 'asset', fileName: 'redoc/redoc.standalone.js.LICENSE.txt', source: from('bundles/redoc.standalone.js.LICENSE.txt') });
      this.emitFile({ type: 'asset', fileName: 'redoc/LICENSE', source: from('LICENSE') });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  esbuild: { jsx: 'automatic' },
  plugins: [redocBundle()],
  // es2022: noVNC (the VNC view) uses top-level await.
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400, target: 'es2022' },
  logLevel: 'warn',
});
