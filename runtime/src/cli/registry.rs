//! `wasmix registry login | logout`: credentials where Docker keeps them
//! (its `config.json`, or the credential helper it names).

use super::{bad_input, registry, Cli, Failure};
use anyhow::anyhow;
use clap::Subcommand;
use std::io::IsTerminal;

/// `wasmix registry …`
#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Check credentials against a registry, then save them as Docker does
    Login {
        /// Registry host[:port]
        registry: String,
        /// User name
        #[arg(long, short)]
        username: String,
        /// Read the password from standard input (otherwise it is asked for, not echoed)
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the saved credentials for a registry
    Logout {
        /// Registry host[:port]
        registry: String,
    },
}

/// Run a `registry` subcommand.
pub fn run(cli: &Cli, c: &RegistryCommand) -> Result<u8, Failure> {
    let reg = registry(cli)?;
    let path = reg
        .config()
        .docker_config
        .clone()
        .ok_or_else(|| anyhow!("no Docker config path: set HOME or DOCKER_CONFIG"))?;
    match c {
        RegistryCommand::Login {
            registry: host,
            username,
            password_stdin,
        } => {
            let password = if *password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                zeroize::Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string())
            } else if std::io::stdin().is_terminal() {
                zeroize::Zeroizing::new(rpassword::prompt_password(format!(
                    "password for {username} at {host}: "
                ))?)
            } else {
                return Err(bad_input(anyhow!(
                    "no terminal to ask for the password: pipe it with --password-stdin"
                )));
            };
            reg.check_login(host, username, &password)?;
            let place = wasmix::oci::credentials::store(&path, host, username, &password)?;
            if cli.output.is_structured() {
                super::output::print_doc(
                    &serde_json::json!({"registry": host, "username": username, "stored": place}),
                )?;
            } else {
                println!("login succeeded; credentials for {host} saved in {place}");
            }
        }
        RegistryCommand::Logout { registry: host } => {
            if !wasmix::oci::credentials::erase(&path, host)? {
                return Err(bad_input(anyhow!(
                    "no credentials for {host} in {}",
                    path.display()
                )));
            }
            if cli.output.is_structured() {
                super::output::print_doc(&serde_json::json!({"registry": host, "removed": true}))?;
            } else {
                println!("removed the credentials for {host}");
            }
        }
    }
    Ok(0)
}
