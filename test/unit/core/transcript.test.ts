/**
 * Transcript tests: each testdata/*.txt file is an annotated conversation with a hand-driven
 * cluster (harness.ts). A block is optional `#` comment lines, a `> command` line, then the
 * expected output up to a blank line. REWRITE=1 rewrites the expected output in place: for new
 * files only (docs/TESTING.md, "Core transcripts", lists the commands).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Cluster } from './harness.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const rewrite = process.env['REWRITE'] === '1';

interface Block { comments: string[]; command: string; expected: string }

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let comments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('> ')) {
      const out: string[] = [];
      while (i + 1 < lines.length && lines[i + 1] !== '') out.push(lines[++i]!);
      blocks.push({ comments, command: line.slice(2), expected: out.join('\n') });
      comments = [];
    } else if (line !== '') {
      comments.push(line);
    }
  }
  return blocks;
}

function format(blocks: readonly Block[]): string {
  return blocks.map((b) => [...b.comments, `> ${b.command}`, b.expected].join('\n')).join('\n\n') + '\n';
}

describe('transcripts', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  it.each(files)('%s', (file) => {
    const path = join(dir, file);
    const blocks = parse(readFileSync(path, 'utf8'));
    const cluster = new Cluster();
    const actual = blocks.map((b) => ({ ...b, expected: cluster.run(b.command) }));
    if (rewrite) {
      writeFileSync(path, format(actual));
      return;
    }
    for (let i = 0; i < blocks.length; i++) {
      expect(`> ${blocks[i]!.command}\n${actual[i]!.expected}`, `${file} block ${i + 1}`).toBe(`> ${blocks[i]!.command}\n${blocks[i]!.expected}`);
    }
  });
});
