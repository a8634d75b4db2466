import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'models/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', performance: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The learning cores are pure maths over plain data and tensors (../shared/STYLE.md): no web framework,
    // metrics, image codec, validation, logging or database; adapters at the edge do the I/O.
    files: ['src/bandit/**/*.ts', 'src/attention/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['express', 'prom-client', 'sharp', 'ajv', 'ajv-formats', 'pino', 'better-sqlite3', 'pg', 'busboy', 'raw-body', 'content-type']
          .map((name) => ({ name, message: 'The learning cores import no framework or I/O library: put it in an adapter outside src/bandit and src/attention.' })),
        patterns: [{ group: ['**/http/**', '**/store/**', '**/decisions/**', '**/images/**', '**/app.js', '**/capability.js'], message: 'The learning cores do not import the service around them.' }],
      }],
    },
  },
);
