//! `wasmix credentials …` and `wasmix parameters …`: Porter's credential and
//! parameter sets, stored by name (where values come from, not the values),
//! and `--credential-set` / `--parameter-set` on every action.

use super::output::print_doc;
use super::{bad_input, open_store, Cli, Failure};
use anyhow::anyhow;
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wasmix::sets::{SetKind, ValueSet};
use wasmix::store::Store;

/// `wasmix credentials …` / `wasmix parameters …`
#[derive(Subcommand)]
pub enum SetCommand {
    /// Store a set from a Porter CredentialSet/ParameterSet file (YAML or JSON)
    Apply {
        /// The file
        file: PathBuf,
    },
    /// List stored sets
    List,
    /// Print a stored set's document
    Show {
        /// Set name
        name: String,
    },
    /// Forget a stored set
    Delete {
        /// Set name
        name: String,
    },
}

fn read_file(kind: SetKind, file: &Path) -> Result<ValueSet, Failure> {
    let text =
        std::fs::read_to_string(file).map_err(|e| bad_input(anyhow!("{}: {e}", file.display())))?;
    let set = ValueSet::parse(file, &text)?;
    if set.kind != kind {
        return Err(bad_input(anyhow!(
            "{} is a {}, not a {}",
            file.display(),
            set.kind.schema_type(),
            kind.schema_type()
        )));
    }
    Ok(set)
}

fn stored(store: &Store, kind: SetKind, name: &str) -> Result<ValueSet, Failure> {
    let doc = store.set(kind.as_str(), name)?.ok_or_else(|| {
        bad_input(anyhow!(
            "no {} set named {name:?} and no such file; see `wasmix {} list`",
            kind.as_str(),
            kind.entries_key()
        ))
    })?;
    Ok(ValueSet::parse(Path::new(name), &doc)?)
}

/// Run a set subcommand for `kind`.
pub fn run(cli: &Cli, kind: SetKind, c: &SetCommand) -> Result<u8, Failure> {
    let mut store = open_store(cli)?;
    let json = cli.output.is_structured();
    match c {
        SetCommand::Apply { file } => {
            let set = read_file(kind, file)?;
            store.put_set(kind.as_str(), &set.name, &set.document)?;
            if json {
                print_doc(&set)?;
            } else {
                println!(
                    "applied {} set {} ({} entries)",
                    kind.as_str(),
                    set.name,
                    set.entries.len()
                );
            }
        }
        SetCommand::List => {
            let all = store.sets(kind.as_str())?;
            if json {
                let docs: Vec<_> = all
                    .iter()
                    .map(|(n, m)| serde_json::json!({"name": n, "modified": m}))
                    .collect();
                print_doc(&docs)?;
            } else if all.is_empty() {
                println!("no {} sets", kind.as_str());
            } else {
                println!("{:<32} MODIFIED", "NAME");
                for (n, m) in all {
                    println!("{n:<32} {m}");
                }
            }
        }
        SetCommand::Show { name } => {
            let set = stored(&store, kind, name)?;
            if json {
                print_doc(&set)?;
            } else {
                print!("{}", set.document);
            }
        }
        SetCommand::Delete { name } => {
            if !store.delete_set(kind.as_str(), name)? {
                return Err(bad_input(anyhow!(
                    "no {} set named {name:?}",
                    kind.as_str()
                )));
            }
            println!("deleted {} set {name}", kind.as_str());
        }
    }
    Ok(0)
}

/// The values of the sets named on the command line, in order (a later set
/// overrides an earlier one): a file when the argument has a `/` or a
/// `.yaml`/`.yml`/`.json` ending, a stored set's name otherwise.
pub fn values(
    cli: &Cli,
    kind: SetKind,
    names: &[String],
) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    if names.is_empty() {
        return Ok(out);
    }
    let store = open_store(cli)?;
    for n in names {
        // A path when it looks like one; a stored name otherwise, so a stray
        // file named like a set in the working directory is never run.
        let path = Path::new(n);
        let looks_like_path =
            n.contains('/') || [".yaml", ".yml", ".json"].iter().any(|e| n.ends_with(e));
        let set = if looks_like_path {
            read_file(kind, path)?
        } else {
            stored(&store, kind, n)?
        };
        out.extend(set.resolve()?);
    }
    Ok(out)
}
