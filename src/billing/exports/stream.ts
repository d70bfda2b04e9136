import { csvRow, type CsvValue } from './csv.ts';

export interface KeysetSource<R> {
  /** Up to `limit` rows with id > afterId, ascending by id. */
  fetch(afterId: number, limit: number): Promise<R[]>;
  idOf(row: R): number;
  toCells(row: R): CsvValue[];
}

export interface CsvStreamOptions {
  header: readonly string[];
  batchSize: number;
  /** Stop after this many data rows (seed `limit`); unbounded when absent. */
  maxRows?: number;
  onError?: (e: unknown) => void;
}

/**
 * A CSV body streamed straight from the database: one keyset page (`id > last`, ordered by id)
 * is read only when the consumer pulls, so at most one encoded batch is buffered however many
 * rows the export has. A client that goes away cancels the stream and no further page is read.
 */
export function keysetCsvStream<R>(source: KeysetSource<R>, opts: CsvStreamOptions): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let afterId = 0;
  let sent = 0;
  let headerSent = false;
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(enc.encode(csvRow(opts.header)));
          return;
        }
        if (done) return;
        try {
          const want = opts.maxRows === undefined ? opts.batchSize : Math.min(opts.batchSize, opts.maxRows - sent);
          const rows = want > 0 ? await source.fetch(afterId, want) : [];
          if (rows.length === 0) {
            done = true;
            controller.close();
            return;
          }
          let chunk = '';
          for (const r of rows) chunk += csvRow(source.toCells(r));
          afterId = source.idOf(rows[rows.length - 1]!);
          sent += rows.length;
          controller.enqueue(enc.encode(chunk));
          if (rows.length < want) {
            done = true;
            controller.close();
          }
        } catch (e) {
          done = true;
          opts.onError?.(e);
          controller.error(e);
        }
      },
      cancel() {
        done = true;
      },
    },
    { highWaterMark: 1 },
  );
}

/** A small CSV (summary, invoice) as a one-shot body. */
export function csvText(header: readonly string[], rows: readonly CsvValue[][]): string {
  return csvRow(header) + rows.map(csvRow).join('');
}
