import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'clients/*/dist/', 'node_modules/', 'data/', 'models/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', performance: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // The learning cores are pure maths over plain data and tensors (../shared/STYLE.md): no web framework, metrics,
  // image codec, validation, logging or database, and nothing of the service around them; adapters at the edge do
  // the I/O. Written as an allow-list, so a new package or a new folder outside the core is refused until it is
  // added here on purpose: tfjs, the node built-ins the attention trainer reads files with, and the tensor backend's
  // set-up (src/platform/tensor-backend.ts). A relative import may not leave the core's folder otherwise; the regex
  // for that depends on the file's depth, hence one block per depth.
  ...[1, 2].map((depth) => ({
    files: [`src/{bandit,attention}/${'*/'.repeat(depth - 1)}*.ts`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            regex: '^(?![./]|@tensorflow/tfjs(-[a-z-]+)?$|node:(fs|fs/promises|path|url|os|module)$)',
            message: 'The learning cores import tfjs and node built-ins only: put other libraries in an adapter outside src/bandit and src/attention.',
          },
          {
            regex: `^${'\\.\\./'.repeat(depth)}(?!platform/tensor-backend\\.js$)`,
            message: 'The learning cores do not import the service around them (only src/platform/tensor-backend.js).',
          },
        ],
      }],
    },
  })),
);
