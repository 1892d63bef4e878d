import { getPath, splitPath } from '../../lambda/json-path';

describe('getPath', () => {
  const doc = { customer: { tier: 'gold', tags: ['a', 'b'] }, items: [{ sku: 'X1' }], zero: 0, nothing: null };

  test.each([
    ['customer.tier', 'gold'],
    ['items.0.sku', 'X1'],
    ['customer.tags.1', 'b'],
    ['zero', 0],
    ['nothing', null],
  ])('%s -> %p', (path, value) => {
    expect(getPath(doc, splitPath(path))).toEqual(value);
  });

  test.each([
    ['a missing key', 'customer.name'],
    ['a step through a scalar', 'customer.tier.length'],
    ['a step through null', 'nothing.x'],
    ['an index out of range', 'items.5'],
    ['a non-decimal index', 'items.01'],
    ['a named property of an array', 'items.length'],
    ['an inherited property', 'customer.toString'],
    ['__proto__', '__proto__'],
  ])('%s is undefined', (_label, path) => {
    expect(getPath(doc, splitPath(path))).toBeUndefined();
  });

  test('the empty path is the root', () => {
    expect(getPath(doc, [])).toBe(doc);
  });
});
