// The `akko-storage` command line (DESIGN §1, §10). A bad setting exits 2 with one line.
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { registerKmsCommands } from './keyops/cli.js';

// A reader that went away (a closed pipe) must not take the server down with it.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function fail(message: string, code = 2): never {
  process.stderr.write(`akko-storage: ${message}\n`);
  process.exit(code);
}

const program = new Command('akko-storage')
  .description('S3 object storage of the AKKO data platform')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('serve')
  .description('serve the S3 API, the admin UI and the metrics endpoint')
  .option('--config <file>', 'YAML or JSON config file (AKKO_CONFIG)')
  .option('--data-dir <dir>', 'data directory (AKKO_DATA_DIR, default ./data)')
  .option('--host <host>', 'listen address (AKKO_HOST, default 127.0.0.1)')
  .option('--s3-port <port>', 'S3 API port (AKKO_S3_PORT, default 8333; 0 = any free port)')
  .option('--admin-port <port>', 'admin UI port (AKKO_ADMIN_PORT, default 8888)')
  .option('--metrics-port <port>', 'Prometheus metrics port (AKKO_METRICS_PORT, default 9091)')
  .option('--region <region>', 'region (AKKO_S3_REGION, default akko-local)')
  .option('--buckets <a,b>', 'buckets to create at start (AKKO_BUCKETS)')
  .addOption(new Option('--encryption <on|off>', 'encryption at rest (AKKO_ENCRYPTION, default on)'))
  .option('--kms-provider <local|aws>', 'KMS provider (AKKO_KMS_PROVIDER, default local)')
  .option('--kms-key-id <id>', 'KMS key id (AKKO_KMS_KEY_ID)')
  .option('--kms-endpoint <url>', 'KMS endpoint override (AKKO_KMS_ENDPOINT)')
  .option('--kms-keyring <file|k8s-secret:[ns/]name>', 'local keyring: a file, or a Kubernetes Secret (AKKO_KMS_KEYRING, default <data-dir>/kms-keyring.json)')
  .action(async (opts: Record<string, unknown>) => {
    const config = loadConfig(opts);
    // Loaded after the settings are valid, so a bad setting is reported at once.
    const { startServer } = await import('./server.js');
    const server = await startServer(config, print);
    const stop = () => {
      server.close().then(() => process.exit(0), (e) => fail(`shutdown failed: ${(e as Error).message}`, 1));
    };
    // Handlers first: a supervisor may signal the moment it reads the ready line.
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    print(`akko-storage ready s3=${server.urls.s3} admin=${server.urls.admin} metrics=${server.urls.metrics}`);
  });

program
  .command('buckets')
  .description('bucket operations')
  .command('init')
  .description('create the platform buckets that are missing (idempotent)')
  .option('--config <file>', 'YAML or JSON config file (AKKO_CONFIG)')
  .option('--endpoint <url>', 'S3 endpoint (AKKO_S3_ENDPOINT, default http://127.0.0.1:8333)')
  .option('--data-dir <dir>', 'data directory holding the keystore when no AKKO_S3_* credentials are set')
  .option('--region <region>', 'region (AKKO_S3_REGION)')
  .option('--buckets <a,b>', 'buckets (AKKO_BUCKETS)')
  .action(async (opts: Record<string, unknown>) => {
    const { endpoint, ...rest } = opts;
    const config = loadConfig(rest);
    const { bucketsInit } = await import('./buckets-init.js');
    const ok = await bucketsInit(config, (endpoint as string | undefined) ?? process.env.AKKO_S3_ENDPOINT ?? 'http://127.0.0.1:8333', print);
    process.exit(ok ? 0 : 1);
  });

registerKmsCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ConfigError) fail(e.message);
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  fail((e as Error).message ?? String(e), 1);
}
