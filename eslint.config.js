// Lint: neostandard (the style the code is written in: no semicolons, space before parentheses) for
// TypeScript, plus the rules of hooks wherever React components live.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'
import reactHooks from 'eslint-plugin-react-hooks'

export default [
  ...neostandard({ ts: true, ignores: resolveIgnoresFromGitignore() }),
  {
    rules: {
      // `void promise` marks a promise left to run on purpose (its failure is handled where it is made),
      // in statements and in arrow functions alike.
      'no-void': 'off',
      // It cannot see a condition that a callback changes across an await (`while (running) await …`
      // with `running` cleared elsewhere), which is every loop it flagged here.
      'no-unmodified-loop-condition': 'off'
    }
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      // A TypeBox schema and its type share a name (`const X = Type.Object(…)`, `type X = Static<typeof X>`);
      // TypeScript itself reports any redeclaration that is a mistake.
      '@typescript-eslint/no-redeclare': 'off'
    }
  },
  {
    files: ['lib/react/**/*.{ts,tsx}', 'examples/dashboard/**/*.{ts,tsx}', 'test/**/*.tsx'],
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules
  }
]
