//! `wasmix registry login`: credentials in Docker's config.json.

use super::{registry, Cli, Failure};
use anyhow::anyhow;
use clap::Subcommand;

/// `wasmix registry …`
#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Save credentials for a registry in Docker's config.json
    Login {
        /// Registry host[:port]
        registry: String,
        /// User name
        #[arg(long, short)]
        username: String,
        /// Read the password from standard input
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Run a `registry` subcommand.
pub fn run(cli: &Cli, c: &RegistryCommand) -> Result<u8, Failure> {
    let RegistryCommand::Login {
        registry: host,
        username,
        password_stdin: _,
    } = c;
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    let reg = registry(cli)?;
    reg.check_login(host, username, password)?;
    let path = reg
        .config()
        .docker_config
        .clone()
        .ok_or_else(|| anyhow!("no Docker config path: set HOME or DOCKER_CONFIG"))?;
    wasmix::oci::client::save_login(&path, host, username, password)?;
    if cli.output == super::Format::Json {
        println!(
            "{}",
            serde_json::json!({"registry": host, "username": username, "config": path})
        );
    } else {
        println!(
            "login succeeded; credentials for {host} saved in {}",
            path.display()
        );
    }
    Ok(0)
}
