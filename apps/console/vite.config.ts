import { defineConfig } from 'vite';

// The operations console: a static single-page app the gateway serves at /console/, built to
// <repo>/dist/console. The root is this folder whatever directory the build is started from.
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root,
  base: '/console/',
  // Vite's own transform (Oxc) compiles the TSX with React's automatic JSX runtime: no plugin needed.
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    // Relative to the root: <repo>/dist/console.
    outDir: '../../dist/console',
    emptyOutDir: true,
    sourcemap: true,
  },
});
