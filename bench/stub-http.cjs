'use strict';
// An in-process stand-in for the agent, at the level of node:http's `request`: see installStubHttp.
const { randomUUID } = require('node:crypto');

/**
 * The bench child's transport 'stub' (bench/handler-child.cjs): no network at all. node:http's `request` (and
 * node:https's) is replaced by an in-process fake that answers at once with the agent's usual reply (the request's
 * JSON-RPC id, a one-line summary), so what is left is the bridge's own work: decode, route, render, ids,
 * scheduling, reply parsing, logging and metrics. Returns a function that puts the real `request` back.
 *
 * The fake covers what lambda/io/http.ts uses: `request(options)` (or with a URL and a callback) returning a request
 * with `on('response' | 'error' | 'socket')` (it never emits 'socket'), `end(payload)` and `destroy()`; the response is a Readable (so 'data', 'end', `resume()` and
 * 'error' behave as Node's) carrying `statusCode`, `headers` and `complete`. It answers on the event loop's next
 * turn (setImmediate), as a real socket's data would arrive, not within the caller's own tick. lambda/io/http.ts
 * looks `request` up on the module object at each call, and the bundle's namespace import reads the module's
 * property through a getter, so replacing the property before or after requiring the bundle is seen by it.
 */
function installStubHttp() {
  const { EventEmitter } = require('node:events');
  const { Readable } = require('node:stream');
  const ID = /^\{"jsonrpc":"2\.0","id":("(?:[^"\\]|\\.)*")/;
  const summary = JSON.stringify(`Summary: ${'x'.repeat(80)}...`);
  const reply = (payload) => {
    const id = ID.exec(Buffer.isBuffer(payload) ? payload.toString('utf8', 0, 512) : String(payload ?? ''))?.[1] ?? 'null';
    return Buffer.from(`{"jsonrpc":"2.0","id":${id},"result":{"messageId":"${randomUUID()}","role":"agent","parts":[{"kind":"text","text":${summary}}]}}`);
  };
  class FakeRequest extends EventEmitter {
    constructor(onResponse) {
      super();
      this.destroyed = false;
      if (onResponse) this.once('response', onResponse);
    }
    end(payload) {
      setImmediate(() => {
        if (this.destroyed) return;
        const body = reply(payload);
        const res = new Readable({ read() {} });
        res.statusCode = 200;
        res.statusMessage = 'OK';
        res.headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };
        res.complete = true; // Node sets it when the parser has the whole message, before 'end'
        res.push(body);
        res.push(null);
        this.emit('response', res);
      });
      return this;
    }
    destroy(err) {
      if (this.destroyed) return this;
      this.destroyed = true;
      if (err) process.nextTick(() => this.emit('error', err));
      return this;
    }
    setTimeout() {
      return this;
    }
  }
  const fakeRequest = (...args) => new FakeRequest(args.find((a) => typeof a === 'function'));
  const http = require('node:http');
  const https = require('node:https');
  const saved = [http.request, https.request];
  http.request = fakeRequest;
  https.request = fakeRequest;
  /** Puts the real `request` functions back (for tests; the bench child never does). */
  return () => {
    [http.request, https.request] = saved;
  };
}

module.exports = { installStubHttp };
