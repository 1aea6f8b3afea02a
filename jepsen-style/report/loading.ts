/** The report's inputs, read leniently: a run folder's JSON files and its history.jsonl. */
import { existsSync, readFileSync } from 'node:fs';
import { parseHistory } from '../history.js';
import type { Op } from '../types.js';

export function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Lenient history load for the report: good lines kept, problems listed. */
export function loadHistory(path: string): { ops: Op[]; problems: string[] } {
  if (!existsSync(path)) return { ops: [], problems: ['history.jsonl is missing'] };
  const text = readFileSync(path, 'utf8');
  try {
    const parsed = parseHistory(text, 'history.jsonl');
    return { ops: parsed.ops, problems: parsed.warnings };
  } catch (error) {
    const ops: Op[] = [];
    for (const line of text.split('\n')) {
      try {
        const o = JSON.parse(line) as Op;
        if (typeof o.index === 'number' && typeof o.time === 'number') ops.push(o);
      } catch {
        // skipped, reported below
      }
    }
    return { ops, problems: [`${(error as Error).message} (drawn leniently: malformed lines skipped)`] };
  }
}
