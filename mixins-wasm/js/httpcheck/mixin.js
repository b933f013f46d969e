// httpcheck: wait until a URL answers with the expected status, with a
// granted `curl` run through the host driver. A mixin written in JavaScript
// on the wasmix SDK; it reaches only what its step was granted.
//
//   - httpcheck:
//       description: Wait for the app
//       url: http://app.internal:8080/health
//       expect: 200          # default 200
//       attempts: 5          # default 1; one second apart
//       token: api-token     # optional credential (granted with read: true), sent as a bearer token
//       outputs:
//         - name: status     # the status code the last attempt got
//       grants: {commands: [curl], credentials: [{name: api-token, read: true}]}

import { Command, Failure, credential, log, mixin, output, parseStep, reveal } from '../sdk/wasmix-mixin.js';

const STEP_SCHEMA = JSON.stringify({
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    description: { type: 'string' },
    url: { type: 'string', pattern: '^https?://' },
    expect: { type: 'integer', minimum: 100, maximum: 599 },
    attempts: { type: 'integer', minimum: 1, maximum: 600 },
    token: { type: 'string' },
    outputs: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' } } },
    },
  },
});

export const { describe, lint, execute } = mixin({
  info: () => ({
    name: 'httpcheck',
    version: '0.1.0',
    summary: 'Wait until a URL answers with the expected status (through a granted curl); written in JavaScript',
    stepSchema: STEP_SCHEMA,
    configSchema: '',
  }),

  lint: (action, step) => {
    const s = parseStep(step);
    if ((s.outputs || []).length > 1) {
      return [{ code: 'httpcheck-101', severity: 'error', message: 'httpcheck has one output, the status code', path: 'outputs' }];
    }
    return [];
  },

  execute: (invocation) => {
    const step = parseStep(invocation.step);
    const expect = step.expect ?? 200;
    const attempts = step.attempts ?? 1;
    const cmd = new Command('curl').args([
      '--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code}',
      '--max-time', '10', '--retry', String(attempts - 1), '--retry-delay', '1', '--retry-connrefused',
    ]);
    if (step.token) {
      // curl reads extra headers from stdin: the value stays out of argv.
      cmd.args(['--header', '@-']).stdin(`Authorization: Bearer ${reveal(credential(step.token))}\n`);
    }
    const done = cmd.arg(step.url).run();
    const status = Number.parseInt(done.stdoutText().trim(), 10) || 0;
    log.info(`${step.url} answered ${status || 'nothing'} (expected ${expect})`);
    if (status !== expect) {
      const why = done.stderrText().trim();
      throw new Failure(`${step.url} answered ${status || 'nothing'}, expected ${expect}${why ? `: ${why}` : ''}`, done.exitCode || undefined);
    }
    return (step.outputs || []).map((o) => output(o.name, status));
  },
});
