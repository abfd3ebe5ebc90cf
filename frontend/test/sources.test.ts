import { describe, expect, it } from 'vitest';
import { sourceClass, sourceStyle } from '../src/model/sources';

describe('session source', () => {
  it('labels the known producers', () => {
    expect(sourceStyle('otlp').label).toBe('OTLP');
    expect(sourceStyle('sdk-python').label).toBe('SDK · py');
    expect(sourceStyle('import').label).toBe('import');
  });

  it('treats a missing source as NATS and shows an unknown token as it is', () => {
    expect(sourceStyle(undefined).label).toBe('NATS');
    expect(sourceStyle('  ').label).toBe('NATS');
    expect(sourceStyle('my-bridge').label).toBe('my-bridge');
  });

  it('makes any token safe as a class name', () => {
    expect(sourceClass('otlp')).toBe('source-otlp');
    expect(sourceClass('a b"<x>')).toBe('source-a_b__x_');
    expect(sourceClass(null)).toBe('source-nats');
  });
});
