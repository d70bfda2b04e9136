import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { CsvExport } from '../../../billing/exports/service.ts';
import { MONTH_RE } from '../../../lib/clock.ts';
import type { AppEnv } from '../../context.ts';

export const security = [{ adminBearer: [] }];
export const keySecurity = [{ virtualKey: [] }];
export const Month = z.string().regex(MONTH_RE, 'must be YYYY-MM').openapi({ example: '2026-01' });
export const CustomerParam = z.object({ customer_id: z.string().min(1).max(100) });

export const csvContent = (description: string) => ({
  description,
  content: { 'text/csv': { schema: z.string().openapi({ description: 'RFC 4180 CSV (CRLF), formula-guarded text cells' }) } },
});

/** A CSV download: streamed when the body is a stream, never buffered here. */
export function csvResponse(ctx: Context<AppEnv>, exp: CsvExport): Response {
  return ctx.body(exp.body, 200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${exp.filename}"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
}
