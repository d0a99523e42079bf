/**
 * Node's built-in modules for code on the start-up path of short commands (`params get` in a script's
 * loop). `process.getBuiltinModule` hands over the module object as it is; an `import` of `node:fs`
 * first builds an ES module facade that reads every export, `fs.promises` included, which loads the
 * stream and readline modules: a few milliseconds on every run. Node before 20.16 lacks the call and
 * takes the import.
 */
type GetBuiltin = typeof process.getBuiltinModule;
const getBuiltin = (process as { getBuiltinModule?: GetBuiltin }).getBuiltinModule?.bind(process);

export const fs: typeof import('node:fs') = getBuiltin ? getBuiltin('node:fs') : (await import('node:fs')).default;

/** `node:module`, for `createRequire`: loading a CommonJS package through require skips the ESM wrapper. */
export const nodeModule: typeof import('node:module') = getBuiltin ? getBuiltin('node:module') : (await import('node:module')).default;

/** `node:crypto`, loaded on first use only: most commands never need it. */
export function crypto(): typeof import('node:crypto') {
  return getBuiltin
    ? getBuiltin('node:crypto')
    : (nodeModule.createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}
