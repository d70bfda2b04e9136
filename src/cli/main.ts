import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, parseEnv, databaseOf, ConfigError } from '../config/index.ts';
import { cliEnv } from '../config/cli-env.ts';
import { AdminClient } from './admin-client.ts';

const USAGE = `kaixu — Kaixu Gateway

  kaixu serve                         start the gateway (migrations run first)
  kaixu migrate                       run database migrations and exit
  kaixu customers create --email E [--plan P] [--cap-cents N]
  kaixu customers list [--limit N] [--offset N]
  kaixu keys create --customer ID [--label L] [--role R] [--cap-cents N] [--rpm N] [--rpd N]
  kaixu keys list --customer ID
  kaixu keys rotate --key ID
  kaixu keys revoke --key ID

Admin commands talk to a running gateway: --url (KAIXU_URL, default http://127.0.0.1:$PORT)
and --token (KAIXU_ADMIN_TOKEN) or --password (KAIXU_ADMIN_PASSWORD).`;

async function serve(): Promise<void> {
  // Config first: a bad environment is reported before the whole app is loaded.
  const config = loadConfig();
  const { startServer } = await import('../app/server.ts');
  const generated = (config as { _generatedAdminPassword?: string })._generatedAdminPassword;
  if (generated) {
    // Printed once, to the terminal only (never to the structured log), and before listening so
    // a start that fails (port taken…) still shows it.
    process.stdout.write(`\n  Admin password (generated, stored in ${resolve(config.DATA_DIR, 'secrets.json')} — shown once):\n  ${generated}\n\n`);
  }
  const running = await startServer(config);
  const log = running.container.log;
  log.info({ url: running.url, db: config.database.kind, version: config.version, node: config.nodeId }, 'kaixu gateway listening');
  let shuttingDown = false;
  const shutdown = (sig: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal: sig }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

async function migrate(): Promise<void> {
  const { openStorage } = await import('../storage/db.ts');
  const { migrateToLatest } = await import('../storage/migrate.ts');
  const { acquireServeLock } = await import('../storage/serve-lock.ts');
  // Only the database settings: migrating must not generate (and so never print) the secrets.
  const env = parseEnv();
  const db = databaseOf(env);
  // SQLite: never under a running gateway (storage/serve-lock.ts).
  const lock = db.kind === 'sqlite' && db.path !== ':memory:' ? acquireServeLock(db.path, 'migrate') : undefined;
  try {
    const storage = openStorage(db, { poolMax: 2 });
    try {
      const res = await migrateToLatest(storage.db);
      const applied = res.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.');
    } finally {
      await storage.close();
    }
  } finally {
    lock?.release();
  }
}

function print(v: unknown) {
  console.log(JSON.stringify(v, null, 2));
  const issued = v as { key?: unknown; master_key?: { key?: unknown } } | null;
  if (typeof issued?.key === 'string' || typeof issued?.master_key?.key === 'string') {
    console.error('Note: the key above is shown only once; the gateway keeps only its digest. Store it now.');
  }
}

async function admin(group: string, action: string | undefined, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      password: { type: 'string' },
      email: { type: 'string' },
      plan: { type: 'string' },
      'cap-cents': { type: 'string' },
      customer: { type: 'string' },
      key: { type: 'string' },
      label: { type: 'string' },
      role: { type: 'string' },
      rpm: { type: 'string' },
      rpd: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
    },
    strict: true,
  });
  const env = cliEnv();
  const url = values.url ?? env.url ?? `http://127.0.0.1:${env.port ?? 8787}`;
  const client = new AdminClient(url, { token: values.token ?? env.token, password: values.password ?? env.password });
  const num = (s: string | undefined, name: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const need = (v: string | undefined, flag: string) => {
    if (!v) throw new Error(`--${flag} is required`);
    return v;
  };
  const key = `${group} ${action ?? ''}`.trim();
  switch (key) {
    case 'customers create':
      return print(await client.call('POST', '/admin/api/customers', { email: need(values.email, 'email'), plan: values.plan, monthly_cap_cents: num(values['cap-cents'], 'cap-cents') }));
    case 'customers list': {
      const qs = new URLSearchParams({ limit: values.limit ?? '50', offset: values.offset ?? '0' });
      return print(await client.call('GET', `/admin/api/customers?${qs}`));
    }
    case 'keys create':
      return print(
        await client.call('POST', `/admin/api/customers/${encodeURIComponent(need(values.customer, 'customer'))}/keys`, {
          label: values.label,
          role: values.role,
          monthly_cap_cents: num(values['cap-cents'], 'cap-cents'),
          rpm_limit: num(values.rpm, 'rpm'),
          rpd_limit: num(values.rpd, 'rpd'),
        }),
      );
    case 'keys list':
      return print(await client.call('GET', `/admin/api/customers/${encodeURIComponent(need(values.customer, 'customer'))}/keys`));
    case 'keys rotate':
      return print(await client.call('POST', `/admin/api/keys/${encodeURIComponent(need(values.key, 'key'))}/rotate`));
    case 'keys revoke':
      return print(await client.call('POST', `/admin/api/keys/${encodeURIComponent(need(values.key, 'key'))}/revoke`));
    default:
      throw new Error(`Unknown command: kaixu ${key}\n\n${USAGE}`);
  }
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  try {
    if (cmd === 'serve' || cmd === undefined) return await serve();
    if (cmd === 'migrate') return await migrate();
    if (cmd === 'customers' || cmd === 'keys') return await admin(cmd, sub, rest);
    if (cmd === 'help' || cmd === '--help' || cmd === '-h') return void console.log(USAGE);
    throw new Error(`Unknown command: ${cmd}\n\n${USAGE}`);
  } catch (e) {
    if (e instanceof ConfigError) console.error(e.message);
    else console.error(`kaixu: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

await main(process.argv.slice(2));
