// `npm run token -- --role clinician [--sub alice] [--name "Dr Alice"] [--scope "user/Patient.rs"] [--ttl 3600]`
// Prints an access token of the development issuer (`.hospital/dev-issuer.json`, made on first use),
// which every service started by the scripts trusts. `--env` prints the AUTH_JWKS and AUTH_ISSUER lines
// that make a service started by hand trust it too.
import { devIssuerEnv, isRole, ROLES, signDevToken } from '@hospital/platform';
import { devIssuerKeys } from './services';

const USAGE = `usage: npm run token -- --role <${ROLES.join('|')}> [--sub <id>] [--name <display name>] [--scope "<scopes>"] [--ttl <seconds>]
       npm run token -- --env`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function parse(argv: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) fail(`unexpected argument: ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'env' || name === 'help') options[name] = 'true';
    else {
      const value = inline ?? argv[(i += 1)];
      if (value === undefined) fail(`--${name} needs a value`);
      options[name] = value;
    }
  }
  return options;
}

function main(): void {
  const options = parse(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const keys = devIssuerKeys();
  if (options.env) {
    for (const [name, value] of Object.entries(devIssuerEnv(keys)))
      process.stdout.write(`${name}='${value}'\n`);
    return;
  }
  for (const name of Object.keys(options))
    if (!['role', 'sub', 'name', 'scope', 'ttl'].includes(name)) fail(`unknown option --${name}`);
  const role = options.role ?? fail('--role is required');
  if (!isRole(role)) fail(`unknown role ${role}`);
  const ttl = options.ttl === undefined ? 3600 : Number(options.ttl);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 24 * 3600)
    fail('--ttl must be whole seconds, at most a week');
  const token = signDevToken(keys, {
    role,
    sub: options.sub ?? `dev-${role}`,
    name: options.name,
    scope: options.scope,
    ttlSeconds: ttl,
  });
  process.stdout.write(`${token}\n`);
}

main();
