import { chatCompletionBody, chatRequestHeaders, interpretChatResponse } from '../../lambda/deliver/openai-protocol';

const msg = { rpcId: 'r', messageId: 'm', text: 'Summarise: hello', metadata: {} };
const answer = (content: unknown) => JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });

describe('OpenAI-compatible Chat Completions protocol', () => {
  test('the rendered text is the user message, after the route system prompt, with the route model', () => {
    expect(chatCompletionBody({ model: 'gpt-4o-mini', systemPrompt: 'Be brief.' }, msg)).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Summarise: hello' },
      ],
      stream: false,
    });
    expect((chatCompletionBody({ model: 'm' }, msg) as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'Summarise: hello' }]);
  });

  test('headers: JSON, and the bearer token only when given', () => {
    expect(chatRequestHeaders('tok')).toEqual({ 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer tok' });
    expect(chatRequestHeaders(undefined).authorization).toBeUndefined();
  });

  test('the answer is the first choice message content', () => {
    expect(interpretChatResponse(200, answer('the summary'))).toEqual({ kind: 'success', reply: 'the summary' });
    expect(interpretChatResponse(200, answer(null))).toEqual({ kind: 'success', reply: '' });
  });

  test.each([
    [429, 'transient', 'http_429'],
    [408, 'transient', 'http_408'],
    [500, 'transient', 'http_500'],
    [503, 'transient', 'http_503'],
    [401, 'auth', 'http_401'],
    [403, 'auth', 'http_403'],
    [402, 'budget', 'budget_exhausted'],
    [400, 'permanent', 'http_400'],
    [404, 'permanent', 'http_404'],
  ])('HTTP %i is %s (%s)', (status, cls, code) => {
    const out = interpretChatResponse(status, JSON.stringify({ error: { message: 'why', type: 't' } }));
    expect(out).toMatchObject({ kind: 'failure', failure: cls, code });
    if (out.kind === 'failure') expect(out.message).toContain('why');
  });

  test('429 honours Retry-After; a lockout 429 is an auth failure', () => {
    expect(interpretChatResponse(429, '{}', '2')).toMatchObject({ failure: 'transient', retryAfterMs: 2000 });
    expect(interpretChatResponse(429, 'Too many failed authentication attempts', null)).toMatchObject({ failure: 'auth', code: 'auth_lockout' });
  });

  test('malformed answers: non-JSON 200 is transient, a JSON answer without choices permanent, a refusal permanent', () => {
    expect(interpretChatResponse(200, '<html>')).toMatchObject({ failure: 'transient', code: 'malformed_reply' });
    expect(interpretChatResponse(200, '{"choices":[]}')).toMatchObject({ failure: 'permanent', code: 'malformed_reply' });
    expect(interpretChatResponse(200, '[1]')).toMatchObject({ failure: 'permanent', code: 'malformed_reply' });
    expect(interpretChatResponse(200, JSON.stringify({ choices: [{ message: { content: null, refusal: 'no' } }] }))).toMatchObject({ failure: 'permanent', code: 'model_refusal' });
    expect(interpretChatResponse(200, answer(42))).toMatchObject({ failure: 'permanent', code: 'malformed_reply' });
  });
});
