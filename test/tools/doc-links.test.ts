// The documentation holds together: every relative link in README.md and docs/*.md points to a file that
// exists, and a link to a heading (`FILE.md#anchor`, `#anchor`) to a heading that exists, with GitHub's
// anchor rules. The LICENSE is the one package.json names.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];


/** GitHub's heading anchor: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

function withoutCode(text: string): string[] {
  let fence = false;
  return text.split('\n').map((line) => {
    if (line.startsWith('```')) {
      fence = !fence;
      return '';
    }
    return fence ? '' : line.replace(/`[^`]*`/g, (m) => (m.includes('](') ? '' : m));
  });
}

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutCode(readFileSync(join(ROOT, file), 'utf8'))) {
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const s = slug(m[1]);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    out.add(n === 0 ? s : `${s}-${n}`);
  }
  return out;
}

function linksOf(file: string): string[] {
  const links: string[] = [];
  for (const line of withoutCode(readFileSync(join(ROOT, file), 'utf8'))) {
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) links.push(m[1]);
  }
  return links;
}

test('the documents exist and link to each other', () => {
  for (const f of ['README.md', 'docs/ROUTES.md', 'docs/DEPLOYMENT.md', 'docs/OPERATIONS.md', 'docs/DESIGN.md', 'docs/CONTRIBUTING.md']) {
    expect(DOCS).toContain(f);
  }
  const readmeLinks = linksOf('README.md');
  expect(DOCS.flatMap(linksOf).length).toBeGreaterThan(100);
  for (const f of DOCS.filter((d) => d !== 'README.md')) expect(readmeLinks.some((l) => l.split('#')[0] === f)).toBe(true);
});

test.each(DOCS)('every relative link in %s points to a file (and a heading) that exists', (file) => {
  const broken: string[] = [];
  for (const link of linksOf(file)) {
    if (/^[a-z]+:/i.test(link)) continue; // https:, mailto:
    const [path, anchor] = link.split('#');
    const target = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
    const name = relative(ROOT, target);
    if (!target.startsWith(ROOT)) broken.push(`${link}: outside the repository`);
    else if (!existsSync(target)) {
      broken.push(`${link}: no such file`);
    } else if (anchor !== undefined) {
      if (!statSync(target).isFile() || !name.endsWith('.md')) broken.push(`${link}: an anchor into a non-document`);
      else if (!anchorsOf(name).has(anchor)) broken.push(`${link}: no heading #${anchor} in ${name}`);
    }
  }
  expect(broken).toEqual([]);
});

test('the anchor rules are GitHub\'s', () => {
  expect(slug('First deploy: token, check, enable')).toBe('first-deploy-token-check-enable');
  expect(slug('Check a deployment: `npm run doctor`')).toBe('check-a-deployment-npm-run-doctor');
  expect(slug('3. Write the routes for your topic and agent')).toBe('3-write-the-routes-for-your-topic-and-agent');
  expect(slug('Function settings (environment variables)')).toBe('function-settings-environment-variables');
});

test('LICENSE is the Apache License 2.0 that package.json names', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
  expect(pkg.license).toBe('Apache-2.0');
  const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
  expect(text).toContain('END OF TERMS AND CONDITIONS');
  expect(text.length).toBeGreaterThan(10_000); // the full text, not a pointer to it
});
