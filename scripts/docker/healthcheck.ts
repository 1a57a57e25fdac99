// Docker's health check of a hospital service (compose.yaml): healthy when its /health/ready answers 200
// on its own PORT within four seconds. Node built-ins only, so that it starts in a few milliseconds.
const port = process.env.PORT ?? '3000';

fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(4_000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
