/**
 * CSV encoding: RFC 4180 (CRLF line ends; a field holding `"`, `,`, CR or LF is quoted and
 * its quotes doubled) plus a formula-injection guard: a text cell that starts with
 * `=`, `+`, `-`, `@`, TAB or CR is prefixed with a single quote so spreadsheet programs
 * show it as text instead of evaluating it (OWASP "CSV injection").
 *
 * The guard applies to text only. Numbers are formatted by us (never user input), so a
 * number cell is written as is; every user-controlled value (install ids, labels, models,
 * plans, app names) reaches the CSV as a string and is guarded.
 */
export type CsvValue = string | number | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '';
    return String(v);
  }
  const s = FORMULA_START.test(v) ? `'${v}` : v;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvRow = (values: readonly CsvValue[]): string => `${values.map(csvCell).join(',')}\r\n`;
