"""The wasmix mixin SDK for Python.

A mixin is a WASI component built with componentize-py against
`wit/mixin.wit`. This module is the Python face of that contract, as small
as the Rust SDK (`mixins-wasm/sdk`):

- `Mixin`: subclass it as `WitWorld` in your app module; give it `info()`
  and `execute(invocation)`, and `lint(action, step)` if you check steps.
  Raise `Failure` to fail a step; any other exception fails it too, with
  its type and message.
- `parse_step(json)`: the step body as a dict.
- `Command`: run a program (or a container) through the host driver, which
  checks it against the step's grant; `env_secret` passes a credential by
  handle, never by value.
- `credential(name)` / `reveal(secret)`: a handle, and its bytes when the
  step was granted read access.
- `log`: lines for the operator, masked by the host.
- `output(name, value, sensitive=False)`: one value the step produced.

    componentize-py -d wit -w mixin componentize app -p . -p SDK_DIR -o mixin.wasm
"""

import json
import traceback
from typing import Any, Dict, List, Optional, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import credentials as _credentials
from wit_world.imports import driver as _driver
from wit_world.imports import log as _log
from wit_world.imports import types as _types

Info = _types.Info
Invocation = _types.Invocation
Diagnostic = _types.Diagnostic
Severity = _types.Severity
Output = _types.Output
Secret = _credentials.Secret

__all__ = [
    "Mixin", "Failure", "Info", "Invocation", "Diagnostic", "Severity", "Output", "Secret",
    "Command", "Completed", "parse_step", "credential", "reveal", "output", "log",
]


class Failure(Exception):
    """Why a step failed: a message for the operator, and the exit code of
    the command that failed, when there was one."""

    def __init__(self, message: str, exit_code: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _exit_code(code):
    """An exit code the contract can carry (s32), else none."""
    return code if isinstance(code, int) and -(2**31) <= code < 2**31 else None


def _wrap_execute(run):
    def execute(self, invocation):
        try:
            return run(self, invocation)
        except Failure as f:
            raise Err(_types.Failure(message=f.message, exit_code=_exit_code(f.exit_code)))
        except Exception as e:  # a bug in the mixin fails the step, not the host
            last = traceback.extract_tb(e.__traceback__)[-1:]
            where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
            raise Err(_types.Failure(message=f"{type(e).__name__}: {e}{where}", exit_code=None))

    return execute


def _wrap_lint(check):
    def lint(self, action, step):
        try:
            return list(check(self, action, step) or [])
        except Exception as e:  # a broken lint is a finding, not a trap
            return [Diagnostic(code="lint-failed", severity=Severity.ERROR,
                               message=f"lint failed: {type(e).__name__}: {e}", path="")]

    return lint


def _no_execute(self, invocation):
    raise Failure("this mixin does not define execute()")


class Mixin:
    """The world's exports, from `info()`, `lint()` and `execute()`.

    A subclass's `execute` is wrapped so that `Failure` (or any exception)
    becomes the step's failure instead of a trap; its `lint` so that an
    exception becomes an error finding."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "execute" in cls.__dict__:
            cls.execute = _wrap_execute(cls.__dict__["execute"])
        if "lint" in cls.__dict__:
            cls.lint = _wrap_lint(cls.__dict__["lint"])

    def info(self) -> Info:
        raise NotImplementedError("a mixin says what it is: define info()")

    def describe(self) -> Info:
        return self.info()

    def lint(self, action: str, step: str) -> List[Diagnostic]:
        return []

    execute = _wrap_execute(_no_execute)


def parse_step(step: str) -> Dict[str, Any]:
    """The step body (JSON, templates already rendered) as a dict."""
    try:
        value = json.loads(step)
    except ValueError as e:
        raise Failure(f"the step is not JSON: {e}")
    if not isinstance(value, dict):
        raise Failure("the step must be a mapping")
    return value


def output(name: str, value: str, sensitive: bool = False) -> Output:
    """One output; a sensitive one is masked everywhere and stored sealed."""
    return Output(name=name, value=value, sensitive=sensitive)


def credential(name: str) -> Secret:
    """A handle for credential `name`; fails unless the step was granted it."""
    try:
        return _credentials.get(name)
    except Err as e:
        raise Failure(str(e.value))


def reveal(secret: Secret) -> str:
    """The credential's bytes; fails unless the step may read it."""
    try:
        return _credentials.reveal(secret)
    except Err as e:
        raise Failure(str(e.value))


class log:
    """Log lines for the operator; the host masks every secret in them."""

    @staticmethod
    def trace(message: str) -> None:
        _log.emit(_log.Level.TRACE, message)

    @staticmethod
    def debug(message: str) -> None:
        _log.emit(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        _log.emit(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        _log.emit(_log.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        _log.emit(_log.Level.ERROR, message)


class Completed:
    """How a command ended: exit code and captured output (capped by the host)."""

    def __init__(self, done):
        self.exit_code: int = done.exit_code
        self.stdout: bytes = bytes(done.stdout)
        self.stderr: bytes = bytes(done.stderr)

    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


class Command:
    """A program to run through the host driver, built step by step:
    `Command("helm").args(["upgrade", name]).env_secret("KUBECONFIG", kube).run()`."""

    def __init__(self, program: str):
        self._program = program
        self._args: List[str] = []
        self._env: List[Tuple[str, Union[str, Secret]]] = []
        self._workdir: Optional[str] = None
        self._stdin: Optional[bytes] = None
        self._image: Optional[str] = None
        self._mounts: List[_driver.Mount] = []

    def arg(self, arg: str) -> "Command":
        self._args.append(arg)
        return self

    def args(self, args: List[str]) -> "Command":
        self._args.extend(args)
        return self

    def env(self, key: str, value: str) -> "Command":
        self._env.append((key, value))
        return self

    def env_secret(self, key: str, secret: Secret) -> "Command":
        """Set `key` to a credential the host substitutes; the mixin never holds it."""
        self._env.append((key, secret))
        return self

    def workdir(self, directory: str) -> "Command":
        self._workdir = directory
        return self

    def stdin(self, data: bytes) -> "Command":
        self._stdin = data
        return self

    def image(self, image: Optional[str]) -> "Command":
        """Run in this container image (None keeps the driver's native mode)."""
        self._image = image
        return self

    def mount(self, source: str, target: str, read_only: bool = True) -> "Command":
        self._mounts.append(_driver.Mount(source=source, target=target, read_only=read_only))
        return self

    def display(self) -> str:
        return " ".join([self._program] + self._args)

    def run(self) -> Completed:
        """Run to completion; a non-zero exit is a result, not a failure."""
        env = [
            (k, _driver.Value_Secret(v) if isinstance(v, Secret) else _driver.Value_Text(v))
            for k, v in self._env
        ]
        command = _driver.Command(
            program=self._program,
            args=self._args,
            env=env,
            workdir=self._workdir,
            stdin=self._stdin,
            image=self._image,
            mounts=self._mounts,
        )
        try:
            return Completed(_driver.run(command))
        except Err as e:
            raise Failure(f"{self.display()}: {e.value}")

    def run_checked(self) -> Completed:
        """Run, log what the command printed to stdout, and fail the step
        when it exits non-zero (as the Rust SDK's `run_checked`)."""
        display = self.display()
        done = self.run()
        if done.stdout:
            log.info(done.stdout_text().rstrip())
        if done.exit_code != 0:
            detail = done.stderr_text().strip()
            raise Failure(
                f"{display} exited with {done.exit_code}" + (f": {detail}" if detail else ""),
                exit_code=done.exit_code,
            )
        return done
