import { describe, expect, it } from 'vitest';
import { previewOf } from '../src/views/JsonView';

describe('folded JSON preview', () => {
  it('shows the telling fields of an object first', () => {
    expect(previewOf({ description: 'x', id: 'T3', status: 'retrying', attempts: 1 })).toBe('status: "retrying", id: "T3", description: "x", attempts: 1');
  });
  it('abbreviates long strings and counts the rest', () => {
    const p = previewOf({ status: 'busy', note: 'a'.repeat(100), a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 });
    expect(p.startsWith('status: "busy", note: "aaaa')).toBe(true);
    expect(p.endsWith(', …')).toBe(true);
  });
  it('counts arrays and nested-only objects', () => {
    expect(previewOf([1, 2, 3])).toBe('3 items');
    expect(previewOf({ a: { b: 1 } })).toBe('1 key');
  });
});
