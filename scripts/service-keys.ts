// `npm run service-keys -- --out <folder> [--services emr,lis,…] [--force]`
// Makes a new Ed25519 key pair for each of the platform's services (all registered ones by default) and
// writes, per service, `<folder>/<service>.env` with its own SERVICE_PRIVATE_KEY and the SERVICE_JWKS of
// every service's public key (for `env_file:` in Docker Compose, a Kubernetes Secret, a systemd unit),
// and `<folder>/service-jwks.json` alone. Each service then holds only its own private key.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { privateKeyPem, servicePublicJwk } from '@hospital/platform';
import { services } from './services';

const USAGE = 'usage: npm run service-keys -- --out <folder> [--services emr,lis,…] [--force]';

function fail(message: string): never {
  process.stderr.write(`service-keys: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parse(argv: string[]): { out: string; names: string[]; force: boolean } {
  let out: string | undefined;
  let names: string[] = services.map((s) => s.name);
  let force = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--force') force = true;
    else if (arg === '--out') out = argv[(i += 1)] ?? fail('--out needs a folder');
    else if (arg === '--services') {
      names = (argv[(i += 1)] ?? fail('--services needs names')).split(',').map((n) => n.trim());
      const known = new Set<string>(services.map((s) => s.name));
      for (const name of names) if (!known.has(name)) fail(`unknown service ${name}`);
    } else if (arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else fail(`unexpected argument ${arg}`);
  }
  return { out: out ?? fail('--out is required'), names, force };
}

/** A value as one line of an env file: single-quoted, line breaks as literal \n (the services accept both). */
const envValue = (value: string): string => `'${value.trim().replace(/\n/g, '\\n')}'`;

function main(): void {
  const { out, names, force } = parse(process.argv.slice(2));
  const folder = resolve(out);
  const files = [...names.map((name) => join(folder, `${name}.env`)), join(folder, 'service-jwks.json')];
  const existing = files.filter((file) => existsSync(file));
  if (existing.length > 0 && !force)
    fail(`${existing.length} key file(s) exist already in ${folder} (--force replaces them)`);
  const pairs = names.map((name) => ({ name, key: generateKeyPairSync('ed25519').privateKey }));
  const jwks = JSON.stringify({ keys: pairs.map(({ name, key }) => servicePublicJwk(name, key)) });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  for (const { name, key } of pairs)
    writeFileSync(
      join(folder, `${name}.env`),
      `SERVICE_PRIVATE_KEY=${envValue(privateKeyPem(key))}\nSERVICE_JWKS=${envValue(jwks)}\n`,
      { mode: 0o600 },
    );
  writeFileSync(join(folder, 'service-jwks.json'), `${jwks}\n`);
  process.stdout.write(`service-keys: ${pairs.length} key pair(s) written to ${folder}\n`);
}

main();
