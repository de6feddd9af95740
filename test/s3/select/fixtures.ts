// Generated inputs for the S3 Select tests and benchmark: a CSV with a header (id, name, price,
// qty, category, day), deterministic for a seed, and the same rows as JSON LINES.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type S3Client,
  SelectObjectContentCommand,
  type SelectObjectContentCommandInput,
} from '@aws-sdk/client-s3';

export interface Row {
  id: number;
  name: string;
  price: string; // as written in the CSV: two decimals
  qty: number;
  category: string;
  day: string;
}

const NAMES = ['apple', 'Banana', 'cherry pie', 'date, dried', 'elder "berry"', 'fig', 'grape'];
const CATEGORIES = ['a', 'b', 'c', 'd'];

export function generateRows(count: number, seed = 7): Row[] {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
  const rows: Row[] = [];
  for (let id = 1; id <= count; id++) {
    const day = 1 + Math.floor(next() * 28);
    rows.push({
      id,
      name: `${NAMES[Math.floor(next() * NAMES.length)]}${id % 5}`,
      price: (next() * 200).toFixed(2),
      qty: Math.floor(next() * 50),
      category: CATEGORIES[Math.floor(next() * CATEGORIES.length)],
      day: `2024-0${1 + (id % 9)}-${String(day).padStart(2, '0')}`,
    });
  }
  return rows;
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows: Row[]): string {
  const lines = ['id,name,price,qty,category,day'];
  for (const r of rows)
    lines.push([r.id, csvField(r.name), r.price, r.qty, r.category, r.day].join(','));
  return `${lines.join('\n')}\n`;
}

export function toJsonLines(rows: Row[]): string {
  return rows
    .map((r) => JSON.stringify({ ...r, price: Number(r.price), tags: { category: r.category } }))
    .join('\n');
}

// sqlite3 over the same CSV (imported with its header, every column TEXT): the oracle.
export function sqlite(dir: string, csv: string, sql: string): string {
  const file = join(dir, 'oracle.csv');
  writeFileSync(file, csv);
  const result = spawnSync('sqlite3', ['-csv', ':memory:', '.import --csv oracle.csv t', sql], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`sqlite3 failed: ${result.stderr}`);
  return result.stdout.replaceAll('\r\n', '\n');
}

export interface SelectResult {
  text: string;
  stats?: { BytesScanned?: number; BytesProcessed?: number; BytesReturned?: number };
  events: string[];
  recordMessages: number;
}

// Runs a query with the SDK and its event stream decoder; collects records and the events' order.
export async function sdkSelect(
  client: S3Client,
  input: SelectObjectContentCommandInput,
): Promise<SelectResult> {
  const out = await client.send(new SelectObjectContentCommand(input));
  const chunks: Buffer[] = [];
  const events: string[] = [];
  let stats: SelectResult['stats'];
  let recordMessages = 0;
  for await (const event of out.Payload ?? []) {
    if (event.Records?.Payload) {
      chunks.push(Buffer.from(event.Records.Payload));
      recordMessages++;
      if (events[events.length - 1] !== 'Records') events.push('Records');
    } else if (event.Stats) {
      stats = event.Stats.Details;
      events.push('Stats');
    } else if (event.End) events.push('End');
    else if (event.Progress) events.push('Progress');
    else if (event.Cont) events.push('Cont');
  }
  return { text: Buffer.concat(chunks).toString('utf8'), stats, events, recordMessages };
}

export const csvWithHeader = {
  CSV: { FileHeaderInfo: 'USE' as const },
  CompressionType: 'NONE' as const,
};
export const csvOut = { CSV: {} };
