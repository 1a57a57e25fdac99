// Installs dependencies when they are missing or older than package-lock.json.
// Runs before anything else, so it may only use Node's own modules.
import { existsSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  process.stderr.write('Installing dependencies from package-lock.json…\n');
  // Not `npm ci`: the registry does not serve every platform's optional binaries (@swc/core-darwin-*…),
  // so the lock file cannot list them and `npm ci` refuses it; `npm install --no-save` installs the
  // locked versions and leaves package.json and the lock untouched.
  execSync('npm install --no-save --no-audit --no-fund', { stdio: ['ignore', 'inherit', 'inherit'] });
}
