import { expect, it } from 'vitest';
import { adapterOf, maskStoreUrl, ownerClaim, scrubPassword, storeUrlOf } from './store.js';

it('maskStoreUrl hides the password of the authority and of a password= parameter, also in text that does not parse', () => {
  expect(maskStoreUrl('postgres://app:s3cret@db:5432/jobs')).toBe('postgres://app:***@db:5432/jobs');
  expect(maskStoreUrl('postgres://app:p@ss@db/jobs')).toBe('postgres://app:***@db/jobs');
  expect(maskStoreUrl('postgresql://app@db/jobs?sslmode=require&password=s3cret&schema=x')).toBe(
    'postgresql://app@db/jobs?sslmode=require&password=***&schema=x',
  );
  expect(maskStoreUrl('postgres://app@db/jobs')).toBe('postgres://app@db/jobs');
  expect(maskStoreUrl('postgres://app:s3 cret@[bad/jobs')).not.toContain('s3 cret');
});

it('adapterOf accepts postgres:// and postgresql:// (any case) and refuses every other scheme with exit-2 error naming the masked URL', () => {
  expect(adapterOf('postgres://h/db')).toBe('postgres');
  expect(adapterOf('PostgreSQL://h/db?schema=etl')).toBe('postgres');
  for (const url of ['mysql://u:pw@h/db', 'file:///x', 'h:5432/db', 'nonsense']) {
    let error: unknown;
    try {
      adapterOf(url);
    } catch (caught) {
      error = caught;
    }
    expect((error as { code?: string }).code, url).toBe('invalid');
    expect((error as Error).message).not.toContain('pw@');
    expect((error as Error).message).toContain('postgres:// and postgresql://');
  }
});

it('storeUrlOf: --store wins over $CKPT_STORE; an empty value means files', () => {
  expect(storeUrlOf(undefined, {})).toBeUndefined();
  expect(storeUrlOf(undefined, { CKPT_STORE: 'postgres://a/b' })).toBe('postgres://a/b');
  expect(storeUrlOf('postgres://c/d', { CKPT_STORE: 'postgres://a/b' })).toBe('postgres://c/d');
  expect(storeUrlOf('', { CKPT_STORE: 'postgres://a/b' })).toBeUndefined();
  expect(storeUrlOf(undefined, { CKPT_STORE: '' })).toBeUndefined();
});

it('scrubPassword removes a quoted password (raw and decoded) from an error', () => {
  const url = 'postgres://u:p%40ss@db/x';
  const error = scrubPassword(new Error(`connect to ${url} failed: password "p@ss" rejected`), url) as Error;
  expect(error.message).not.toContain('p@ss');
  expect(error.message).not.toContain('p%40ss');
  expect(error.stack).not.toContain('p@ss');
});

it('ownerClaim takes the host from $CKPT_HOST, else the host name', () => {
  expect(ownerClaim({ CKPT_HOST: 'machine-b' })).toEqual({ host: 'machine-b', pid: process.pid });
  expect(ownerClaim({}).host.length).toBeGreaterThan(0);
});
