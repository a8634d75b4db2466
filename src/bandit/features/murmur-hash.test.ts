import assert from 'node:assert/strict';
import { test } from 'node:test';
import { murmurHash3 } from './murmur-hash.js';

test('MurmurHash3 x86_32 matches the reference vectors', () => {
  assert.equal(murmurHash3('', 0), 0);
  assert.equal(murmurHash3('', 1), 0x514e28b7);
  assert.equal(murmurHash3('hello', 0), 0x248bfa47);
  assert.equal(murmurHash3('The quick brown fox jumps over the lazy dog', 0x9747b28c), 0x2fa826cd);
  // Tails of 1, 2 and 3 bytes.
  assert.equal(murmurHash3('a', 0x9747b28c), 0x7fa09ea6);
  assert.equal(murmurHash3('aa', 0x9747b28c), 0x5d211726);
  assert.equal(murmurHash3('aaa', 0x9747b28c), 0x283e0130);
  assert.equal(murmurHash3('aaaa', 0x9747b28c), 0x5a97808a);
});

test('non-ASCII strings hash their UTF-8 bytes', () => {
  // "ü" is C3 BC in UTF-8; a 4-byte code point must not collide with its surrogate halves.
  assert.notEqual(murmurHash3('ü'), murmurHash3('u'));
  assert.equal(murmurHash3('😀'), murmurHash3('\ud83d\ude00'));
  assert.equal(murmurHash3('Grüße', 7), murmurHash3('Grüße', 7));
});
