//! Building a command for the host driver.

use crate::bindings::wasmix::mixin::credentials::Secret;
use crate::bindings::wasmix::mixin::driver::{self, Value};
use crate::Failure;

/// A command to run through the host driver. The host checks it against the
/// step's grant (allowed programs or images, mounts, environment) first.
#[derive(Default)]
pub struct Command<'a> {
    program: String,
    args: Vec<String>,
    env: Vec<(String, Env<'a>)>,
    workdir: Option<String>,
    stdin: Option<Vec<u8>>,
    image: Option<String>,
    mounts: Vec<(String, String, bool)>,
}

enum Env<'a> {
    Text(String),
    Secret(&'a Secret),
}

/// How a command ended.
pub struct Completed {
    /// Exit code; non-zero is not an error by itself.
    pub exit_code: i32,
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
}

impl Completed {
    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl<'a> Command<'a> {
    /// A command running `program`.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            ..Default::default()
        }
    }
    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
    /// Append arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// Set an environment variable to plain text.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), Env::Text(value.into())));
        self
    }
    /// Set an environment variable to a credential: the host puts its value
    /// there and this component never sees it.
    pub fn env_secret(mut self, key: impl Into<String>, secret: &'a Secret) -> Self {
        self.env.push((key.into(), Env::Secret(secret)));
        self
    }
    /// Run in this directory (a granted guest path).
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }
    /// Feed these bytes to standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }
    /// Run inside this container image.
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }
    /// Run in `image` when there is one (a step's or its mixin config's
    /// `image:`), as a host command otherwise.
    pub fn image_if(self, image: Option<&str>) -> Self {
        match image {
            Some(i) => self.image(i),
            None => self,
        }
    }
    /// Mount the granted directory `source` (a guest path) at `target` in
    /// the container.
    pub fn mount(
        mut self,
        source: impl Into<String>,
        target: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.mounts.push((source.into(), target.into(), read_only));
        self
    }
    /// The program and arguments, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Run, log what the command printed to stdout, and turn a non-zero exit
    /// into a [`Failure`] naming the command, its exit code and its stderr.
    pub fn run_checked(self) -> Result<Completed, Failure> {
        let shown = self.display();
        let done = self.run()?;
        if !done.stdout.is_empty() {
            crate::log::info(done.stdout_text().trim_end());
        }
        if done.exit_code != 0 {
            return Err(Failure {
                message: format!(
                    "{shown} failed with exit code {}: {}",
                    done.exit_code,
                    done.stderr_text().trim_end()
                ),
                exit_code: Some(done.exit_code),
            });
        }
        Ok(done)
    }

    /// Run to completion through the host driver.
    pub fn run(self) -> Result<Completed, Failure> {
        let env = self
            .env
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Env::Text(t) => Value::Text(t.clone()),
                    Env::Secret(s) => Value::Secret(s),
                };
                (k.clone(), value)
            })
            .collect();
        let request = driver::Command {
            program: self.program,
            args: self.args,
            env,
            workdir: self.workdir,
            stdin: self.stdin,
            image: self.image,
            mounts: self
                .mounts
                .into_iter()
                .map(|(source, target, read_only)| driver::Mount {
                    source,
                    target,
                    read_only,
                })
                .collect(),
        };
        match driver::run(&request) {
            Ok(done) => Ok(Completed {
                exit_code: done.exit_code,
                stdout: done.stdout,
                stderr: done.stderr,
            }),
            Err(e) => Err(Failure::msg(e)),
        }
    }
}
