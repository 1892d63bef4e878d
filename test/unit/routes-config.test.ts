import { parseRoutes, parseRoutesText, RouteConfigError } from '../../lambda/config/routes';

const base = { name: 'orders', topic_pattern: 'orders', prompt_id: 'agent-1' };

/** The RouteConfigError message for `json`; fails the test when parsing succeeds or throws anything else. */
function problem(json: unknown, source?: string): string {
  try {
    parseRoutes(json, source);
  } catch (e) {
    expect(e).toBeInstanceOf(RouteConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a RouteConfigError');
}

describe('parseRoutes: valid configurations', () => {
  test('a full example maps every field, lists normalised', () => {
    const [r] = parseRoutes([
      {
        name: 'vip-orders',
        description: 'Gold customers go to the concierge agent',
        topic_pattern: 'orders.*',
        prompt_id: 'concierge',
        header_match: { 'event-type': 'order.created', source: ['web', 'app'] },
        field_match: { 'customer.tier': 'gold', 'items.0.qty': [1, 2], express: true, coupon: null },
        transform_template: 'Order {id} from {$topic}',
        on_missing: 'fail',
        on_oversize: 'truncate',
        a2a_version: '1.0',
        url: 'https://agents.example.com/a2a/concierge',
        timeout_seconds: 120,
      },
    ]);
    expect(r).toEqual({
      name: 'vip-orders',
      topicPattern: 'orders.*',
      agentId: 'concierge',
      headerMatch: { 'event-type': ['order.created'], source: ['web', 'app'] },
      fieldMatch: { 'customer.tier': ['gold'], 'items.0.qty': [1, 2], express: [true], coupon: [null] },
      template: 'Order {id} from {$topic}',
      onMissing: 'fail',
      onOversize: 'truncate',
      a2aVersion: '1.0',
      url: 'https://agents.example.com/a2a/concierge',
      timeoutSeconds: 120,
      target: 'a2a',
      mode: 'message',
      onGiveUp: 'cancel',
    });
  });

  test('defaults: on_missing keep, on_oversize dead_letter, a2a_version 0.3, optional fields undefined', () => {
    const [r] = parseRoutes([base]);
    expect(r).toEqual({
      name: 'orders',
      topicPattern: 'orders',
      agentId: 'agent-1',
      headerMatch: undefined,
      fieldMatch: undefined,
      template: undefined,
      onMissing: 'keep',
      onOversize: 'dead_letter',
      a2aVersion: '0.3',
      url: undefined,
      timeoutSeconds: undefined,
      target: 'a2a',
      mode: 'message',
      onGiveUp: 'cancel',
    });
  });

  test('agent_id is an alias of prompt_id', () => {
    const [r] = parseRoutes([{ name: 'a', topic_pattern: 't', agent_id: 'agent-via-alias' }]);
    expect(r.agentId).toBe('agent-via-alias');
  });

  test('prompt_id and agent_id together are accepted when equal', () => {
    expect(parseRoutes([{ ...base, agent_id: 'agent-1' }])[0].agentId).toBe('agent-1');
  });

  test('several routes keep their order', () => {
    const rs = parseRoutes([
      { ...base, name: 'first' },
      { ...base, name: 'second', topic_pattern: '/^x$/' },
      { ...base, name: 'third', topic_pattern: 'a?*' },
    ]);
    expect(rs.map((r) => r.name)).toEqual(['first', 'second', 'third']);
  });

  test('http and https urls with ports and paths are accepted', () => {
    expect(parseRoutes([{ ...base, url: 'http://localhost:9000/a2a' }])[0].url).toBe('http://localhost:9000/a2a');
    expect(parseRoutes([{ ...base, url: 'https://10.0.0.5:8443/x?y=1' }])[0].url).toBe('https://10.0.0.5:8443/x?y=1');
  });

  test('timeout_seconds accepts fractions and the 900 s maximum', () => {
    expect(parseRoutes([{ ...base, timeout_seconds: 0.5 }])[0].timeoutSeconds).toBe(0.5);
    expect(parseRoutes([{ ...base, timeout_seconds: 900 }])[0].timeoutSeconds).toBe(900);
  });

  test('parseRoutesText parses JSON text', () => {
    expect(parseRoutesText(JSON.stringify([base]))).toEqual(parseRoutes([base]));
  });
});

describe('parseRoutes: invalid configurations name the route and the field', () => {
  test('missing prompt_id (and no agent_id)', () => {
    const m = problem([{ name: 'orders', topic_pattern: 'orders' }]);
    expect(m).toBe('routes is invalid:\n  - route 0 ("orders"): field "prompt_id": is required (or its alias agent_id)');
  });

  test('the index counts from 0 and points at the bad route only', () => {
    const m = problem([base, { name: 'second', topic_pattern: 'x' }]);
    expect(m).toContain('route 1 ("second"): field "prompt_id"');
    expect(m).not.toContain('route 0');
  });

  test('prompt_id and agent_id that differ conflict', () => {
    expect(problem([{ ...base, agent_id: 'other' }])).toContain('route 0 ("orders"): field "agent_id": conflicts with prompt_id');
  });

  test('an unknown field is named (typos are not silently ignored)', () => {
    const m = problem([{ ...base, promt_id: 'x', topic: 'y' }]);
    expect(m).toContain('route 0 ("orders"): field "(route)": unknown field(s) promt_id (did you mean prompt_id?), topic');
  });

  test.each([
    ['not a URL', 'agents.example.com'],
    ['a non-http scheme', 'ftp://agents.example.com/a2a'],
    ['a relative path', '/a2a'],
  ])('a bad url (%s)', (_label, url) => {
    expect(problem([{ ...base, url }])).toContain('route 0 ("orders"): field "url": must be an absolute http(s) URL');
  });

  test.each([
    [-5, 'must be a positive number of seconds'],
    [0, 'must be a positive number of seconds'],
    [901, 'must be at most 900 (the Lambda maximum)'],
  ])('timeout_seconds %p', (timeout_seconds, msg) => {
    expect(problem([{ ...base, timeout_seconds }])).toContain(`route 0 ("orders"): field "timeout_seconds": ${msg}`);
  });

  test('timeout_seconds as a string is a type error on that field', () => {
    expect(problem([{ ...base, timeout_seconds: '30' }])).toMatch(/route 0 \("orders"\): field "timeout_seconds": .*expected number/);
  });

  test('a bad regex topic pattern', () => {
    expect(problem([{ ...base, topic_pattern: '/orders(/' }])).toMatch(/route 0 \("orders"\): field "topic_pattern": is not a valid regex: .*Unterminated group/);
  });

  test('duplicate names name both routes', () => {
    const m = problem([base, { ...base, topic_pattern: 'other' }]);
    expect(m).toBe('routes is invalid:\n  - route 1 ("orders"): field "name": duplicates route 0; route names must be unique');
  });

  test('the third copy of a name points at the latest earlier one', () => {
    const m = problem([base, { ...base, name: 'x' }, base, base]);
    expect(m).toContain('route 2 ("orders"): field "name": duplicates route 0');
    expect(m).toContain('route 3 ("orders"): field "name": duplicates route 2');
  });

  test.each([
    ['an object', { routes: [base] }, 'got object'],
    ['null', null, 'got null'],
    ['a string', 'orders', 'got string'],
    ['a number', 3, 'got number'],
  ])('not an array (%s)', (_label, json, got) => {
    expect(problem(json)).toBe(`routes: must be a JSON array of routes, ${got}`);
  });

  test('an empty array', () => {
    expect(problem([])).toBe('routes: must contain at least one route');
  });

  test('the source label prefixes the message', () => {
    expect(problem([], 'ROUTES_CONFIG')).toBe('ROUTES_CONFIG: must contain at least one route');
    expect(problem([{ name: 'a', topic_pattern: 't' }], 'ROUTES_CONFIG_FILE (/etc/routes.json)')).toMatch(/^ROUTES_CONFIG_FILE \(\/etc\/routes.json\) is invalid:/);
  });

  test('a route that is not an object, and one without a name, are labelled by index only', () => {
    const m = problem([5, { topic_pattern: 't', prompt_id: 'p' }]);
    expect(m).toMatch(/route 0: field "\(route\)": .*expected object/);
    expect(m).toMatch(/route 1: field "name": .*expected string/);
  });

  test.each([
    ['name', { name: '' }],
    ['topic_pattern', { topic_pattern: '' }],
    ['prompt_id', { prompt_id: '' }],
  ])('an empty %s', (field, patch) => {
    expect(problem([{ ...base, ...patch }])).toContain(`field "${field}": must be a non-empty string`);
  });

  test.each([
    ['on_missing', 'skip', /"keep"\|"empty"\|"fail"/],
    ['on_oversize', 'drop', /"dead_letter"\|"truncate"/],
    ['a2a_version', '2.0', /"0.3"\|"1.0"/],
  ])('an invalid enum value for %s lists the options', (field, value, options) => {
    const m = problem([{ ...base, [field]: value }]);
    expect(m).toContain(`route 0 ("orders"): field "${field}": `);
    expect(m).toMatch(options);
  });

  test('header_match with an empty list, and field_match with an object value, name the nested key', () => {
    const m = problem([{ ...base, header_match: { 'event-type': [] }, field_match: { 'customer.tier': { eq: 'gold' } } }]);
    expect(m).toContain('route 0 ("orders"): field "header_match.event-type": ');
    expect(m).toContain('route 0 ("orders"): field "field_match.customer.tier": ');
  });

  test('header_match values must be strings', () => {
    expect(problem([{ ...base, header_match: { n: 3 } }])).toContain('field "header_match.n"');
  });

  test('every problem of every route is listed at once', () => {
    const m = problem([
      { name: 'a', topic_pattern: 't' },
      { ...base, name: 'b', url: 'nope', timeout_seconds: -1 },
    ]);
    const lines = m.split('\n').slice(1);
    expect(lines).toHaveLength(3);
    expect(m).toContain('route 0 ("a"): field "prompt_id"');
    expect(m).toContain('route 1 ("b"): field "url"');
    expect(m).toContain('route 1 ("b"): field "timeout_seconds"');
  });

  test('RouteConfigError is a named Error', () => {
    const e = new RouteConfigError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('RouteConfigError');
  });
});

describe('parseRoutesText', () => {
  test.each([['[{'], ['not json'], [''], ["[{'name': 'a'}]"]])('invalid JSON text %p is a RouteConfigError naming the source', (text) => {
    expect(() => parseRoutesText(text, 'ROUTES_CONFIG')).toThrow(RouteConfigError);
    expect(() => parseRoutesText(text, 'ROUTES_CONFIG')).toThrow(/^ROUTES_CONFIG: not valid JSON: /);
  });

  test('valid JSON with invalid content is validated like parseRoutes', () => {
    expect(() => parseRoutesText('{}', 'ROUTES_CONFIG')).toThrow('ROUTES_CONFIG: must be a JSON array of routes, got object');
    expect(() => parseRoutesText('[{"name":"a","topic_pattern":"t"}]')).toThrow(/route 0 \("a"\): field "prompt_id"/);
  });
});

describe('value_format / key_format', () => {
  const base = { name: 'r', topic_pattern: 't', prompt_id: 'a' };
  test('parsed into the route, framing auto by default', () => {
    const [r] = parseRoutes([{ ...base, value_format: { type: 'avro', schema_file: 'schemas/o.avsc', writer_schemas: { '1': 'schemas/o1.avsc' } } }]);
    expect(r.valueFormat).toEqual({ type: 'avro', schemaFile: 'schemas/o.avsc', framing: 'auto', messageType: undefined, writerSchemas: { '1': 'schemas/o1.avsc' } });
    expect(r.keyFormat).toBeUndefined();
  });
  test.each([
    [{ type: 'protobuf', schema_file: 'p.proto' }, 'field "value_format.message_type": is required for protobuf'],
    [{ type: 'avro', schema_file: 'o.avsc', message_type: 'x.Y' }, 'field "value_format.message_type": is for protobuf only'],
    [{ type: 'protobuf', schema_file: 'p.proto', message_type: 'x.Y', writer_schemas: { '1': 'a' } }, 'field "value_format.writer_schemas": is for avro only'],
    [{ type: 'avro', schema_file: '../o.avsc' }, 'field "value_format.schema_file": must be a path relative to the routes file, without ".."'],
    [{ type: 'avro', schema_file: '/etc/o.avsc' }, 'field "value_format.schema_file": must be a path relative to the routes file'],
    [{ type: 'json', schema_file: 'o.avsc' }, 'field "value_format.type"'],
  ])('%j is refused', (format, message) => {
    expect(() => parseRoutes([{ ...base, value_format: format }])).toThrow(message);
  });
});

describe('route options: OpenAI-compatible targets, per-agent limits, header allow-lists', () => {
  test('an OpenAI-compatible target with model and system prompt, limits and header allow-lists', () => {
    const [r] = parseRoutes([
      { ...base, target: 'openai', model: 'gpt-4o-mini', system_prompt: 'Be brief.', max_in_flight: 2, rate_per_second: 0.5, metadata_headers: ['tenant'], forward_headers: ['x-tenant'] },
    ]);
    expect(r).toMatchObject({ target: 'openai', model: 'gpt-4o-mini', systemPrompt: 'Be brief.', maxInFlight: 2, ratePerSecond: 0.5, metadataHeaders: ['tenant'], forwardHeaders: ['x-tenant'] });
  });

  test.each([
    [{ target: 'openai' }, 'field "model": is required for target "openai"'],
    [{ model: 'm' }, 'field "model": is for target "openai" only'],
    [{ system_prompt: 's' }, 'field "system_prompt": is for target "openai" only'],
    [{ target: 'grpc' }, 'field "target"'],
    [{ max_in_flight: 0 }, 'field "max_in_flight": must be at least 1'],
    [{ max_in_flight: 1.5 }, 'field "max_in_flight"'],
    [{ rate_per_second: 0 }, 'field "rate_per_second": must be a positive number'],
    [{ forward_headers: ['bad header'] }, 'must be a valid HTTP header name'],
    [{ forward_headers: ['Authorization'] }, '"Authorization" is set by the bridge itself'],
    [{ forward_headers: ['traceparent'] }, '"traceparent" is set by the bridge itself'],
  ])('%j is refused: %s', (extra, message) => {
    expect(problem([{ ...base, ...extra }])).toContain(message);
  });
});

describe('parseRoutes: task mode, give-up and conversations (docs/TASKS.md)', () => {
  test('mode "task" on an A2A 1.0 route, on_give_up and conversation are read', () => {
    const [r] = parseRoutes([{ ...base, a2a_version: '1.0', mode: 'task', on_give_up: 'leave', conversation: 'key' }]);
    expect(r).toMatchObject({ mode: 'task', onGiveUp: 'leave', conversation: 'key' });
  });

  test('mode "task" on an A2A 0.3 route is refused: it needs A2A 1.0', () => {
    expect(problem([{ ...base, mode: 'task' }])).toContain('route 0 ("orders"): field "mode": "task" needs a2a_version "1.0"');
  });

  test('mode "task" on an OpenAI route is refused', () => {
    expect(problem([{ ...base, target: 'openai', model: 'gpt-4o', mode: 'task' }])).toContain('field "mode": "task" needs a2a_version "1.0"');
  });

  test('unknown values are refused with the allowed ones', () => {
    const msg = problem([{ ...base, mode: 'stream', on_give_up: 'ignore', conversation: 'topic' }]);
    expect(msg).toMatch(/field "mode": .*"message".*"task"/);
    expect(msg).toMatch(/field "on_give_up": .*"cancel".*"leave"/);
    expect(msg).toMatch(/field "conversation": .*"key"/);
  });

  test('conversation and on_give_up are for A2A targets only', () => {
    const msg = problem([{ ...base, target: 'openai', model: 'gpt-4o', conversation: 'key', on_give_up: 'leave' }]);
    expect(msg).toContain('field "conversation": is for A2A targets only');
    expect(msg).toContain('field "on_give_up": is for A2A targets only');
  });
});
