import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/exit.js';
import { faultPackages, parsedPackages, parsePackages } from '../../../jepsen-style/vocabulary.js';

describe('--nemesis parsing', () => {
  it('accepts a comma-separated list, in canonical order, without duplicates', () => {
    expect(parsePackages('partition, kill,kill')).toEqual(['kill', 'partition']);
    expect(parsePackages('one-way')).toEqual(['one-way']);
  });
  it('none means no faults; all means every package', () => {
    expect(parsePackages('none')).toEqual([]);
    expect(parsePackages('all')).toEqual([...faultPackages]);
    expect(parsePackages('ALL,kill')).toEqual([...faultPackages]);
  });
  it('a parsed list (a run\'s options, test.json) reads back as itself, none\'s empty list included', () => {
    for (const text of ['none', 'kill', 'partition,kill', 'all']) expect(parsedPackages(parsePackages(text))).toEqual(parsePackages(text));
    expect(() => parsedPackages(['kill', 'partiton'])).toThrow(UsageError);
  });
  it('an unknown package is a UsageError naming the valid ones', () => {
    expect(() => parsePackages('kill,partiton')).toThrow(UsageError);
    expect(() => parsePackages('kill,partiton')).toThrow(/partiton.*valid: none, all, kill, pause, power, partition, one-way/);
    expect(() => parsePackages('')).toThrow(UsageError);
    expect(() => parsePackages('none,kill')).toThrow(UsageError);
  });
});
