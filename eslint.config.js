// The habits STYLE.md asks for, checked: typescript-eslint's type-checked rules (tuned to the bugs they
// catch), and the folder boundaries: core is pure, app knows no CLI, only src/cli prints or exits, and a
// command file never imports another.
import js from '@eslint/js';
import globals from 'globals';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Folders beside src/core that do I/O; core names none of them. */
const ADAPTERS = ['store', 'providers', 'secrets', 'config', 'app', 'cli'];
/** Node modules that reach the file system, the network, other processes or threads. */
const NODE_IO = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'dgram',
  'dns',
  'dns/promises',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
  'os',
  'process',
  'tty',
  'module',
];
/** Packages that only an adapter or the CLI may load. */
const IO_PACKAGES = [
  'better-sqlite3',
  'nodemailer',
  '@github/keytar',
  'cosmiconfig',
  'execa',
  '@inquirer/prompts',
  'chalk',
  'cli-table3',
  'commander',
];
/** Packages that draw on the terminal: src/cli's alone. */
const TERMINAL_PACKAGES = ['@inquirer/prompts', 'chalk', 'cli-table3', 'commander'];

const coreIoNames = [...NODE_IO.flatMap((m) => [m, `node:${m}`]), ...IO_PACKAGES];
const coreAdapterRegex = `^(\\.\\./)+(${ADAPTERS.join('|')})(/|\\.js$|$)`;
const appCliRegex = '^(\\.\\./)+cli(/|\\.js$|$)';
const adapterUpRegex = '^(\\.\\./)+(app|cli)(/|\\.js$|$)';
const siblingCommandRegex = '^\\.(\\./commands)?/';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * `await import(...)` is how commands load lazily; the static import rule does not see it. Selector
 * regexes end at the first `/`, so a slash inside one is written \x2F.
 */
const dynamicImport = (regex, message) => ({ selector: `ImportExpression[source.value=/${regex.replace(/\//g, '\\x2F')}/]`, message });
const dynamicImportOf = (names, message) => dynamicImport(`^(${names.map(escape).join('|')})$`, message);

const CORE_ADAPTER_MSG =
  'src/core is pure: it imports no adapter (store, providers, secrets, config) and no app or cli; pass data in instead.';
const CORE_IO_MSG =
  'src/core does no I/O: take the data or a port as an argument, and leave file, network and process modules to the adapters.';
const APP_CLI_MSG = 'src/app returns data and never imports src/cli: move the shared piece down to src/app or src/core.';
const ADAPTER_UP_MSG = 'An adapter (store, providers, secrets, config) is called by src/app and src/cli, and imports neither.';
const COMMAND_MSG = 'A command file never imports another command file: move the shared code to src/cli/*.ts or src/app.';
const TERMINAL_MSG = 'Only src/cli draws on the terminal (prompts, colour, tables, commander).';

/** Outside src/cli nothing prints or ends the process: use cases return data, the CLI renders it. */
const noPrintOrExit = {
  'no-console': ['error'],
  'no-restricted-properties': [
    'error',
    ...['exit', 'exitCode', 'abort', 'stdout', 'stderr', 'stdin'].map((property) => ({
      object: 'process',
      property,
      message: `process.${property} belongs to src/cli: return data or throw a SysemailError and let the CLI print and exit.`,
    })),
  ],
};

export default defineConfig(
  globalIgnores(['dist/', 'dist-check/', 'node_modules/', 'coverage/', 'docs/', 'contrib/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The bugs worth stopping the build for.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      // text.ts's parser unwinds with a local Stop sentinel on purpose; rethrowing a caught `unknown` is allowed.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allow: [{ from: 'file', name: 'Stop', path: 'src/core/text.ts' }], allowThrowingUnknown: true },
      ],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': ['error', { destructuring: 'all' }],
      'no-throw-literal': 'off', // replaced by @typescript-eslint/only-throw-error, which knows the types

      // Switched off: they fight deliberate choices rather than catch bugs.
      // `async` functions without `await` keep one signature across ports whose implementations differ.
      '@typescript-eslint/require-await': 'off',
      // Control characters in regexes are the point of the CR/LF/NUL header checks and the ANSI matchers.
      'no-control-regex': 'off',
    },
  },
  {
    // Plain JavaScript (launcher, scripts, benchmarks, this file) is outside the TypeScript program.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      '@typescript-eslint/consistent-type-imports': 'off',
      '@typescript-eslint/switch-exhaustiveness-check': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/return-await': 'off',
      'no-throw-literal': 'error',
    },
  },
  {
    // The launcher is CommonJS on purpose (bin/package.json): it starts sooner.
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read the CLI's --json output with JSON.parse (`any`) and assert on its shape field by field.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },

  // ---- Folder boundaries (STYLE.md, "The shape") ----
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      ...noPrintOrExit,
      'no-restricted-imports': ['error', { paths: TERMINAL_PACKAGES.map((name) => ({ name, message: TERMINAL_MSG })) }],
      'no-restricted-syntax': ['error', dynamicImportOf(TERMINAL_PACKAGES, TERMINAL_MSG)],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    // builtins.ts hands node:fs and node:module to the adapters' start-up path; no core rule imports it (below).
    ignores: ['src/core/builtins.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: coreIoNames.map((name) => ({ name, message: CORE_IO_MSG })),
          patterns: [
            { regex: coreAdapterRegex, message: CORE_ADAPTER_MSG },
            { regex: '^\\./builtins\\.js$|^(\\.\\./)+builtins\\.js$', message: CORE_IO_MSG },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        dynamicImport(coreAdapterRegex, CORE_ADAPTER_MSG),
        dynamicImportOf(coreIoNames, CORE_IO_MSG),
        { selector: "CallExpression[callee.object.name='process'][callee.property.name='getBuiltinModule']", message: CORE_IO_MSG },
      ],
    },
  },
  {
    files: ['src/app/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: TERMINAL_PACKAGES.map((name) => ({ name, message: TERMINAL_MSG })),
          patterns: [{ regex: appCliRegex, message: APP_CLI_MSG }],
        },
      ],
      'no-restricted-syntax': ['error', dynamicImportOf(TERMINAL_PACKAGES, TERMINAL_MSG), dynamicImport(appCliRegex, APP_CLI_MSG)],
    },
  },
  {
    files: ['src/store/**/*.ts', 'src/providers/**/*.ts', 'src/secrets/**/*.ts', 'src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: TERMINAL_PACKAGES.map((name) => ({ name, message: TERMINAL_MSG })),
          patterns: [{ regex: adapterUpRegex, message: ADAPTER_UP_MSG }],
        },
      ],
      'no-restricted-syntax': ['error', dynamicImportOf(TERMINAL_PACKAGES, TERMINAL_MSG), dynamicImport(adapterUpRegex, ADAPTER_UP_MSG)],
    },
  },
  {
    files: ['src/cli/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: siblingCommandRegex, message: COMMAND_MSG }] }],
      'no-restricted-syntax': ['error', dynamicImport(siblingCommandRegex, COMMAND_MSG)],
    },
  },
);
