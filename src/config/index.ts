export { loadConfig, testConfig, parseEnv, buildConfig, resolveSecrets, ConfigError } from './load.ts';
export type { Config, Env, Secrets } from './schema.ts';
