/**
 * hash-wasm's XXH3-128 alone (`dist/xxhash128.umd.min.js`, 20 KB), imported instead of the
 * package's entry: its `main` is the UMD build of every algorithm (268 KB), which a bundle
 * would load whole. The package ships types for its entry only; this file types the one
 * function chain-hash.ts takes from the single-algorithm build (the same `createXXHash128`).
 */
declare module 'hash-wasm/dist/xxhash128.umd.min.js' {
  import type { createXXHash128 } from 'hash-wasm';
  const xxhash128: { readonly createXXHash128: typeof createXXHash128 };
  export default xxhash128;
}
