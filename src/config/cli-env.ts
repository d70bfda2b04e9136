/** The few variables the admin CLI reads (it talks to a running gateway, it does not boot one). */
export function cliEnv(): { url?: string; token?: string; password?: string; port?: string } {
  const e = process.env;
  return {
    url: e.KAIXU_URL || undefined,
    token: e.KAIXU_ADMIN_TOKEN || undefined,
    password: e.KAIXU_ADMIN_PASSWORD || e.ADMIN_PASSWORD || undefined,
    port: e.PORT || undefined,
  };
}
