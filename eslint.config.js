// Lint: typed rules for the whole tree, and the rule that keeps src/core pure:
// no node:* imports, no clock, no Math.random, no timers (see docs/ARCHITECTURE.md).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'store/**', '.tools/**', 'coverage/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // src/ is the server and its client: it imports only src/ and packages, never the testbed or
    // the CLI (the composition root, cli/, sits above both). docs/ARCHITECTURE.md has the picture.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/cli/*', '**/jepsen-style/*', '**/cluster/*', '**/faults/*', '**/bench/*', '**/test/*'], message: 'src/ imports only src/ and packages: the testbed and the CLI sit above it.' },
        ],
      }],
    },
  },
  {
    // The wire formats sit between the core and both ends of a connection: src/wire imports only
    // src/core; the client library imports src/wire and src/core, never the server's shell.
    files: ['src/wire/**/*.ts', 'src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/server/*'], message: 'src/wire and src/client never import src/server: the shared formats live in src/wire.' },
          { group: ['**/cli/*', '**/jepsen-style/*', '**/cluster/*', '**/faults/*', '**/bench/*', '**/test/*'], message: 'src/ imports only src/ and packages: the testbed and the CLI sit above it.' },
        ],
      }],
    },
  },
  {
    files: ['src/wire/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/server/*', '**/client/*'], message: 'src/wire imports only src/core: both ends of a connection import it.' },
          { group: ['**/cli/*', '**/jepsen-style/*', '**/cluster/*', '**/faults/*', '**/bench/*', '**/test/*'], message: 'src/ imports only src/ and packages: the testbed and the CLI sit above it.' },
        ],
      }],
    },
  },
  {
    // The testbed judges any system through its public ports, as a user would: never src/server.
    files: ['jepsen-style/**/*.ts', 'cluster/**/*.ts', 'faults/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/src/server/*'], message: 'the testbed reaches servers only over their ports: no src/server import.' },
          { group: ['**/cli/*'], message: 'nothing imports the CLI (the composition root).' },
        ],
      }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'net', 'os', 'path', 'child_process', 'crypto', 'timers', 'events', 'stream'], message: 'src/core is pure: no I/O modules.' },
          { group: ['../server/*', '../client/*', '../cli/*', '../../*'], message: 'src/core imports nothing outside src/core.' },
          { group: ['**/cli/*', '**/jepsen-style/*', '**/cluster/*', '**/faults/*', '**/bench/*', '**/test/*'], message: 'src/ imports only src/ and packages: the testbed and the CLI sit above it.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'Date', message: 'src/core reads no clock: time arrives as tick().' },
        { name: 'setTimeout', message: 'src/core starts no timer.' },
        { name: 'setInterval', message: 'src/core starts no timer.' },
        { name: 'setImmediate', message: 'src/core starts no timer.' },
        { name: 'queueMicrotask', message: 'src/core schedules nothing.' },
        { name: 'process', message: 'src/core does not touch the process.' },
        { name: 'performance', message: 'src/core reads no clock.' },
        { name: 'fetch', message: 'src/core does no I/O.' },
        { name: 'require', message: 'src/core is pure.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'src/core uses the injected seeded Prng.' },
        { object: 'Date', property: 'now', message: 'src/core reads no clock.' },
      ],
    },
  },
);
