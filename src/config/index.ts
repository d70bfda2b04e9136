export { loadConfig, testConfig, parseEnv, buildConfig, resolveSecrets, databaseOf, ConfigError } from './load.ts';
export type { Config, Env, Secrets } from './schema.ts';
