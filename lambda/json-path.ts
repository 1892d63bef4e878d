// Dot-path lookup shared by field_match (route) and placeholders (render): `customer.tier`, `items.0.sku`.

/** Splits once at config time; lookups then walk the parts without reparsing. */
export const splitPath = (path: string): string[] => path.split('.');

/** Returns undefined when any step is missing; arrays are indexed by decimal position. */
export function getPath(root: unknown, parts: readonly string[]): unknown {
  let cur: unknown = root;
  for (const part of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(part)) return undefined;
      cur = cur[Number(part)];
    } else {
      if (!Object.hasOwn(cur, part)) return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
  }
  return cur;
}
