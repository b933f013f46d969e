// The wasmix mixin SDK for JavaScript.
//
// A mixin is a WASI component built with componentize-js (jco) against
// `wit/mixin.wit`. This module is the JavaScript face of that contract, as
// small as the Rust SDK (`mixins-wasm/sdk`):
//
// - `mixin({ info, lint, execute })` returns the world's exports; spread them
//   into your module's exports: `export const { describe, lint, execute } = mixin({...})`.
//   Throw `Failure` (or anything) to fail a step.
// - `parseStep(json)`: the step body as an object.
// - `Command`: run a program (or a container) through the host driver, which
//   checks it against the step's grant; `envSecret` passes a credential by
//   handle, never by value.
// - `credential(name)` / `reveal(secret)`: a handle, and its bytes when the
//   step was granted read access.
// - `log`: lines for the operator, masked by the host.
// - `output(name, value, sensitive)`: one value the step produced.
//
// Build: `mixin build DIR` (or: bundle this file with your mixin, then
// `componentize-js mixin.js --wit wit -n mixin -o mixin.wasm`).

import { emit } from 'wasmix:mixin/log@0.1.0';
import { get, reveal as revealSecret } from 'wasmix:mixin/credentials@0.1.0';
import { run } from 'wasmix:mixin/driver@0.1.0';

/** Why a step failed: a message for the operator and, when a command failed, its exit code. */
export class Failure extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

// An imported function returning result<_, E> throws; E is the `payload`.
function unwrap(f, what) {
  try {
    return f();
  } catch (e) {
    const why = e && e.payload !== undefined ? e.payload : String(e);
    throw new Failure(what ? `${what}: ${why}` : String(why));
  }
}

/** The step body (JSON, templates already rendered) as an object. */
export function parseStep(step) {
  let value;
  try {
    value = JSON.parse(step);
  } catch (e) {
    throw new Failure(`the step is not JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Failure('the step must be a mapping');
  }
  return value;
}

/** One output; a sensitive one is masked everywhere and stored sealed. */
export function output(name, value, sensitive = false) {
  return { name, value: String(value), sensitive };
}

/** A handle for credential `name`; fails unless the step was granted it. */
export function credential(name) {
  return unwrap(() => get(name));
}

/** The credential's bytes; fails unless the step may read it. */
export function reveal(secret) {
  return unwrap(() => revealSecret(secret));
}

/** Log lines for the operator; the host masks every secret in them. */
export const log = {
  trace: (m) => emit('trace', m),
  debug: (m) => emit('debug', m),
  info: (m) => emit('info', m),
  warn: (m) => emit('warn', m),
  error: (m) => emit('error', m),
};

const decoder = new TextDecoder();

/** A program to run through the host driver, built step by step. */
export class Command {
  constructor(program) {
    this.program = program;
    this._args = [];
    this._env = [];
    this._workdir = undefined;
    this._stdin = undefined;
    this._image = undefined;
    this._mounts = [];
  }
  arg(a) { this._args.push(String(a)); return this; }
  args(list) { for (const a of list) this._args.push(String(a)); return this; }
  env(key, value) { this._env.push([key, { tag: 'text', val: String(value) }]); return this; }
  /** Set `key` to a credential the host substitutes; the mixin never holds it. */
  envSecret(key, secret) { this._env.push([key, { tag: 'secret', val: secret }]); return this; }
  workdir(dir) { this._workdir = dir; return this; }
  stdin(data) { this._stdin = typeof data === 'string' ? new TextEncoder().encode(data) : data; return this; }
  /** Run in this container image (undefined keeps the driver's native mode). */
  image(image) { this._image = image || undefined; return this; }
  mount(source, target, readOnly = true) { this._mounts.push({ source, target, readOnly }); return this; }
  display() { return [this.program, ...this._args].join(' '); }

  /** Run to completion; a non-zero exit is a result, not a failure. */
  run() {
    const done = unwrap(() => run({
      program: this.program,
      args: this._args,
      env: this._env,
      workdir: this._workdir,
      stdin: this._stdin,
      image: this._image,
      mounts: this._mounts,
    }), this.display());
    return {
      exitCode: done.exitCode,
      stdout: done.stdout,
      stderr: done.stderr,
      stdoutText: () => decoder.decode(done.stdout),
      stderrText: () => decoder.decode(done.stderr),
    };
  }

  /** Run, log what the command printed to stdout, and fail the step when it exits non-zero (as the Rust SDK's `run_checked`). */
  runChecked() {
    const done = this.run();
    if (done.stdout.length > 0) log.info(done.stdoutText().trimEnd());
    if (done.exitCode !== 0) {
      const detail = done.stderrText().trim();
      throw new Failure(`${this.display()} exited with ${done.exitCode}${detail ? `: ${detail}` : ''}`, done.exitCode);
    }
    return done;
  }
}

/**
 * The world's exports from a mixin's `info()`, `lint(action, step)` and
 * `execute(invocation)`. A thrown `Failure` (or any error) fails the step
 * with its message instead of trapping.
 */
export function mixin({ info, lint, execute }) {
  const describeError = (e) => `${e && e.name ? e.name : 'Error'}: ${e && e.message ? e.message : e}`;
  // An exit code the contract can carry (s32), else none.
  const exitCode = (c) => (Number.isInteger(c) && c >= -(2 ** 31) && c < 2 ** 31 ? c : undefined);
  return {
    describe: () => info(),
    lint: (action, step) => {
      try {
        const found = lint ? lint(action, step) : [];
        return Array.isArray(found) ? found : [];
      } catch (e) {
        // A broken lint is a finding, not a trap.
        return [{ code: 'lint-failed', severity: 'error', message: `lint failed: ${describeError(e)}`, path: '' }];
      }
    },
    execute: (invocation) => {
      try {
        if (!execute) throw new Failure('this mixin does not define execute()');
        return execute(invocation);
      } catch (e) {
        const message = e instanceof Failure ? e.message : describeError(e);
        // componentize-js turns a thrown value into `err(payload)`.
        throw { payload: { message, exitCode: e instanceof Failure ? exitCode(e.exitCode) : undefined } };
      }
    },
  };
}
